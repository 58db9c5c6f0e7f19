#pragma once
// Everything pathwatch knows about one provider, in one table entry: where it
// lives, how to probe it cheaply, what its keys look like, how to read its
// answers. One file per provider under probes/providers/, registered with one
// line in providers/list.h. The engine, key hygiene, the echo and classify
// only read these tables; none of them names a provider.
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "providers/signature.h"

namespace pathwatch {

// One shape of key a provider issues. Either the fields (all that are set
// must hold) or `match`.
struct KeyShape {
  enum class Chars : unsigned char { Any, Token, Hex };  // Token: A-Z a-z 0-9 - _
  std::string_view prefix = {};
  std::size_t min_len = 0, max_len = 0;  // of the whole key; 0 = unbounded
  std::string_view contains = {};        // a fixed part somewhere after the prefix
  Chars chars = Chars::Any;              // what follows the prefix
  bool (*match)(std::string_view key) = nullptr;
};

using HeaderPair = std::pair<std::string_view, std::string_view>;

struct ProviderDef {
  std::string_view id = {};        // "openai": a built-in's name, and the "kind" of custom entries
  std::string_view display = {};   // "OpenAI"
  std::string_view base_url = {};  // its public endpoint; "" when every customer has their own (Azure)
  std::string_view key_env = {};   // the usual variable, "OPENAI_API_KEY"
  bool default_enabled = false;     // probed with the embedded defaults
  bool cloudflare_fronted = false;  // answers /cdn-cgi/trace; CF-Ray names the edge site

  // The cheap probe (docs/providers.md "How to call each one cheaply").
  std::string_view probe_path = {};               // appended to base_url
  std::string_view probe_path_with_key = {};  // when a key is sent; "" = probe_path
  std::string_view auth_header = "Authorization";
  std::string_view auth_prefix = "Bearer ";
  std::string_view user_agent = "pathwatch/0.1";
  std::span<const HeaderPair> headers = {};  // sent with every probe and echo

  // Keys: the shapes it issues (key hygiene, redaction, config refusals) and
  // the echo's stand-in in the same shape: every '#' becomes a random hex digit.
  std::span<const KeyShape> key_shapes = {};
  std::string_view canary = "pw-canary-################################";

  // Answers (docs/providers.md): who wrote one and what it means.
  std::string_view marker_headers = {};  // '|' names; a trailing '*' is a prefix
  // Whether an error envelope needs the marker to count as the provider's.
  bool marker_required = false;
  bool (*envelope)(const sig::Json&) = nullptr;  // its error envelope
  bool (*success)(const sig::Json&) = nullptr;   // its success body (of the probe)
  // Fills error_type, error_code, message, retry_after_s and rate.
  void (*extract)(const sig::Json&, HttpLayer&) = nullptr;
  // The same from a body the JSON parser refuses (cut at the capture cap,
  // damaged); returns whether it still looks like its error envelope.
  bool (*extract_text)(std::string_view body, HttpLayer&) = nullptr;
  std::span<const sig::BlockRule> edge = {};    // its own edge refusing (checked first)
  std::span<const sig::AnswerRule> rules = {};  // its own answers
};

namespace providers {
#define PATHWATCH_PROVIDER(name) extern const ProviderDef name##_provider;
#include "providers/list.h"
#undef PATHWATCH_PROVIDER
}  // namespace providers

// The built-in definitions in list.h order, then those registered at run time.
const std::vector<const ProviderDef*>& providerDefs();
const ProviderDef* findProviderDef(std::string_view id);
// Adds a definition (tests, embedders): call before configs are parsed. A
// definition with an id already known is refused (returns false).
bool registerProviderDef(const ProviderDef& def);

// Does `key` have one of `def`'s key shapes? The longer the matching prefix,
// the more specific: keyShapeOwner picks the most specific provider.
std::size_t keyShapeMatch(const ProviderDef& def, std::string_view key);
const ProviderDef* keyShapeOwner(std::string_view key);

// Helpers for extract_text: the OpenAI-style {"error":{"message","type","code"}}.
bool extractTextOpenAiStyle(std::string_view body, HttpLayer& http);

// The same shape for the providers that copied it (providers/*.cc): an
// "error" object with a string "message"; its type, code and message.
bool envelopeOpenAiStyle(const sig::Json& j);
void extractOpenAiStyle(const sig::Json& j, HttpLayer& http);
// A models listing, {"object":"list","data":[...]} or {"data":[...]}.
bool successModelList(const sig::Json& j);

}  // namespace pathwatch
