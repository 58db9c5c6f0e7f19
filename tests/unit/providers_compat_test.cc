// The OpenAI-compatible providers (docs/providers.md "OpenAI-compatible
// providers"): every row of their tables as a captured answer (status,
// headers, body as the sources show them) -> who wrote it and the verdict;
// a custom "kind": "openai" entry; their key shapes against the old ones;
// how a config enables them and what their probes send.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "answers/fixtures.h"
#include "cli/check_command.h"
#include "pathwatch/classify.h"
#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/text.h"
#include "providers/provider_def.h"
#include "providers/signature.h"

namespace pathwatch {
namespace {

using namespace fixtures;

// The Azure kind has no public endpoint: a custom entry as a config makes it.
const ProviderSpec& azureSpec() {
  static const ProviderSpec s =
      *makeProviderSpec("myazure", providers::azure_provider, "https://x.openai.azure.com", false);
  return s;
}

// A custom OpenAI-compatible endpoint (vLLM, a gateway).
const ProviderSpec& localLlmSpec() {
  static const ProviderSpec s =
      *makeProviderSpec("local-llm", providers::openai_provider, "https://llm.example.net/v1", false);
  return s;
}

// Custom endpoints of the other kinds (a gateway speaking Anthropic's or Gemini's API).
const ProviderSpec& customSpec(const std::string& name) {
  static std::map<std::string, ProviderSpec> specs;
  auto it = specs.find(name);
  if (it == specs.end()) {
    const ProviderDef& def =
        name == "custom-anthropic" ? providers::anthropic_provider : providers::gemini_provider;
    it = specs.emplace(name, *makeProviderSpec(name, def, "https://gw.example.net/v1", false)).first;
  }
  return it->second;
}

const ProviderSpec& specFor(const std::string& name) {
  if (name == "myazure") return azureSpec();
  if (name == "local-llm") return localLlmSpec();
  if (name == "custom-anthropic" || name == "custom-gemini") return customSpec(name);
  return spec(name.c_str());
}

struct Case {
  std::string name;
  std::string provider;
  bool key_sent;
  int code;
  HeaderList headers;
  std::string body;
  std::string authored_by;
  std::string error_type;
  std::string error_code;
  std::string message_has;
  std::optional<double> retry_after;
  Verdict verdict;
  std::string evidence_has = {};
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

// ---------------------------------------------------------------- headers

HeaderList azureHeaders() {
  return {{"content-length", "320"},
          {"content-type", "application/json"},
          {"apim-request-id", "5e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"},
          {"x-request-id", "8a9b0c1d-2e3f-4a5b-6c7d-8e9f0a1b2c3d"},
          {"x-ms-region", "East US"},
          {"x-ms-client-request-id", "5e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"},
          {"strict-transport-security", "max-age=31536000; includeSubDomains; preload"},
          {"x-content-type-options", "nosniff"},
          {"date", "Fri, 27 Nov 2026 21:00:00 GMT"}};
}

HeaderList openrouterHeaders() {
  return {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"content-type", "application/json"},
          {"access-control-allow-origin", "*"},
          {"vary", "Accept-Encoding"},
          {"server", "cloudflare"},
          {"cf-ray", "8e9f1a2b3c4d5e80-FRA"}};
}

HeaderList plainJsonHeaders() {
  return {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"content-type", "application/json"},
          {"content-length", "180"}};
}

HeaderList groqHeaders() {
  return {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
          {"content-type", "application/json"},
          {"cache-control", "private, max-age=0, no-store, no-cache, must-revalidate"},
          {"vary", "Origin"},
          {"x-groq-region", "gcp-europe-west3"},
          {"x-request-id", "req_01jq8x7b9fe0kbz5v1y2w3a4c6"},
          {"via", "1.1 google"},
          {"alt-svc", "h3=\":443\"; ma=86400"},
          {"cf-cache-status", "DYNAMIC"},
          {"server", "cloudflare"},
          {"cf-ray", "8e9f1a2b3c4d5e81-FRA"}};
}

// ---------------------------------------------------------------- bodies

std::string nested(const std::string& inner) { return "{\"error\":{" + inner + "}}"; }

std::string openaiShaped(const std::string& message, const std::string& type, const std::string& code) {
  return "{\"error\":{\"message\":\"" + message + "\",\"type\":" +
         (type.empty() ? "null" : "\"" + type + "\"") + ",\"param\":null,\"code\":" +
         (code.empty() ? "null" : "\"" + code + "\"") + "}}";
}

std::string openrouterError(int code, const std::string& message, const std::string& metadata = "") {
  return "{\"error\":{\"message\":\"" + message + "\",\"code\":" + std::to_string(code) +
         (metadata.empty() ? "" : ",\"metadata\":" + metadata) + "}}";
}

std::string xaiError(const std::string& code, const std::string& error) {
  return "{\"code\":\"" + code + "\",\"error\":\"" + error + "\"}";
}

std::string mistralError(const std::string& message, const std::string& type, const std::string& code) {
  return "{\"object\":\"error\",\"message\":\"" + message + "\",\"type\":" +
         (type.empty() ? "null" : "\"" + type + "\"") + ",\"param\":null,\"code\":" +
         (code.empty() ? "null" : "\"" + code + "\"") + "}";
}

const std::string kCloudflareBlockGroq = R"(<!DOCTYPE html>
<html class="no-js" lang="en-US"><head><title>Attention Required! | Cloudflare</title>
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" /></head>
<body><div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1 data-translate="block_headline">Sorry, you have been blocked</h1>
<h2 class="cf-subheadline"><span data-translate="unable_to_access">You are unable to access</span> groq.com</h2>
</div></div></body></html>)";

const std::string kAzureThrottle =
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-05-01-preview "
    "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. "
    "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default "
    "rate limit.";
const std::string kAzureDay =
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2023-05-15 have "
    "exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 86400 "
    "seconds. Please contact Azure support service if you would like to further increase the default "
    "rate limit.";

