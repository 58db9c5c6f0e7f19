// libFuzzer target for the echo answer reader (probes/echo.cc compareEcho): what
// an echo endpoint, or whatever sits on the path in front of it, answers to a
// fixed request built by buildEchoRequest.
//
// Input layout (so seeds read like an HTTP answer):
//   byte 0       bits 0-1: provider kind of the sent request;
//                bit 7: an HTTP status follows in bytes 1-2 (big endian, % 1000),
//                otherwise the status is 200
//   then         response header lines "Name: value\n" up to the first "\n\n",
//                then the body (no "\n\n": no headers, all of it is the body)
//
// Besides "never crashes" (ASan + UBSan) it checks for every input:
// - compareEcho never throws and is deterministic;
// - status, error and lists agree (fail: error and no lists; ok: no lists;
//   altered: some list), a non-2xx status is echo_http_<status>;
// - every list is unique, lower case and bounded; removed, changed and
//   case_changed name only headers that were sent; added names only strings the
//   body contained (never one only the response headers carried) and no noise;
// - a sent header value (the canary) reaches no output unless the body has it;
// - the evidence is bounded by what the lists hold.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "echo.h"
#include "providers/provider_def.h"
#include "fuzz_check.h"

using pathwatch::EchoLayer;
using pathwatch::EchoRequest;
using pathwatch::HeaderList;
using pathwatch::LayerStatus;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

// One provider's shape alone, or all four at once (as a route's echo carries them).
const EchoRequest& sentRequest(int kind) {
  using namespace pathwatch::providers;
  static const EchoRequest requests[] = {
      pathwatch::buildEchoRequest("http://198.18.0.10:8080/echo", {&openai_provider}, 7),
      pathwatch::buildEchoRequest("http://198.18.0.10:8080/echo", {&anthropic_provider}, 7),
      pathwatch::buildEchoRequest("http://198.18.0.10:8080/echo", {&gemini_provider}, 7),
      pathwatch::buildEchoRequest(
          "http://198.18.0.10:8080/echo",
          {&openai_provider, &anthropic_provider, &gemini_provider, &discord_provider}, 7),
  };
  return requests[kind & 3];
}

HeaderList parseHeaderLines(std::string_view block) {
  HeaderList out;
  while (!block.empty()) {
    const std::size_t nl = block.find('\n');
    const std::string_view line = block.substr(0, nl);
    block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return out;
}

// Every string in the document, keys and values, lower-cased: the only place a
// header name in `added` may come from.
void collectStrings(const nlohmann::json& j, std::set<std::string>& out) {
  if (j.is_string()) {
    out.insert(lower(j.get<std::string>()));
  } else if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      out.insert(lower(key));
      collectStrings(value, out);
    }
  } else if (j.is_array()) {
    for (const auto& value : j) collectStrings(value, out);
  }
}

bool isLowerUnique(const std::vector<std::string>& names) {
  std::set<std::string> seen;
  for (const auto& n : names) {
    if (n != lower(n) || !seen.insert(n).second) return false;
  }
  return true;
}

bool within(const std::vector<std::string>& names, const std::set<std::string>& allowed) {
  for (const auto& n : names) {
    if (allowed.count(n) == 0) return false;
  }
  return true;
}

bool sameLayer(const EchoLayer& a, const EchoLayer& b) {
  return a.status == b.status && a.error == b.error && a.endpoint == b.endpoint &&
         a.added == b.added && a.removed == b.removed && a.changed == b.changed &&
         a.case_changed == b.case_changed && a.client_address == b.client_address &&
         a.evidence == b.evidence;
}

