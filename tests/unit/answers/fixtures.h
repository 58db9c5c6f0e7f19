#pragma once
// Captured-answer fixtures shared by the classify, providers and diagnose
// tests: realistic headers per provider and a route whose layers all passed.
// Keys here are made up; they only have the providers' shapes.
#include <map>
#include <string>

#include "pathwatch/key.h"
#include "providers/provider_def.h"
#include "pathwatch/provider.h"
#include "pathwatch/result.h"

namespace pathwatch::fixtures {

inline const std::string kOpenAIKey =
    "sk-proj-Zq8vR2mXw4Ld9Kp3Nf6Tb1Yc7Hj5Gs0Ue2Wa4Qi8Ox3Vn6Bm1Tr9Ck5Ey7Pu2Ls4Dh6Fg8T3BlbkFJAa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1Ll2Mm3Nn4Oo5Pp6Qq7Rr8Ss9Tt0Uu1Vv2Ww3Xx4Yy5Zz6Aa7Bb8Cc9Dd0Ee1MxYA";
inline const std::string kAnthropicKey =
    "sk-ant-api03-Xy7Qw3Er5Ty8Ui1Op4As6Df9Gh2Jk5Lz8Xc1Vb4Nm7Qa0Ws3Ed6Rf9Tg2Yh5Uj8Ik1Ol4Pz7Mx0Nc3Bv6Cx9Za2Sq5Wd8AbCdAA";
inline const std::string kGeminiKey = "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd";
inline const std::string kDiscordToken =
    "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhQx7a.Zk3Lm9Np2Qr5St8Uv1Wx4Yz7Ab0Cd3Ef6Gh9Ij";

// The OpenAI-compatible providers (docs/providers.md "OpenAI-compatible providers").
inline const std::string kGroqKey = "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";
inline const std::string kOpenRouterKey =
    "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";
inline const std::string kDeepSeekKey = "sk-25ec84d8dbc74254770f58904dba41ec";
inline const std::string kXaiKey =
    "xai-zzzgEOzdmenCkhvMdgaKjIg8xNbe3nNyjOq9wMxEhh2F_DEEtfjgVvVqE1SkHbn88HxjSI6bWHt_P3fS";
inline const std::string kTogetherKey = "tgp_v1_HUvTCQCyEZDz_TddJ8HyS5SUkCnD8zRA9a9SkpXz9w3";
inline const std::string kMistralKey = "YOvfZ8UzDzV8fUkkibjL5DZPjN0MEQ7w";  // shape unconfirmed
inline const std::string kAzureKey =
    "jJJibaZUPgHV7iB3m03nbqnsGpWLuqIA1id6Vw5DQL05HA064GiIJQQJ99jHGb3CXlMaXZjljENUhJduRHHJ";
inline const std::string kAzureLegacyKey = "f3176813e02ea68ef786e4d3cea27d26";

inline const std::string& keyFor(const ProviderDef* k) {
  if (k == &providers::anthropic_provider) return kAnthropicKey;
  if (k == &providers::gemini_provider) return kGeminiKey;
  if (k == &providers::discord_provider) return kDiscordToken;
  if (k == &providers::groq_provider) return kGroqKey;
  if (k == &providers::openrouter_provider) return kOpenRouterKey;
  if (k == &providers::deepseek_provider) return kDeepSeekKey;
  if (k == &providers::xai_provider) return kXaiKey;
  if (k == &providers::together_provider) return kTogetherKey;
  if (k == &providers::mistral_provider) return kMistralKey;
  if (k == &providers::azure_provider) return kAzureKey;
  return kOpenAIKey;
}

inline const ProviderSpec& spec(const char* name) {
  static std::map<std::string, ProviderSpec> specs;
  auto it = specs.find(name);
  if (it == specs.end()) it = specs.emplace(name, *findBuiltin(name)).first;
  return it->second;
}

inline HeaderList openaiHeaders() {
  return {{"Date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"Content-Type", "application/json; charset=utf-8"},
          {"Connection", "keep-alive"},
          {"vary", "Origin"},
          {"x-request-id", "req_8c1f0b2d9e7a4c3b5a6d7e8f9a0b1c2d"},
          {"openai-processing-ms", "14"},
          {"strict-transport-security", "max-age=31536000; includeSubDomains; preload"},
          {"CF-Cache-Status", "DYNAMIC"},
          {"Server", "cloudflare"},
          {"CF-RAY", "8e9f1a2b3c4d5e6f-FRA"},
          {"alt-svc", "h3=\":443\"; ma=86400"}};
}

inline HeaderList anthropicHeaders() {
  return {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"content-type", "application/json"},
          {"request-id", "req_011CVaQx7Lm2Np5Rt8Vw1Yz4"},
          {"x-should-retry", "false"},
          {"anthropic-organization-id", "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"},
          {"via", "1.1 google"},
          {"cf-cache-status", "DYNAMIC"},
          {"server", "cloudflare"},
          {"cf-ray", "8e9f1a2b3c4d5e70-AMS"}};
}

inline HeaderList geminiHeaders() {
  return {{"content-type", "application/json; charset=UTF-8"},
          {"vary", "Origin, X-Origin, Referer"},
          {"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"server", "scaffolding on HTTPServer2"},
          {"x-xss-protection", "0"},
          {"x-frame-options", "SAMEORIGIN"},
          {"x-content-type-options", "nosniff"},
          {"server-timing", "gfet4t7; dur=31"},
          {"alt-svc", "h3=\":443\"; ma=2592000,h3-29=\":443\"; ma=2592000"}};
}

inline HeaderList discordHeaders() {
  return {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"content-type", "application/json"},
          {"x-ratelimit-bucket", "78a1b2c3d4e5f60718293a4b5c6d7e8f"},
          {"x-ratelimit-limit", "5"},
          {"x-ratelimit-remaining", "4"},
          {"x-ratelimit-reset", "1795813201.123"},
          {"x-ratelimit-reset-after", "1.000"},
          {"via", "1.1 google"},
          {"cf-cache-status", "DYNAMIC"},
          {"server", "cloudflare"},
          {"cf-ray", "8e9f1a2b3c4d5e71-AMS"}};
}

inline HeaderList cloudflareOnlyHeaders() {
  return {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"content-type", "text/html; charset=UTF-8"},
          {"server", "cloudflare"},
          {"cf-ray", "8e9f1a2b3c4d5e72-HKG"}};
}