std::vector<Case> cases() {
  std::vector<Case> v;
  // -------------------------------------------------------------- Azure OpenAI
  const std::string azure_invalid =
      "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
      "for an active subscription and use a correct regional API endpoint for your resource.";
  v.push_back({"azure_invalid_key", "myazure", true, 401, azureHeaders(),
               nested(R"("code":"401","message":")" + azure_invalid + "\""), "provider", "", "401",
               "invalid subscription key", std::nullopt, Verdict::AuthFailed});
  v.push_back({"azure_invalid_key_code_unauthorized", "myazure", true, 401, azureHeaders(),
               nested(R"("code":"Unauthorized","message":")" + azure_invalid + "\""), "provider", "",
               "Unauthorized", "wrong API endpoint", std::nullopt, Verdict::AuthFailed});
  // The direct endpoint's no-key body is unconfirmed: its invalid-key answer without a key is the path.
  v.push_back({"azure_invalid_key_answer_without_a_key", "myazure", false, 401, azureHeaders(),
               nested(R"("code":"401","message":")" + azure_invalid + "\""), "provider", "", "401",
               "invalid subscription key", std::nullopt, Verdict::Ok});
  const std::string azure_missing =
      R"({"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."})";
  v.push_back({"azure_no_key", "myazure", false, 401, azureHeaders(), azure_missing, "provider", "", "401",
               "missing subscription key", std::nullopt, Verdict::Ok});
  v.push_back({"azure_no_key_although_sent", "myazure", true, 401, azureHeaders(), azure_missing, "provider",
               "", "401", "missing subscription key", std::nullopt, Verdict::HeadersRewritten});
  v.push_back({"azure_rbac_permission", "myazure", true, 401, azureHeaders(),
               nested(R"("code":"PermissionDenied","message":"Principal does not have access to API/Operation.")"),
               "provider", "", "PermissionDenied", "Principal does not have access", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"azure_unknown_deployment", "myazure", true, 404, azureHeaders(),
               nested(R"("code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")"),
               "provider", "", "DeploymentNotFound", "does not exist", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"azure_rate_limit", "myazure", true, 429,
               with(azureHeaders(), {{"retry-after", "6"}, {"x-ratelimit-remaining-tokens", "0"},
                                     {"policy-id", "DeploymentRatelimit-Token"}}),
               nested(R"("code":"429","message":")" + kAzureThrottle + "\""), "provider", "", "429",
               "exceeded token rate limit", 6.0, Verdict::RateLimited});
  v.push_back({"azure_rate_limit_newer_wording", "myazure", true, 429,
               with(azureHeaders(), {{"retry-after-ms", "12000"}, {"retry-after", "12"}}),
               nested(R"("code":"429","message":"Your requests to gpt-4o for gpt-4o in East US 2 have exceeded the token rate limit for your current AIServices S0 pricing tier. This request was for ChatCompletions_Create under Azure OpenAI API version 2024-10-21. Please retry after 12 seconds. To increase your default rate limit, visit: https://aka.ms/oai/quotaincrease.")"),
               "provider", "", "429", "token rate limit", 12.0, Verdict::RateLimited});
  v.push_back({"azure_rate_limit_wait_only_in_the_message", "myazure", true, 429, azureHeaders(),
               nested(R"("code":"429","message":"Rate limit is exceeded. Try again in 60 seconds.")"), "provider",
               "", "429", "Rate limit is exceeded", 60.0, Verdict::RateLimited});
  v.push_back({"azure_quota_retry_after_a_day", "myazure", true, 429,
               with(azureHeaders(), {{"retry-after", "86400"}}),
               nested(R"("code":"429","message":")" + kAzureDay + "\""), "provider", "", "429",
               "86400 seconds", 86400.0, Verdict::QuotaExhausted});
  v.push_back({"azure_quota_day_only_in_the_message", "myazure", true, 429, azureHeaders(),
               nested(R"("code":"429","message":")" + kAzureDay + "\""), "provider", "", "429",
               "86400 seconds", 86400.0, Verdict::QuotaExhausted});
  v.push_back({"azure_network_acl", "myazure", true, 403,
               with(azureHeaders(), {{"policy-id", "ThrowExceptionDueToTrafficDenied"}}),
               nested(R"("code":"403","message":"Access denied due to Virtual Network/Firewall rules.")"),
               "provider", "", "403", "Virtual Network/Firewall rules", std::nullopt, Verdict::PermissionDenied,
               "network ACL"});
  v.push_back({"azure_network_acl_vnet_variant", "myazure", false, 403, azureHeaders(),
               nested(R"("code":"403","message":"A Virtual Network is configured for this resource. Please use the correct endpoint for making requests. Check https://aka.ms/cogsvc-vnet for more details.")"),
               "provider", "", "403", "Virtual Network is configured", std::nullopt,
               Verdict::PermissionDenied, "network ACL"});
  v.push_back({"azure_5xx", "myazure", true, 500, azureHeaders(),
               nested(R"("code":"InternalServerError","message":"The service is temporarily unable to process your request. Please try again later.")"),
               "provider", "", "InternalServerError", "temporarily unable", std::nullopt, Verdict::ProviderError});
  v.push_back({"azure_success", "myazure", true, 200, azureHeaders(),
               R"({"data":[{"id":"gpt-4o-2024-08-06","status":"succeeded","capabilities":{"chat_completion":true},"object":"model"}],"object":"list"})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});

  // -------------------------------------------------------------- OpenRouter
  v.push_back({"openrouter_no_key", "openrouter", false, 401, openrouterHeaders(),
               openrouterError(401, "No auth credentials found"), "provider", "", "401", "No auth credentials",
               std::nullopt, Verdict::Ok});
  v.push_back({"openrouter_no_key_2026_wording", "openrouter", false, 401, openrouterHeaders(),
               openrouterError(401, "No cookie auth credentials found"), "provider", "", "401", "No cookie auth",
               std::nullopt, Verdict::Ok});
  v.push_back({"openrouter_no_key_although_sent", "openrouter", true, 401, openrouterHeaders(),
               openrouterError(401, "Missing Authentication header"), "provider", "", "401",
               "Missing Authentication header", std::nullopt, Verdict::HeadersRewritten});
  v.push_back({"openrouter_invalid_key", "openrouter", true, 401, openrouterHeaders(),
               openrouterError(401, "User not found."), "provider", "", "401", "User not found", std::nullopt,
               Verdict::AuthFailed});
  v.push_back({"openrouter_invalid_key_answer_without_a_key", "openrouter", false, 401, openrouterHeaders(),
               openrouterError(401, "User not found."), "provider", "", "401", "User not found", std::nullopt,
               Verdict::Ok});
  v.push_back({"openrouter_no_credits", "openrouter", true, 402, openrouterHeaders(),
               openrouterError(402, "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
                               R"({"limit_source":"openrouter_credits","remedy_hint":"Add credits at https://openrouter.ai/settings/credits"})"),
               "provider", "openrouter_credits", "402", "Insufficient credits", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"openrouter_can_only_afford", "openrouter", true, 402, openrouterHeaders(),
               openrouterError(402, "This request requires more credits, or fewer max_tokens. You requested up to "
                                    "4096 tokens, but can only afford 1200. To increase, visit "
                                    "https://openrouter.ai/settings/keys and create a key with a higher monthly limit",
                               R"({"limit_source":"openrouter_key_limit"})"),
               "provider", "openrouter_key_limit", "402", "can only afford", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"openrouter_in_flight_budget", "openrouter", true, 402,
               with(openrouterHeaders(), {{"retry-after", "5"}}),
               openrouterError(402, "Insufficient credits for requests in flight. Retry when they complete.",
                               R"({"limit_source":"openrouter_in_flight_budget","reason":"in_flight_budget_exhausted"})"),
               "provider", "openrouter_in_flight_budget", "in_flight_budget_exhausted", "in flight", 5.0,
               Verdict::RateLimited});
  v.push_back({"openrouter_in_flight_budget_without_a_wait_is_money", "openrouter", true, 402,
               openrouterHeaders(),
               openrouterError(402, "Insufficient credits for requests in flight.",
                               R"({"limit_source":"openrouter_in_flight_budget","reason":"in_flight_budget_exhausted"})"),
               "provider", "openrouter_in_flight_budget", "in_flight_budget_exhausted", "in flight", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"openrouter_rate_limit", "openrouter", true, 429,
               with(openrouterHeaders(), {{"X-RateLimit-Limit", "20"}, {"X-RateLimit-Remaining", "0"},
                                          {"X-RateLimit-Reset", "1795813210000"}, {"Retry-After", "10"}}),
               openrouterError(429, "Rate limit exceeded",
                               R"({"error_type":"rate_limit_exceeded","provider_code":null})"),
               "provider", "rate_limit_exceeded", "429", "Rate limit exceeded", 10.0, Verdict::RateLimited});
  v.push_back({"openrouter_free_models_per_day", "openrouter", true, 429,
               with(openrouterHeaders(), {{"X-RateLimit-Limit", "50"}, {"X-RateLimit-Remaining", "0"}}),
               openrouterError(429, "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free "
                                    "model requests per day"),
               "provider", "", "429", "free-models-per-day", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"openrouter_guardrail_moderation", "openrouter", true, 403, openrouterHeaders(),
               openrouterError(403, "Your chosen model requires moderation and your input was flagged",
                               R"({"reasons":["violence"],"provider_name":"OpenAI"})"),
               "provider", "", "403", "flagged", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"openrouter_region", "openrouter", true, 403, openrouterHeaders(),
               openrouterError(403, "This model is not available in your region."), "provider", "", "403",
               "not available in your region", std::nullopt, Verdict::RegionBlocked});
  v.push_back({"openrouter_upstream_geoblock", "openrouter", true, 403, openrouterHeaders(),
               openrouterError(403, "Provider returned error",
                               R"({"raw":"{\"error\":{\"code\":\"unsupported_country_region_territory\",\"message\":\"Country, region, or territory not supported\",\"param\":null,\"type\":\"request_forbidden\"}}","provider_name":"OpenAI"})"),
               "provider", "", "unsupported_country_region_territory", "Provider returned error", std::nullopt,
               Verdict::RegionBlocked});
  v.push_back({"openrouter_502_model_down", "openrouter", true, 502, openrouterHeaders(),
               openrouterError(502, "Provider returned error", R"({"provider_name":"Anthropic"})"), "provider",
               "", "502", "Provider returned error", std::nullopt, Verdict::ProviderError});
  v.push_back({"openrouter_503_no_provider", "openrouter", true, 503,
               with(openrouterHeaders(), {{"retry-after", "30"}}),
               openrouterError(503, "No endpoints found that can handle the request.",
                               R"({"error_type":"provider_overloaded"})"),
               "provider", "provider_overloaded", "503", "No endpoints", 30.0, Verdict::ProviderError});
  v.push_back({"openrouter_key_ok", "openrouter", true, 200, openrouterHeaders(),
               R"({"data":{"label":"sk-or-v1-536...ccf","limit":null,"usage":0.25,"is_provisioning_key":false,"limit_remaining":null,"is_free_tier":false,"rate_limit":{"requests":-1,"interval":"10s"}}})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});
  v.push_back({"openrouter_key_limit_spent", "openrouter", true, 200, openrouterHeaders(),
               R"({"data":{"label":"pathwatch","limit":10,"usage":10.02,"is_provisioning_key":false,"limit_remaining":-0.02,"is_free_tier":false}})",
               "provider", "", "limit_remaining=0", "", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"openrouter_cloudflare_block", "openrouter", true, 403, cloudflareOnlyHeaders(),
               "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, "
               "you have been blocked</h1><h2>You are unable to access openrouter.ai</h2></body></html>",
               "edge", "", "cloudflare_block", "Attention Required", std::nullopt, Verdict::MiddleboxBlocked});

  // -------------------------------------------------------------- DeepSeek
  const std::string ds_header = openaiShaped("Authentication Fails (auth header format should be Bearer sk-...)",
                                             "authentication_error", "invalid_request_error");
  v.push_back({"deepseek_no_key", "deepseek", false, 401, plainJsonHeaders(), ds_header, "provider",
               "authentication_error", "invalid_request_error", "auth header format", std::nullopt, Verdict::Ok});
  v.push_back({"deepseek_bad_header_with_a_key", "deepseek", true, 401, plainJsonHeaders(), ds_header, "provider",
               "authentication_error", "invalid_request_error", "auth header format", std::nullopt,
               Verdict::AuthFailed, "not in DeepSeek's format"});
  v.push_back({"deepseek_invalid_key", "deepseek", true, 401, plainJsonHeaders(),
               openaiShaped("Authentication Fails, Your api key: ****41ec is invalid", "authentication_error",
                            "invalid_request_error"),
               "provider", "authentication_error", "invalid_request_error", "is invalid", std::nullopt,
               Verdict::AuthFailed});
  v.push_back({"deepseek_no_such_user", "deepseek", true, 401, plainJsonHeaders(),
               openaiShaped("Authentication Fails (no such user)", "authentication_error", "invalid_request_error"),
               "provider", "authentication_error", "invalid_request_error", "no such user", std::nullopt,
               Verdict::AuthFailed});
  v.push_back({"deepseek_invalid_key_answer_without_a_key", "deepseek", false, 401, plainJsonHeaders(),
               openaiShaped("Authentication Fails (no such user)", "authentication_error", "invalid_request_error"),
               "provider", "authentication_error", "invalid_request_error", "no such user", std::nullopt,
               Verdict::Ok});
  v.push_back({"deepseek_no_balance", "deepseek", true, 402, plainJsonHeaders(),
               openaiShaped("Insufficient Balance", "unknown_error", "invalid_request_error"), "provider",
               "unknown_error", "invalid_request_error", "Insufficient Balance", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"deepseek_balance_not_available", "deepseek", true, 200, plainJsonHeaders(),
               R"({"is_available":false,"balance_infos":[{"currency":"CNY","total_balance":"0.00","granted_balance":"0.00","topped_up_balance":"0.00"}]})",
               "provider", "", "is_available=false", "", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"deepseek_balance_ok", "deepseek", true, 200, plainJsonHeaders(),
               R"({"is_available":true,"balance_infos":[{"currency":"USD","total_balance":"12.40","granted_balance":"0.00","topped_up_balance":"12.40"}]})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});
  // The 429's body is unconfirmed: the status decides.
  v.push_back({"deepseek_rate_limit", "deepseek", true, 429, plainJsonHeaders(),
               openaiShaped("Rate Limit Reached", "rate_limit_error", ""), "provider", "rate_limit_error", "",
               "Rate Limit", std::nullopt, Verdict::RateLimited});
  v.push_back({"deepseek_overloaded", "deepseek", true, 503, plainJsonHeaders(),
               openaiShaped("Server Overloaded", "", ""), "provider", "", "", "Server Overloaded", std::nullopt,
               Verdict::ProviderError});

  // -------------------------------------------------------------- Mistral
  v.push_back({"mistral_no_key", "mistral", false, 401, plainJsonHeaders(), R"({"detail":"Unauthorized"})",
               "provider", "", "", "Unauthorized", std::nullopt, Verdict::Ok});
  v.push_back({"mistral_invalid_key", "mistral", true, 401, plainJsonHeaders(), R"({"detail":"Unauthorized"})",
               "provider", "", "", "Unauthorized", std::nullopt, Verdict::AuthFailed});
  v.push_back({"mistral_invalid_key_older_shape", "mistral", true, 401, plainJsonHeaders(),
               R"({"message":"Unauthorized","request_id":"9f8e7d6c5b4a39281706f5e4d3c2b1a0"})", "provider", "", "",
               "Unauthorized", std::nullopt, Verdict::AuthFailed});
  // The 402's and the 403's bodies are unconfirmed: the documented shape, the status decides.
  v.push_back({"mistral_billing", "mistral", true, 402, plainJsonHeaders(),
               mistralError("Payment required", "invalid_request_error", ""), "provider", "invalid_request_error",
               "", "Payment required", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"mistral_model_tier_access", "mistral", true, 403, plainJsonHeaders(),
               mistralError("Forbidden", "invalid_request_error", ""), "provider", "invalid_request_error", "",
               "Forbidden", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"mistral_rate_limit", "mistral", true, 429,
               with(plainJsonHeaders(), {{"x-ratelimit-limit-req-minute", "60"},
                                         {"x-ratelimit-remaining-req-minute", "0"}}),
               mistralError("Rate limit exceeded", "rate_limited", "1300"), "provider", "rate_limited", "1300",
               "Rate limit exceeded", std::nullopt, Verdict::RateLimited});
  v.push_back({"mistral_rate_limit_older_shape", "mistral", true, 429, plainJsonHeaders(),
               R"({"message":"Requests rate limit exceeded"})", "provider", "", "", "Requests rate limit exceeded",
               std::nullopt, Verdict::RateLimited});
  v.push_back({"mistral_capacity_429", "mistral", true, 429, plainJsonHeaders(),
               mistralError("Service tier capacity exceeded for this model.", "", ""), "provider", "", "",
               "capacity exceeded", std::nullopt, Verdict::ProviderError});
  v.push_back({"mistral_capacity_503", "mistral", true, 503, plainJsonHeaders(),
               mistralError("Service tier capacity exceeded for this model.", "", ""), "provider", "", "",
               "capacity exceeded", std::nullopt, Verdict::ProviderError});
  v.push_back({"mistral_5xx", "mistral", true, 502, plainJsonHeaders(),
               mistralError("Bad gateway", "server_error", ""), "provider", "server_error", "", "Bad gateway",
               std::nullopt, Verdict::ProviderError});
  v.push_back({"mistral_success", "mistral", true, 200,
               with(plainJsonHeaders(), {{"x-ratelimit-limit-req-minute", "60"},
                                         {"x-ratelimit-remaining-req-minute", "59"}}),
               R"({"object":"list","data":[{"id":"mistral-small-latest","object":"model","owned_by":"mistralai"}]})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});

  // -------------------------------------------------------------- Groq
  const std::string groq_invalid = openaiShaped("Invalid API Key", "invalid_request_error", "invalid_api_key");
  v.push_back({"groq_invalid_key", "groq", true, 401, groqHeaders(), groq_invalid, "provider",
               "invalid_request_error", "invalid_api_key", "Invalid API Key", std::nullopt, Verdict::AuthFailed});
  // Its no-key body is unconfirmed: the invalid-key answer without a key is the path, not a rewrite.
  v.push_back({"groq_invalid_key_answer_without_a_key", "groq", false, 401, groqHeaders(), groq_invalid,
               "provider", "invalid_request_error", "invalid_api_key", "Invalid API Key", std::nullopt, Verdict::Ok});
  v.push_back({"groq_org_banned", "groq", true, 400, groqHeaders(),
               openaiShaped("Organization has been restricted. Please reach out to support if you believe this "
                            "was in error.",
                            "invalid_request_error", "organization_restricted"),
               "provider", "invalid_request_error", "organization_restricted", "restricted", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"groq_model_access", "groq", true, 404, groqHeaders(),
               openaiShaped("The model `llama-4-maverick` does not exist or you do not have access to it.",
                            "invalid_request_error", "model_not_found"),
               "provider", "invalid_request_error", "model_not_found", "does not exist", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"groq_rate_tpm", "groq", true, 429,
               with(groqHeaders(), {{"retry-after", "7"}, {"x-ratelimit-limit-tokens", "6000"},
                                    {"x-ratelimit-remaining-tokens", "0"}}),
               openaiShaped("Rate limit reached for model `llama-3.3-70b-versatile` in organization "
                            "`org_01hx7b9fe0kbz5v1y2w3a4c6d8` service tier `on_demand` on tokens per minute (TPM): "
                            "Limit 6000, Used 5978, Requested 1042. Please try again in 7.2s.",
                            "tokens", "rate_limit_exceeded"),
               "provider", "tokens", "rate_limit_exceeded", "tokens per minute", 7.0, Verdict::RateLimited});
  v.push_back({"groq_rate_tpd", "groq", true, 429, with(groqHeaders(), {{"retry-after", "578"}}),
               openaiShaped("Rate limit reached for model `llama-3.3-70b-versatile` in organization "
                            "`org_01hx7b9fe0kbz5v1y2w3a4c6d8` service tier `on_demand` on tokens per day (TPD): "
                            "Limit 100000, Used 99871, Requested 1042. Please try again in 9m38s.",
                            "tokens", "rate_limit_exceeded"),
               "provider", "tokens", "rate_limit_exceeded", "tokens per day", 578.0, Verdict::RateLimited});
  v.push_back({"groq_flex_capacity", "groq", true, 498, groqHeaders(),
               openaiShaped("Flex tier capacity exceeded. This is a temporary error due to high demand. Please "
                            "retry your request later.",
                            "", "capacity_exceeded"),
               "provider", "", "capacity_exceeded", "capacity exceeded", std::nullopt,
               Verdict::ProviderError});
  v.push_back({"groq_5xx", "groq", true, 503, groqHeaders(),
               openaiShaped("Service Unavailable", "", ""), "provider", "", "", "Service Unavailable", std::nullopt,
               Verdict::ProviderError});
  v.push_back({"groq_region_ip_block", "groq", true, 403, cloudflareOnlyHeaders(), kCloudflareBlockGroq, "edge",
               "", "cloudflare_block", "Attention Required", std::nullopt, Verdict::MiddleboxBlocked});
  // Groq's marker headers are required: the same body without them is not provably Groq's.
  v.push_back({"groq_shape_without_marker", "groq", true, 401, plainJsonHeaders(), groq_invalid, "unknown",
               "invalid_request_error", "invalid_api_key", "Invalid API Key", std::nullopt, Verdict::Unexpected});
  v.push_back({"groq_success", "groq", true, 200, groqHeaders(),
               R"({"object":"list","data":[{"id":"llama-3.3-70b-versatile","object":"model","created":1733447754,"owned_by":"Meta","active":true,"context_window":131072}]})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});

  // -------------------------------------------------------------- xAI
  const std::string xai_bad =
      xaiError("Client specified an invalid argument",
               "Incorrect API key provided: xa***fS. You can obtain an API key from https://console.x.ai.");
  v.push_back({"xai_invalid_key_400", "xai", true, 400, plainJsonHeaders(), xai_bad, "provider",
               "Client specified an invalid argument", "", "Incorrect API key", std::nullopt, Verdict::AuthFailed});
  v.push_back({"xai_invalid_key_answer_without_a_key", "xai", false, 400, plainJsonHeaders(), xai_bad, "provider",
               "Client specified an invalid argument", "", "Incorrect API key", std::nullopt, Verdict::Ok});
  // 401 for no key is documented; its body is unconfirmed, so only the status and the key decide.
  v.push_back({"xai_no_key_401", "xai", false, 401, plainJsonHeaders(),
               xaiError("The request does not have valid authentication credentials for the operation",
                        "No API key provided."),
               "provider", "The request does not have valid authentication credentials for the operation", "",
               "No API key", std::nullopt, Verdict::Ok});
  v.push_back({"xai_no_credits_new_team", "xai", true, 403, plainJsonHeaders(),
               xaiError("The caller does not have permission to execute the specified operation",
                        "Your newly created team doesn't have any credits or licenses yet. You can purchase "
                        "credits on https://console.x.ai/team/0a1b2c3d."),
               "provider", "The caller does not have permission to execute the specified operation", "",
               "any credits", std::nullopt, Verdict::QuotaExhausted});
  const std::string xai_spent =
      "Your team 0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d has either used all available credits or reached its "
      "monthly spending limit. To continue making API requests, please purchase more credits or raise your "
      "spending limit.";
  v.push_back({"xai_credits_used_429", "xai", true, 429, plainJsonHeaders(),
               xaiError("Some resource has been exhausted", xai_spent), "provider",
               "Some resource has been exhausted", "", "available credits", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"xai_credits_used_403", "xai", true, 403, plainJsonHeaders(),
               xaiError("The caller does not have permission to execute the specified operation", xai_spent),
               "provider", "The caller does not have permission to execute the specified operation", "",
               "spending limit", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"xai_rate_limit", "xai", true, 429, plainJsonHeaders(),
               xaiError("Some resource has been exhausted",
                        "Too many tokens for team 0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d: Tokens per Minute "
                        "(actual/limit): 65605/16000"),
               "provider", "Some resource has been exhausted", "", "Too many tokens", std::nullopt,
               Verdict::RateLimited});
  v.push_back({"xai_key_or_team_blocked", "xai", true, 403, plainJsonHeaders(),
               xaiError("The caller does not have permission to execute the specified operation",
                        "The API key is blocked."),
               "provider", "The caller does not have permission to execute the specified operation", "",
               "blocked", std::nullopt, Verdict::PermissionDenied});
  // Unconfirmed for the API (seen on grok.com): the words themselves decide.
  v.push_back({"xai_region_words", "xai", true, 403, plainJsonHeaders(),
               xaiError("The caller does not have permission to execute the specified operation",
                        "This service is not available in your region."),
               "provider", "The caller does not have permission to execute the specified operation", "",
               "not available in your region", std::nullopt, Verdict::RegionBlocked});
  // 5xx bodies are unconfirmed: the status decides.
  v.push_back({"xai_5xx", "xai", true, 503, plainJsonHeaders(),
               xaiError("The service is currently unavailable", "Service temporarily unavailable."), "provider",
               "The service is currently unavailable", "", "unavailable", std::nullopt, Verdict::ProviderError});
  const std::string api_key_body =
      R"({"redacted_api_key":"xai-…P3fS","user_id":"5b6c7d8e","name":"pathwatch","create_time":"2026-01-05T10:00:00Z","modify_time":"2026-01-05T10:00:00Z","modified_by":"5b6c7d8e","team_id":"0a1b2c3d","acls":["api-key:model:*","api-key:endpoint:*"],"api_key_id":"9e8d7c6b",)";
  v.push_back({"xai_api_key_ok", "xai", true, 200, plainJsonHeaders(),
               api_key_body + R"("team_blocked":false,"api_key_blocked":false,"api_key_disabled":false})", "provider",
               "", "", "", std::nullopt, Verdict::Ok});
  v.push_back({"xai_api_key_blocked", "xai", true, 200, plainJsonHeaders(),
               api_key_body + R"("team_blocked":false,"api_key_blocked":true,"api_key_disabled":false})", "provider",
               "", "api_key_blocked=true", "", std::nullopt, Verdict::AuthFailed});
  v.push_back({"xai_api_key_disabled", "xai", true, 200, plainJsonHeaders(),
               api_key_body + R"("team_blocked":false,"api_key_blocked":false,"api_key_disabled":true})", "provider",
               "", "api_key_disabled=true", "", std::nullopt, Verdict::AuthFailed});
  v.push_back({"xai_team_blocked", "xai", true, 200, plainJsonHeaders(),
               api_key_body + R"("team_blocked":true,"api_key_blocked":false,"api_key_disabled":false})", "provider",
               "", "team_blocked=true", "", std::nullopt, Verdict::PermissionDenied});

  // -------------------------------------------------------------- Together
  const std::string tg_invalid =
      R"({"id":"8f2e1d0c9b8a7f6e","error":{"message":"Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})";
  v.push_back({"together_invalid_key", "together", true, 401, plainJsonHeaders(), tg_invalid, "provider",
               "invalid_request_error", "invalid_api_key", "Invalid API key", std::nullopt, Verdict::AuthFailed});
  // Its missing-key answer IS the invalid-key answer: not a sign that the path added a key.
  v.push_back({"together_missing_key", "together", false, 401, plainJsonHeaders(), tg_invalid, "provider",
               "invalid_request_error", "invalid_api_key", "Invalid API key", std::nullopt, Verdict::Ok});
  v.push_back({"together_no_credits", "together", true, 402, plainJsonHeaders(),
               openaiShaped("Credit limit exceeded. Please navigate to https://api.together.xyz/settings/billing "
                            "to add credit or upgrade your plan.",
                            "credit_limit", ""),
               "provider", "credit_limit", "", "Credit limit exceeded", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"together_rate_limit_typed_credit_limit", "together", true, 429,
               with(plainJsonHeaders(), {{"x-ratelimit-limit", "60"}, {"x-ratelimit-remaining", "0"}}),
               openaiShaped("You have been rate limited. Your rate limit is 60 queries per minute. Please navigate "
                            "to https://api.together.xyz/settings/billing to upgrade your plan.",
                            "credit_limit", ""),
               "provider", "credit_limit", "", "rate limited", std::nullopt, Verdict::RateLimited});
  v.push_back({"together_rate_limit_per_model", "together", true, 429, plainJsonHeaders(),
               openaiShaped("You have reached the rate limit specific to this model "
                            "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free.",
                            "model_rate_limit", ""),
               "provider", "model_rate_limit", "", "rate limit specific", std::nullopt, Verdict::RateLimited});
  // Status unconfirmed: the words decide (any 4xx).
  v.push_back({"together_model_tier", "together", true, 403, plainJsonHeaders(),
               openaiShaped("Access to this model is allowed for build tier 2 and above. Please upgrade your "
                            "build tier.",
                            "invalid_request_error", ""),
               "provider", "invalid_request_error", "", "build tier", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"together_overloaded", "together", true, 503, plainJsonHeaders(),
               openaiShaped("Engine Overloaded", "server_error", ""), "provider", "server_error", "",
               "Engine Overloaded", std::nullopt, Verdict::ProviderError});
  v.push_back({"together_success_bare_array", "together", true, 200, plainJsonHeaders(),
               R"([{"id":"meta-llama/Llama-3.3-70B-Instruct-Turbo","object":"model","created":0,"type":"chat"}])",
               "provider", "", "", "", std::nullopt, Verdict::Ok});

  // ------------------------------------------- a custom "kind": "openai" entry
  const std::string oa_invalid = openaiShaped("Incorrect API key provided: sk-****. You can find your API key at "
                                              "https://platform.openai.com/account/api-keys.",
                                              "invalid_request_error", "invalid_api_key");
  // Most likely just its no-key answer (docs/providers.md): ok, not headers_rewritten.
  v.push_back({"custom_openai_invalid_key_answer_without_a_key", "local-llm", false, 401, plainJsonHeaders(),
               oa_invalid, "provider", "invalid_request_error", "invalid_api_key", "Incorrect API key",
               std::nullopt, Verdict::Ok});
  v.push_back({"custom_openai_invalid_key", "local-llm", true, 401, plainJsonHeaders(), oa_invalid, "provider",
               "invalid_request_error", "invalid_api_key", "Incorrect API key", std::nullopt, Verdict::AuthFailed});
  v.push_back({"custom_openai_says_no_key_although_sent", "local-llm", true, 401, plainJsonHeaders(),
               openaiShaped("You must provide an API key.", "invalid_request_error", ""), "provider",
               "invalid_request_error", "", "must provide an API key", std::nullopt, Verdict::HeadersRewritten});
  v.push_back({"custom_openai_success", "local-llm", true, 200, plainJsonHeaders(),
               R"({"object":"list","data":[{"id":"llama-3","object":"model","owned_by":"vllm"}]})", "provider", "",
               "", "", std::nullopt, Verdict::Ok});
  // The same holds for custom endpoints of Anthropic's and Gemini's kinds.
  const std::string ant_invalid =
      R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})";
  v.push_back({"custom_anthropic_invalid_key_answer_without_a_key", "custom-anthropic", false, 401,
               plainJsonHeaders(), ant_invalid, "provider", "authentication_error", "", "invalid x-api-key",
               std::nullopt, Verdict::Ok});
  v.push_back({"anthropic_itself_key_seen_although_none_sent", "anthropic", false, 401, anthropicHeaders(),
               ant_invalid, "provider", "authentication_error", "", "invalid x-api-key", std::nullopt,
               Verdict::HeadersRewritten});
  const std::string gem_invalid =
      R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}})";
  v.push_back({"custom_gemini_invalid_key_answer_without_a_key", "custom-gemini", false, 400, plainJsonHeaders(),
               gem_invalid, "provider", "INVALID_ARGUMENT", "API_KEY_INVALID", "API key not valid", std::nullopt,
               Verdict::Ok});
  v.push_back({"gemini_itself_key_seen_although_none_sent", "gemini", false, 400, geminiHeaders(), gem_invalid,
               "provider", "INVALID_ARGUMENT", "API_KEY_INVALID", "API key not valid", std::nullopt,
               Verdict::HeadersRewritten});
  // OpenAI itself answers "You didn't provide an API key" to no key, so there the rule stands.
  v.push_back({"openai_itself_key_seen_although_none_sent", "openai", false, 401, openaiHeaders(), oa_invalid,
               "provider", "invalid_request_error", "invalid_api_key", "Incorrect API key", std::nullopt,
               Verdict::HeadersRewritten});
  return v;
}

class CompatAnswer : public ::testing::TestWithParam<Case> {};

TEST_P(CompatAnswer, AuthorFieldsAndVerdict) {
  const Case& c = GetParam();
  const ProviderSpec& s = specFor(c.provider);
  RouteResult r = healthyRoute(s, c.key_sent);
  ASSERT_EQ(r.key.status, c.key_sent ? LayerStatus::Ok : LayerStatus::Skipped) << "the made-up key is its shape";
  r.http.code = c.code;
  r.http.headers = c.headers;
  r.http.body = c.body;
  r.http.body_bytes = c.body.size();
  classifyRoute(s, r);
  std::string evidence;
  for (const auto& e : r.evidence) evidence += "\n  " + e;
  SCOPED_TRACE("evidence:" + evidence);
  EXPECT_EQ(r.http.authored_by, c.authored_by);
  EXPECT_EQ(r.http.error_type, c.error_type);
  EXPECT_EQ(r.http.error_code, c.error_code);
  if (!c.message_has.empty()) {
    EXPECT_NE(r.http.message.find(c.message_has), std::string::npos) << r.http.message;
  }
  if (c.retry_after) {
    ASSERT_TRUE(r.http.retry_after_s.has_value());
    EXPECT_NEAR(*r.http.retry_after_s, *c.retry_after, 1e-6);
  } else {
    EXPECT_FALSE(r.http.retry_after_s.has_value()) << *r.http.retry_after_s;
  }
  EXPECT_EQ(toString(r.verdict), toString(c.verdict));
  if (!c.evidence_has.empty()) {
    EXPECT_NE(evidence.find(c.evidence_has), std::string::npos);
  }
  const std::string& key = keyFor(s.def);
  for (const auto& e : r.evidence) {
    EXPECT_EQ(e.find(key), std::string::npos) << e;
    EXPECT_EQ(e.find(key.substr(8, 20)), std::string::npos) << e;
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, CompatAnswer, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

// A path that strips the auth header turns a provider's answer into
// headers_rewritten for these providers too (Azure's header is api-key).
TEST(CompatEcho, StrippedApiKeyHeaderMakesAzuresRefusalHeadersRewritten) {
  const ProviderSpec& s = azureSpec();
  RouteResult r = healthyRoute(s, true);
  r.http.code = 401;
  r.http.headers = azureHeaders();
  r.http.body = R"({"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}})";
  r.echo.status = LayerStatus::Altered;
  r.echo.removed = {"api-key"};
  classifyRoute(s, r);
  EXPECT_EQ(toString(r.verdict), "headers_rewritten");
}

// ---------------------------------------------------------------- the tables

TEST(CompatTables, EveryRuleNamesItsCaseAndMeaning) {
  for (const ProviderDef* d : providerDefs()) {
    SCOPED_TRACE(std::string(d->id));
    EXPECT_FALSE(d->display.empty());
    EXPECT_FALSE(d->probe_path.empty());
    EXPECT_NE(d->envelope, nullptr);
    EXPECT_NE(d->extract, nullptr);
    EXPECT_NE(d->extract_text, nullptr);
    for (const auto& r : d->rules) {
      EXPECT_FALSE(r.name.empty());
      EXPECT_FALSE(r.meaning.empty()) << r.name;
      EXPECT_LE(r.status_lo, r.status_hi) << r.name;
    }
    for (const auto& r : d->edge) EXPECT_FALSE(r.meaning.empty()) << r.name;
  }
}

// pathwatch calls no third party unasked: the embedded defaults are the four.
TEST(CompatTables, OnlyTheFourOriginalsAreOnByDefault) {
  std::vector<std::string> on;
  for (const ProviderDef* d : providerDefs())
    if (d->default_enabled) on.emplace_back(d->id);
  EXPECT_EQ(on, (std::vector<std::string>{"openai", "anthropic", "gemini", "discord"}));
  for (const char* id : {"azure", "openrouter", "deepseek", "mistral", "groq", "xai", "together"})
    EXPECT_NE(findProviderDef(id), nullptr) << id;
  EXPECT_EQ(findBuiltin("azure"), std::nullopt) << "Azure has no public endpoint: a kind only";
}

TEST(CompatTables, UsualKeyVariables) {
  const std::pair<const char*, const char*> want[] = {
      {"azure", "AZURE_OPENAI_API_KEY"}, {"openrouter", "OPENROUTER_API_KEY"}, {"deepseek", "DEEPSEEK_API_KEY"},
      {"mistral", "MISTRAL_API_KEY"},    {"groq", "GROQ_API_KEY"},             {"xai", "XAI_API_KEY"},
      {"together", "TOGETHER_API_KEY"}};
  for (const auto& [id, env] : want) EXPECT_EQ(findProviderDef(id)->key_env, env) << id;
  EXPECT_EQ(findBuiltin("groq")->default_key_env, "GROQ_API_KEY");
}

// ---------------------------------------------------------------- key shapes

struct Owned {
  std::string key;
  const ProviderDef* owner;
};

std::vector<Owned> ownedKeys() {
  return {
      {kOpenAIKey, &providers::openai_provider},
      {"sk-Zq8vR2mXw4Ld9Kp3Nf6Tb1Yc7Hj5Gs0Ue2Wa4Qi8Ox3Vn6Bm", &providers::openai_provider},  // legacy sk- + 48
      {"sk-0123456789abcdef0123456789abcdef0123456789abcdef", &providers::openai_provider},  // legacy, all hex
      {kAnthropicKey, &providers::anthropic_provider},
      {kGeminiKey, &providers::gemini_provider},
      {kDiscordToken, &providers::discord_provider},
      {kGroqKey, &providers::groq_provider},
      {kOpenRouterKey, &providers::openrouter_provider},
      {kDeepSeekKey, &providers::deepseek_provider},
      {"sk-25EC84D8DBC74254770F58904DBA41EC", &providers::deepseek_provider},
      {kXaiKey, &providers::xai_provider},
      {kTogetherKey, &providers::together_provider},
      {kAzureKey, &providers::azure_provider},
  };
}

TEST(CompatKeyShapes, EachKeyIsItsOwnProvidersAndNoOneElses) {
  for (const auto& [key, owner] : ownedKeys()) {
    SCOPED_TRACE(std::string(owner->id) + " " + key.substr(0, 6));
    EXPECT_EQ(keyShapeOwner(key), owner);
    for (const ProviderDef* d : providerDefs()) {
      if (d != owner) {
        EXPECT_EQ(keyShapeMatch(*d, key), 0u) << d->id << " claims it too";
      }
    }
  }
}

TEST(CompatKeyShapes, NearMissesAreNobodys) {
  for (const std::string& key : {
           std::string("sk-25ec84d8dbc74254770f58904dba41e"),     // DeepSeek one short
           std::string("sk-25ec84d8dbc74254770f58904dba41ec0"),   // one long
           std::string("sk-25ec84d8dbc74254770f58904dba41eg"),    // not hex
           std::string("sk-or-v1-0123456789abcdef0123456789abcdef"),  // OpenRouter, 32 hex instead of 64
           kOpenRouterKey.substr(0, 72) + "z",
           std::string("gsk_") + std::string(51, 'a'),
           kXaiKey.substr(0, 83),
           std::string("tgp_v1_") + std::string(42, 'A'),
           kAzureKey.substr(0, 52) + "XQQJ" + kAzureKey.substr(56),
       })
    EXPECT_EQ(keyShapeOwner(key), nullptr) << key;
}

// Unconfirmed or featureless shapes are claimed by nobody, so they never make
// another provider's key "the wrong provider's".
TEST(CompatKeyShapes, FeaturelessShapesAreNotClaimed) {
  EXPECT_EQ(keyShapeOwner(kMistralKey), nullptr);      // 32 letters and digits: unconfirmed
  EXPECT_EQ(keyShapeOwner(kAzureLegacyKey), nullptr);  // 32 hex: an account id or a hash looks the same
  for (const ProviderDef* d : {&providers::openai_provider, &providers::groq_provider, &providers::mistral_provider}) {
    const auto k = inspectKey(*d, kMistralKey, "env:X", true);
    EXPECT_EQ(k.layer.status, LayerStatus::Ok) << d->id;
    const auto a = inspectKey(*d, kAzureLegacyKey, "env:X", true);
    EXPECT_EQ(a.layer.status, LayerStatus::Ok) << d->id;
  }
}

TEST(CompatKeyShapes, AnotherProvidersKeyIsWrongProviderShape) {
  struct Wrong {
    const ProviderDef* configured;
    std::string key;
    const char* looks_like;
  };
  for (const auto& c : std::vector<Wrong>{
           {&providers::openai_provider, kDeepSeekKey, "deepseek"},
           {&providers::deepseek_provider, "sk-Zq8vR2mXw4Ld9Kp3Nf6Tb1Yc7Hj5Gs0Ue2Wa4Qi8Ox3Vn6Bm", "openai"},
           {&providers::deepseek_provider, kOpenRouterKey, "openrouter"},
           {&providers::openrouter_provider, kOpenAIKey, "openai"},
           {&providers::groq_provider, kOpenAIKey, "openai"},
           {&providers::mistral_provider, kGroqKey, "groq"},
           {&providers::together_provider, kXaiKey, "xai"},
           {&providers::xai_provider, kTogetherKey, "together"},
           {&providers::openai_provider, kAzureKey, "azure"},
           {&providers::anthropic_provider, kGroqKey, "groq"},
       }) {
    SCOPED_TRACE(std::string(c.configured->id) + " with " + c.looks_like);
    const auto r = inspectKey(*c.configured, c.key, "env:X", true);
    EXPECT_EQ(r.layer.status, LayerStatus::Fail);
    EXPECT_NE(std::find(r.layer.problems.begin(), r.layer.problems.end(), "wrong_provider_shape"),
              r.layer.problems.end());
    EXPECT_EQ(r.layer.looks_like, c.looks_like);
  }
  for (const auto& [key, owner] : ownedKeys()) {
    const auto r = inspectKey(*owner, key, "env:X", true);
    EXPECT_EQ(r.layer.status, LayerStatus::Ok) << owner->id;
    EXPECT_EQ(r.layer.looks_like, owner->id);
  }
}

// The echo's stand-in key has the provider's shape (a proxy filtering by shape treats it alike).
TEST(CompatKeyShapes, CanariesHaveTheirProvidersShape) {
  for (const ProviderDef* d : {&providers::groq_provider, &providers::openrouter_provider,
                               &providers::deepseek_provider, &providers::xai_provider,
                               &providers::together_provider}) {
    std::string canary(d->canary);
    for (char& c : canary)
      if (c == '#') c = 'a';
    EXPECT_EQ(keyShapeOwner(canary), d) << d->id << " " << canary;
  }
}

TEST(CompatKeyShapes, NewKeysLookLikeKeysInTheConfigAndNamesDoNot) {
  for (const std::string& key : {kGroqKey, kOpenRouterKey, kDeepSeekKey, kXaiKey, kTogetherKey, kAzureKey})
    EXPECT_TRUE(containsApiKey("/etc/pathwatch/" + key)) << key.substr(0, 6);
  // Names and URLs an operator writes for these providers are not keys.
  for (const char* v : {"xai-eu-gateway-production", "groq-fallback-region-eu-west", "gsk_cache_for_the_team",
                        "tgp_v1_migration_notes_2026", "https://xai-gateway.internal.example/v1",
                        "https://res-eastus2.openai.azure.com", "openrouter-free-models-daily"})
    EXPECT_FALSE(containsApiKey(v)) << v;
}

// ---------------------------------------------------------------- config

const ProviderConfig* findProvider(const Config& c, const std::string& name) {
  for (const auto& p : c.providers)
    if (p.spec.name == name) return &p;
  return nullptr;
}

TEST(CompatConfig, NamingAnOptInBuiltinEnablesIt) {
  const Config c = parseConfig(R"({"providers": [{"name": "groq"}]})", "/etc/pathwatch/config.json");
  const ProviderConfig* g = findProvider(c, "groq");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->enabled);
  EXPECT_TRUE(g->spec.builtin);
  EXPECT_EQ(g->spec.def, &providers::groq_provider);
  EXPECT_EQ(g->spec.host, "api.groq.com");
  EXPECT_EQ(g->spec.probe_path, "/openai/v1/models");
  EXPECT_EQ(g->spec.default_key_env, "GROQ_API_KEY");
  // The others are known (`pathwatch check -p NAME` finds them) but not probed.
  for (const char* name : {"openrouter", "deepseek", "mistral", "xai", "together"}) {
    const ProviderConfig* p = findProvider(c, name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_FALSE(p->enabled) << name << " was not asked for";
  }
}

TEST(CompatConfig, EveryOptInBuiltinByNameWithItsProbe) {
  const Config c = parseConfig(
      R"({"providers": [{"name": "together"}, {"name": "xai"}, {"name": "openrouter", "key_env": "OR_KEY"},
                        {"name": "deepseek"}, {"name": "mistral", "enabled": false}, {"name": "groq"}]})",
      "/etc/pathwatch/config.json");
  ASSERT_EQ(c.providers.size(), 10u);
  // Built-ins in their own order, whatever the file's.
  const char* order[] = {"openai", "anthropic", "gemini", "discord", "openrouter",
                         "deepseek", "mistral", "groq", "xai", "together"};
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(c.providers[i].spec.name, order[i]);
  EXPECT_EQ(findProvider(c, "openrouter")->spec.probe_path, "/api/v1/key");
  EXPECT_EQ(findProvider(c, "openrouter")->key_env, "OR_KEY");
  EXPECT_EQ(findProvider(c, "deepseek")->spec.probe_path, "/user/balance");
  EXPECT_EQ(findProvider(c, "xai")->spec.probe_path, "/v1/models");
  EXPECT_EQ(findProvider(c, "together")->spec.probe_path, "/v1/models");
  EXPECT_EQ(findProvider(c, "mistral")->spec.probe_path, "/v1/models");
  EXPECT_FALSE(findProvider(c, "mistral")->enabled);
  EXPECT_TRUE(findProvider(c, "xai")->enabled);
}