std::size_t bytesOf(const std::vector<std::string>& v) {
  std::size_t n = 0;
  for (const auto& s : v) n += s.size() + 2;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const EchoRequest& sent = sentRequest(data[0]);
  int status = 200;
  input.remove_prefix(1);
  if (data[0] & 0x80) {
    if (input.size() < 2) return 0;
    status = ((static_cast<unsigned char>(input[0]) << 8) | static_cast<unsigned char>(input[1])) %
             1000;
    input.remove_prefix(2);
  }
  HeaderList response_headers;
  std::string body(input);
  if (const std::size_t blank = input.find("\n\n"); blank != std::string_view::npos) {
    response_headers = parseHeaderLines(input.substr(0, blank));
    body.assign(input.substr(blank + 2));
  }

  EchoLayer out, again;
  try {
    pathwatch::compareEcho(sent, status, response_headers, body, out);
    pathwatch::compareEcho(sent, status, response_headers, body, again);
  } catch (const std::exception&) {
    FUZZ_CHECK(false);
  }
  FUZZ_CHECK(sameLayer(out, again));
  FUZZ_CHECK(out.endpoint == sent.url);

  const bool any_list = !out.added.empty() || !out.removed.empty() || !out.changed.empty() ||
                        !out.case_changed.empty();
  switch (out.status) {
    case LayerStatus::Fail:
      FUZZ_CHECK(!out.error.empty() && !any_list && out.client_address.empty());
      FUZZ_CHECK(!out.evidence.empty());
      if (status < 200 || status > 299) {
        FUZZ_CHECK(out.error == "echo_http_" + std::to_string(status));
      }
      return 0;
    case LayerStatus::Ok: FUZZ_CHECK(out.error.empty() && !any_list); break;
    case LayerStatus::Altered: FUZZ_CHECK(out.error.empty() && any_list); break;
    default: FUZZ_CHECK(false);
  }
  FUZZ_CHECK(status >= 200 && status <= 299);

  std::set<std::string> sent_names;
  for (const auto& [name, value] : sent.headers) sent_names.insert(lower(name));
  // compareEcho took it, so it is JSON nested no deeper than its limit.
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!doc.is_discarded());
  std::set<std::string> body_strings;
  collectStrings(doc, body_strings);

  for (const auto* list : {&out.added, &out.removed, &out.changed, &out.case_changed}) {
    FUZZ_CHECK(isLowerUnique(*list));
  }
  FUZZ_CHECK(within(out.removed, sent_names) && within(out.changed, sent_names) &&
        within(out.case_changed, sent_names));
  FUZZ_CHECK(within(out.changed, body_strings) && within(out.case_changed, body_strings));
  FUZZ_CHECK(within(out.added, body_strings));
  for (const auto& name : out.added) FUZZ_CHECK(!pathwatch::isEchoNoiseHeader(name));
  for (const auto& name : out.removed) FUZZ_CHECK(!pathwatch::isEchoNoiseHeader(name));

  for (const auto& sent_canary : sent.canaries) {
    const std::string canary = lower(sent_canary);
    bool body_has_canary = false;
    for (const auto& s : body_strings) body_has_canary |= s.find(canary) != std::string::npos;
    if (body_has_canary) continue;
    for (const auto* list : {&out.added, &out.removed, &out.changed, &out.case_changed,
                             &out.evidence}) {
      for (const auto& s : *list) FUZZ_CHECK(lower(s).find(canary) == std::string::npos);
    }
    FUZZ_CHECK(lower(out.client_address).find(canary) == std::string::npos);
  }
  if (!out.client_address.empty()) {
    const std::string address = lower(out.client_address);
    bool from_body = false;
    for (const auto& s : body_strings) from_body |= s.find(address) != std::string::npos;
    FUZZ_CHECK(from_body);
  }

  // One line per list, the httpbin note and the auth header's fate; each line
  // is a fixed sentence plus names from the lists.
  FUZZ_CHECK(out.evidence.size() <= 7);
  const std::size_t names = bytesOf(out.added) + bytesOf(out.removed) + bytesOf(out.changed) +
                            bytesOf(out.case_changed);
  FUZZ_CHECK(bytesOf(out.evidence) <= 7 * 200 + names);
  return 0;
}
