// Shared helpers of the signature tables, and the fallback meanings of a
// provider-authored answer no provider row explains.
#include "providers/signature.h"
#include "providers/provider_def.h"
#include "pathwatch/text.h"

#include "pathwatch/key.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace pathwatch::sig {

std::string_view toString(Author a) {
  switch (a) {
    case Author::Provider: return "provider";
    case Author::Edge: return "edge";
    case Author::Middlebox: return "middlebox";
    case Author::Unknown: return "unknown";
  }
  return "unknown";
}

const std::string* AnswerView::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? nullptr : &it->second;
}

namespace {

constexpr AnswerRule kGeneric[] = {
    {.name = "success", .status_lo = 200, .status_hi = 299, .verdict = Verdict::Ok,
     .meaning = "the provider answered the probe successfully"},
    {.name = "unauthorized without a key", .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No, .verdict = Verdict::Ok,
     .meaning = "the provider's own \"unauthorized\" answer to a call without a key: the path works"},
    {.name = "unauthorized", .status_lo = 401, .status_hi = 401, .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed, .meaning = "the provider rejected the key"},
    {.name = "payment required", .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "the provider reports billing or credits exhausted: retrying will not help"},
    {.name = "forbidden", .status_lo = 403, .status_hi = 403, .verdict = Verdict::PermissionDenied,
     .meaning = "the provider refuses this key or account the call"},
    {.name = "too many requests", .status_lo = 429, .status_hi = 429, .verdict = Verdict::RateLimited,
     .meaning = "the provider says too many requests"},
    {.name = "server error", .status_lo = 500, .status_hi = 599, .verdict = Verdict::ProviderError,
     .meaning = "the provider itself is failing: nothing to fix on this side"},
};

}  // namespace

std::span<const AnswerRule> genericProviderRules() { return kGeneric; }

const Json* jget(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string jtext(const Json* j) {
  if (!j) return {};
  if (j->is_string()) return j->get<std::string>();
  if (j->is_number_integer()) return std::to_string(j->get<long long>());
  if (j->is_number_unsigned()) return std::to_string(j->get<unsigned long long>());
  if (j->is_number_float()) {
    const double d = j->get<double>();
    if (!std::isfinite(d)) return {};
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    return ec == std::errc{} ? std::string(buf, end) : std::string{};
  }
  return {};
}

std::optional<double> parseProtoDuration(std::string_view s) {
  if (s.size() < 2 || s.back() != 's' || s.size() > 32) return std::nullopt;
  s.remove_suffix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v) || v < 0 || v > 1e7)
    return std::nullopt;
  return v;
}


namespace {

template <typename F>
bool anyAlternative(std::string_view alternatives, F&& f) {
  while (true) {
    const auto bar = alternatives.find('|');
    const std::string_view alt = alternatives.substr(0, bar);
    if (!alt.empty() && f(alt)) return true;
    if (bar == std::string_view::npos) return false;
    alternatives.remove_prefix(bar + 1);
  }
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() &&
           std::tolower(static_cast<unsigned char>(hay[i + k])) ==
               std::tolower(static_cast<unsigned char>(needle[k])))
      ++k;
    if (k == needle.size()) return true;
  }
  return false;
}

}  // namespace

bool containsAny(std::string_view text, std::string_view alternatives) {
  return anyAlternative(alternatives, [&](std::string_view alt) { return icontains(text, alt); });
}

bool equalsAny(std::string_view value, std::string_view alternatives) {
  return anyAlternative(alternatives, [&](std::string_view alt) { return value == alt; });
}


// Replaces runs that look like a credential (long, letters and digits mixed,
// or a known key prefix) with their fingerprint. The fetcher scrubs the key it
// sent; this is the second line: nothing key-like leaves classify verbatim.
std::string redactKeyLike(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto tokenChar = [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (!tokenChar(static_cast<unsigned char>(text[i]))) {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && tokenChar(static_cast<unsigned char>(text[j]))) ++j;
    while (j > i + 1 && text[j - 1] == '.') --j;  // a sentence's full stop is not part of the token
    std::string_view tok = text.substr(i, j - i);
    bool digits = false, letters = false;
    for (unsigned char c : tok) {
      digits |= std::isdigit(c) != 0;
      letters |= std::isalpha(c) != 0;
    }
    const bool prefixed = (startsWith(tok, "sk-") || startsWith(tok, "AIza") || startsWith(tok, "AQ.")) &&
                          tok.size() >= 20;
    const bool request_id = startsWith(tok, "req_") || startsWith(tok, "request");
    if (!request_id && (prefixed || (tok.size() >= 24 && digits && letters))) {
      std::string fp = fingerprint(tok);
      out += fp.empty() ? "[redacted]" : fp;
    } else {
      out += tok;
    }
    i = j;
  }
  return out;
}

std::string scanJsonString(std::string_view body, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\"";
  std::size_t pos = 0;
  while ((pos = body.find(needle, pos)) != std::string_view::npos) {
    std::size_t i = pos + needle.size();
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i >= body.size() || body[i] != ':') {
      pos = i;
      continue;
    }
    ++i;
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i >= body.size() || body[i] != '"') {
      pos = i;
      continue;
    }
    std::string out;
    for (++i; i < body.size() && body[i] != '"' && out.size() < 1024; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) ++i;
      out += body[i];
    }
    return out;
  }
  return {};
}

}  // namespace pathwatch::sig

namespace pathwatch {

bool extractTextOpenAiStyle(std::string_view body, HttpLayer& http) {
  http.message = sig::scanJsonString(body, "message");
  http.error_type = sig::scanJsonString(body, "type");
  http.error_code = sig::scanJsonString(body, "code");
  return body.find("\"error\"") != std::string_view::npos &&
         body.find("\"message\"") != std::string_view::npos;
}

bool envelopeOpenAiStyle(const sig::Json& j) {
  const sig::Json* err = sig::jget(j, "error");
  if (!err || !err->is_object()) return false;
  const sig::Json* msg = sig::jget(*err, "message");
  return msg && msg->is_string();
}

void extractOpenAiStyle(const sig::Json& j, HttpLayer& http) {
  const sig::Json* err = sig::jget(j, "error");
  if (!err || !err->is_object()) return;
  http.error_type = sig::jtext(sig::jget(*err, "type"));
  http.error_code = sig::jtext(sig::jget(*err, "code"));
  http.message = sig::jtext(sig::jget(*err, "message"));
}

bool successModelList(const sig::Json& j) {
  const sig::Json* data = sig::jget(j, "data");
  const sig::Json* object = sig::jget(j, "object");
  return data && data->is_array() && (!object || (object->is_string() && *object == "list"));
}

}  // namespace pathwatch