TEST(CompatConfig, AzureIsAKindForCustomEntries) {
  const Config c = parseConfig(
      R"({"providers": [{"name": "myazure", "kind": "azure", "base_url": "https://x.openai.azure.com", "key_env": "AZURE_OPENAI_API_KEY"}]})",
      "/etc/pathwatch/config.json");
  const ProviderConfig* a = findProvider(c, "myazure");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->enabled);
  EXPECT_FALSE(a->spec.builtin);
  EXPECT_EQ(a->spec.def, &providers::azure_provider);
  EXPECT_EQ(a->spec.host, "x.openai.azure.com");
  EXPECT_EQ(a->spec.probe_path, "/openai/models?api-version=2024-10-21");
  EXPECT_EQ(displayName(a->spec), "myazure");

  const ProbeRequest with_key = buildProbeRequest(a->spec, kAzureKey);
  EXPECT_EQ(with_key.url, "https://x.openai.azure.com/openai/models?api-version=2024-10-21");
  bool api_key = false, authorization = false;
  for (const auto& [n, val] : with_key.headers) {
    if (n == "api-key") api_key = val == kAzureKey;
    if (iequals(n, "authorization")) authorization = true;
  }
  EXPECT_TRUE(api_key) << "the key goes in api-key, bare";
  EXPECT_FALSE(authorization) << "Bearer would be read as an Entra token";
  const ProbeRequest without = buildProbeRequest(a->spec, "");
  for (const auto& [n, _] : without.headers) EXPECT_NE(n, "api-key");

  // A name alone is not enough: there is no public Azure endpoint.
  EXPECT_THROW(parseConfig(R"({"providers": [{"name": "azure"}]})", "/etc/pathwatch/config.json"), ConfigError);
}

