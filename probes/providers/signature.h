#pragma once
// The data shape of answer signatures: who wrote an HTTP answer and what it
// means. Each provider (providers/provider_def.h), Cloudflare and the
// middleboxes are tables of rules in their own files under probes/providers/;
// classify.cc only matches tables, so a new captured answer is a new row, not
// a new `if`.
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pathwatch/provider.h"
#include "pathwatch/result.h"
#include "pathwatch/verdict.h"

namespace pathwatch::sig {

using Json = nlohmann::json;

// A tri-state condition: don't care, must hold, must not hold.
enum class Need : unsigned char { Any, Yes, No };

enum class Author : unsigned char { Provider, Edge, Middlebox, Unknown };
std::string_view toString(Author a);

// One parsed answer, built once per analyzeAnswer and shared by all tables.
struct AnswerView {
  int code = 0;
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined ", "
  std::string_view body;
  std::string body_lower;     // lower-cased copy for phrase search
  Json json;                  // discarded() unless the body parsed as JSON
  bool html = false;          // content-type html or a body that starts like HTML
  bool marker = false;        // the provider's marker header is present
  bool envelope = false;      // the provider's error envelope
  bool success_shape = false; // the provider's own success body
  bool rate_headers = false;  // x-ratelimit-* / anthropic-ratelimit-*
  bool foreign_redirect = false;  // 3xx whose Location names another host
  std::string location;

  const std::string* header(std::string_view lower_name) const;
  bool hasJson() const { return !json.is_discarded(); }
};

// Something other than the provider answered: its CDN edge or a middlebox.
// Every non-empty condition must hold; '|' separates alternatives (any one
// suffices); text matches are case-insensitive substrings.
struct BlockRule {
  std::string_view name;     // stable id, also the error_code when the body has none
  std::string_view product;  // "Cloudflare", "Squid", ... for evidence
  Author author = Author::Middlebox;
  // nullopt: decided by status (a middlebox's 407 or own 5xx -> proxy_failed,
  // else middlebox_blocked; an edge's 5xx -> provider_error, else middlebox_blocked).
  std::optional<Verdict> verdict = std::nullopt;
  int status_lo = 0, status_hi = 999;
  std::string_view header = {};      // this header must be present
  std::string_view header_has = {};  // and its value contain one of these
  std::string_view header_not = {};  // and its value contain none of these
  std::string_view body_has = {};
  std::string_view json_error_type = {};  // {"error":{"type": X}}
  Need marker = Need::No;    // the provider's marker header: edges and boxes never carry it
  Need envelope = Need::Any;
  Need rate_headers = Need::Any;
  Need foreign_redirect = Need::Any;
  Need html = Need::Any;
  std::string_view meaning = {};  // evidence: what it means for the operator
};

// What a provider-authored answer means. First matching row wins.
struct AnswerRule {
  std::string_view name;  // the case, as docs/providers.md names it
  int status_lo = 0, status_hi = 999;
  std::string_view types = {};    // error_type equals one of these
  std::string_view codes = {};    // error_code equals one of these
  std::string_view message = {};  // message contains one of these
  std::string_view quota = {};    // rate["quota_id"] / rate["quota_limit"] evidence, see classify.cc
  Need retry_hint = Need::Any;    // retry_after_s known
  double retry_at_least_s = 0;    // > 0: retry_after_s known and at least this (Azure's day = quota)
  Need rate_headers = Need::Any;
  Need key_sent = Need::Any;      // the probe carried a key
  // The public provider itself (ProviderSpec::builtin), not a custom endpoint
  // of its kind: what the provider answers a request without a key is only
  // known for the provider itself.
  Need builtin = Need::Any;
  Verdict verdict = Verdict::Unexpected;
  std::string_view meaning = {};
};

std::span<const BlockRule> cloudflareRules();
std::span<const BlockRule> middleboxRules();
// Generic proxy marks (Via, X-Cache...): checked only after the provider's own
// signature failed, so a genuine answer relayed by a proxy stays the provider's.
std::span<const BlockRule> proxyMarkRules();
// Names seen in certificates issued by TLS-inspecting products (issuer or chain).
std::span<const std::string_view> interceptionIssuers();
// Provider answers no table row explains: by status.
std::span<const AnswerRule> genericProviderRules();

// JSON helpers that never throw.
const Json* jget(const Json& j, std::string_view key);
// String as is; integer or float as text; anything else "".
std::string jtext(const Json* j);
// "12s", "0.5s", "1.234s" (google.protobuf.Duration in JSON) -> seconds.
std::optional<double> parseProtoDuration(std::string_view s);

// Case-insensitive: does `text` contain one of the '|'-separated `alternatives`?
bool containsAny(std::string_view text, std::string_view alternatives);
// Does `value` equal one of the '|'-separated `alternatives` (exactly)?
bool equalsAny(std::string_view value, std::string_view alternatives);
// Replaces runs that look like a credential with their fingerprint: the
// fetcher scrubs the key it sent, this is the second line of defence.
std::string redactKeyLike(std::string_view text);
// "key": "value" found by text in a body the parser refuses (first match).
std::string scanJsonString(std::string_view body, std::string_view key);

}  // namespace pathwatch::sig