inline HeaderList with(HeaderList h, std::initializer_list<std::pair<std::string, std::string>> more) {
  for (const auto& kv : more) h.push_back(kv);
  return h;
}

// Every layer passed; the HTTP answer is the caller's to fill.
inline RouteResult healthyRoute(const ProviderSpec& s, bool key_sent, const std::string& route = "default") {
  RouteResult r;
  r.provider = s.name;
  r.route = route;
  if (key_sent) {
    auto k = inspectKey(*s.def, keyFor(s.def), "env:" + s.default_key_env, true);
    r.key = k.layer;
  } else {
    r.key.status = LayerStatus::Skipped;
    r.key.source = "none";
    r.key.reason = s.default_key_env + " is not set: probing without a key (the path is still proven)";
  }
  r.dns.status = LayerStatus::Ok;
  DnsAnswer a;
  a.resolver = "system";
  a.addresses = {"198.18.0.10"};
  r.dns.answers = {a};
  r.dns.addresses = {"198.18.0.10"};
  r.tcp.status = LayerStatus::Ok;
  r.tcp.address = "198.18.0.10:443";
  r.tcp.attempts = {TcpAttempt{"198.18.0.10:443", LayerStatus::Ok, "", 3.0}};
  r.tls.status = LayerStatus::Ok;
  r.tls.sni = s.host;
  r.tls.issuer = "CN=WE1,O=Google Trust Services,C=US";
  r.tls.ca_file_ok = true;
  r.tls.public_root = true;
  r.http.status = LayerStatus::Ok;
  r.echo.status = LayerStatus::Skipped;
  r.echo.reason = "no echo endpoint configured";
  return r;
}

}  // namespace pathwatch::fixtures