// Before these built-ins existed, docs/providers.md told operators to add
// them as custom "kind": "openai" entries under these very names.
TEST(CompatConfig, AnOldCustomEntryUnderANewBuiltinsNameKeepsWorking) {
  const Config c = parseConfig(
      R"({"providers": [{"name": "groq", "kind": "openai", "base_url": "https://api.groq.com/openai/v1", "key_env": "GROQ_API_KEY"},
                        {"name": "local-llm", "kind": "openai", "base_url": "https://llm.example.net/v1"}]})",
      "/etc/pathwatch/config.json");
  // The ten built-ins less the shadowed groq, then the file's two custom entries.
  ASSERT_EQ(c.providers.size(), 11u);
  int named_groq = 0;
  for (const auto& p : c.providers) named_groq += p.spec.name == "groq";
  EXPECT_EQ(named_groq, 1) << "one provider per name";
  const ProviderConfig* g = findProvider(c, "groq");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->spec.def, &providers::openai_provider);
  EXPECT_FALSE(g->spec.builtin);
  EXPECT_EQ(g->spec.probe_path, "/openai/v1/models");
  EXPECT_EQ(g->key_env, "GROQ_API_KEY");
  const ProviderConfig* l = findProvider(c, "local-llm");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->spec.def, &providers::openai_provider);
  EXPECT_EQ(buildProbeRequest(l->spec, "tok-123").url, "https://llm.example.net/v1/models");
  // The four originals' kinds still cannot change.
  EXPECT_THROW(parseConfig(R"({"providers": [{"name": "openai", "kind": "gemini", "base_url": "https://x.example"}]})",
                           "/etc/pathwatch/config.json"),
               ConfigError);
}

// docs/configuration.md: pathwatch calls no third party unasked, so the
// defaults probe the four; the compatible ones are known but off.
TEST(CompatConfig, TheDefaultsProbeTheFour) {
  const Config c = defaultConfig();
  std::vector<std::string> on, off;
  for (const auto& p : c.providers) (p.enabled ? on : off).push_back(p.spec.name);
  EXPECT_EQ(on, (std::vector<std::string>{"openai", "anthropic", "gemini", "discord"}));
  EXPECT_EQ(off, (std::vector<std::string>{"openrouter", "deepseek", "mistral", "groq", "xai", "together"}));
  for (const auto& p : c.providers) EXPECT_EQ(p.enabled, p.spec.def->default_enabled) << p.spec.name;
}

// `pathwatch check -p groq` without a config naming it: asked for, so probed.
TEST(CompatConfig, CheckByNameRunsAnOptInBuiltin) {
  CheckArgs args;
  args.providers = {"groq"};
  const Config c = resolveCheckConfig(args, "/nonexistent/pathwatch/config.json");
  const ProviderConfig* g = findProvider(c, "groq");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->enabled);
  EXPECT_TRUE(g->spec.builtin);
  args.providers = {"grok"};
  EXPECT_THROW(resolveCheckConfig(args, "/nonexistent/pathwatch/config.json"), ConfigError);
  args.providers = {"azure"};  // a kind, not a provider
  EXPECT_THROW(resolveCheckConfig(args, "/nonexistent/pathwatch/config.json"), ConfigError);
}

// ---------------------------------------------------------------- probes

TEST(CompatProbe, KeyValidatingProbes) {
  auto url = [](const char* name, std::string_view key) { return buildProbeRequest(*findBuiltin(name), key).url; };
  EXPECT_EQ(url("xai", ""), "https://api.x.ai/v1/models");
  EXPECT_EQ(url("xai", kXaiKey), "https://api.x.ai/v1/api-key");
  EXPECT_EQ(url("openrouter", ""), "https://openrouter.ai/api/v1/key");
  EXPECT_EQ(url("openrouter", kOpenRouterKey), "https://openrouter.ai/api/v1/key");
  EXPECT_EQ(url("deepseek", kDeepSeekKey), "https://api.deepseek.com/user/balance");
  EXPECT_EQ(url("groq", kGroqKey), "https://api.groq.com/openai/v1/models");
  EXPECT_EQ(url("mistral", ""), "https://api.mistral.ai/v1/models");
  EXPECT_EQ(url("together", kTogetherKey), "https://api.together.xyz/v1/models");
  const ProbeRequest r = buildProbeRequest(*findBuiltin("groq"), kGroqKey);
  bool bearer = false;
  for (const auto& [n, v] : r.headers) bearer |= n == "Authorization" && v == "Bearer " + kGroqKey;
  EXPECT_TRUE(bearer);
}

}  // namespace
}  // namespace pathwatch
