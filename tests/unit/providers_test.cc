// Every row of docs/providers.md's tables as a captured answer (status, headers,
// body), named after its case: who wrote it, what was extracted, the verdict.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "providers/provider_def.h"
#include "answers/fixtures.h"
#include "pathwatch/classify.h"
#include "providers/signature.h"

namespace pathwatch {
namespace {

using namespace fixtures;

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
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const std::string kOpenAIQuota =
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.";

std::string openaiError(const std::string& message, const std::string& type, const std::string& code) {
  return "{\n    \"error\": {\n        \"message\": \"" + message + "\",\n        \"type\": \"" + type +
         "\",\n        \"param\": null,\n        \"code\": " + (code.empty() ? "null" : "\"" + code + "\"") +
         "\n    }\n}\n";
}

std::string anthropicError(const std::string& type, const std::string& message, const std::string& extra = "") {
  return R"({"type":"error","error":{"type":")" + type + R"(","message":")" + message + "\"" + extra +
         R"(},"request_id":"req_011CVaQx7Lm2Np5Rt8Vw1Yz4"})";
}

std::string geminiError(int code, const std::string& status, const std::string& message,
                        const std::string& details = "") {
  return "{\n  \"error\": {\n    \"code\": " + std::to_string(code) + ",\n    \"message\": \"" + message +
         "\",\n    \"status\": \"" + status + "\"" + (details.empty() ? "" : ",\n    \"details\": " + details) +
         "\n  }\n}\n";
}

std::string errorInfo(const std::string& reason) {
  return R"([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": ")" + reason +
         R"(", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])";
}

const std::string kCloudflare1009 = R"(<!DOCTYPE html>
<html class="no-js" lang="en-US"><head><title>Access denied | api.openai.com used Cloudflare to restrict access</title>
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" /></head>
<body><div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1><span class="cf-error-type">Error</span><span class="cf-error-code">1009</span></h1>
<h2 class="cf-subheadline">Access denied</h2>
<p>The owner of this website (api.openai.com) has banned the country or region your IP address is in (HK) from accessing this website.</p>
</div></div></body></html>)";

const std::string kCloudflare1020 = R"(<!DOCTYPE html>
<html><head><title>Access denied | api.openai.com used Cloudflare to restrict access</title>
<link rel="stylesheet" href="/cdn-cgi/styles/cf.errors.css" /></head><body>
<h1><span class="cf-error-type">Error</span><span class="cf-error-code">1020</span></h1>
<p>This website is using a security service to protect itself from online attacks.</p>
<p>Cloudflare Ray ID: 8e9f1a2b3c4d5e72</p></body></html>)";

const std::string kGoogleFrontEnd403 = R"(<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error 403 (Forbidden)!!1</title>
  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>
  <p><b>403.</b> <ins>That’s an error.</ins>
  <p>Your client does not have permission to get URL <code>/v1beta/models</code> from this server.  <ins>That’s all we know.</ins>
)";

const std::string kSquidDenied = R"(<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<html><head><meta type="copyright" content="Copyright (C) 1996-2023 The Squid Software Foundation and contributors">
<title>ERROR: The requested URL could not be retrieved</title></head><body id=ERR_ACCESS_DENIED>
<div id="content"><p>The following error was encountered while trying to retrieve the URL: <a href="https://api.openai.com/v1/models">https://api.openai.com/v1/models</a></p>
<blockquote id="error"><p><b>Access Denied.</b></p></blockquote>
<p>Access control configuration prevents your request from being allowed at this time. Please contact your service provider if you feel this is incorrect.</p>
<p>Your cache administrator is <a href="mailto:webmaster">webmaster</a>.</p></div>
<div id="footer"><p>Generated Fri, 27 Nov 2026 21:00:00 GMT by proxy.corp.example (squid/5.7)</p></div></body></html>)";

std::vector<Case> cases() {
  std::vector<Case> v;
  // ------------------------------------------------------------------ OpenAI
  v.push_back({"openai_no_key", "openai", false, 401, openaiHeaders(),
               openaiError("You didn't provide an API key. You need to provide your API key in an Authorization "
                           "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
                           "field (with blank username) if you're accessing the API from your browser and are "
                           "prompted for a username. You can obtain an API key from "
                           "https://platform.openai.com/account/api-keys.",
                           "invalid_request_error", ""),
               "provider", "invalid_request_error", "", "didn't provide an API key", std::nullopt, Verdict::Ok});
  v.push_back({"openai_invalid_key", "openai", true, 401, openaiHeaders(),
               openaiError("Incorrect API key provided: sk-proj-****************************************MxYA. You "
                           "can find your API key at https://platform.openai.com/account/api-keys.",
                           "invalid_request_error", "invalid_api_key"),
               "provider", "invalid_request_error", "invalid_api_key", "Incorrect API key provided", std::nullopt,
               Verdict::AuthFailed});
  v.push_back({"openai_not_in_org", "openai", true, 401, openaiHeaders(),
               openaiError("You must be a member of an organization to use the API. Please contact us through our "
                           "help center at help.openai.com.",
                           "invalid_request_error", "no_organization"),
               "provider", "invalid_request_error", "no_organization", "member of an organization", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"openai_org_header_mismatch", "openai", true, 401, openaiHeaders(),
               openaiError("OpenAI-Organization header should match organization for API key",
                           "invalid_request_error", "mismatched_organization"),
               "provider", "invalid_request_error", "mismatched_organization", "should match organization",
               std::nullopt, Verdict::PermissionDenied});
  v.push_back({"openai_restricted_key_scope", "openai", true, 401, openaiHeaders(),
               openaiError("You have insufficient permissions for this operation. Missing scopes: api.model.read. "
                           "Check that you have the correct role in your organization (Reader, Writer, Owner) and "
                           "project (Member, Owner), and if you're using a restricted API key, that it has the "
                           "necessary scopes.",
                           "invalid_request_error", ""),
               "provider", "invalid_request_error", "", "insufficient permissions", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"openai_model_not_found", "openai", true, 404, openaiHeaders(),
               openaiError("The model `gpt-4o-realtime` does not exist or you do not have access to it.",
                           "invalid_request_error", "model_not_found"),
               "provider", "invalid_request_error", "model_not_found", "does not exist", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"openai_region", "openai", true, 403, openaiHeaders(),
               openaiError("Country, region, or territory not supported", "request_forbidden",
                           "unsupported_country_region_territory"),
               "provider", "request_forbidden", "unsupported_country_region_territory",
               "Country, region, or territory not supported", std::nullopt, Verdict::RegionBlocked});
  // Headers on the region answer are unconfirmed: without x-request-id it is still a region refusal.
  v.push_back({"openai_region_without_marker", "openai", true, 403, cloudflareOnlyHeaders(),
               openaiError("Country, region, or territory not supported", "request_forbidden",
                           "unsupported_country_region_territory"),
               "unknown", "request_forbidden", "unsupported_country_region_territory", "not supported",
               std::nullopt, Verdict::RegionBlocked});
  v.push_back({"openai_rate_limit", "openai", true, 429,
               with(openaiHeaders(), {{"x-ratelimit-limit-requests", "500"},
                                      {"x-ratelimit-remaining-requests", "0"},
                                      {"x-ratelimit-reset-requests", "644ms"},
                                      {"retry-after-ms", "644"},
                                      {"retry-after", "1"}}),
               openaiError("Rate limit reached for gpt-4o in organization org-Ab12Cd34 on requests per min (RPM): "
                           "Limit 500, Used 500, Requested 1. Please try again in 644ms.",
                           "requests", "rate_limit_exceeded"),
               "provider", "requests", "rate_limit_exceeded", "Rate limit reached", 0.644, Verdict::RateLimited});
  for (const char* code : {"insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
                           "project_spend_limit_exceeded", "organization_usage_limit_exceeded"}) {
    v.push_back({std::string("openai_quota_") + code, "openai", true, 429, openaiHeaders(),
                 openaiError(kOpenAIQuota, "insufficient_quota", code), "provider", "insufficient_quota", code,
                 "exceeded your current quota", std::nullopt, Verdict::QuotaExhausted});
  }
  v.push_back({"openai_overloaded", "openai", true, 503, openaiHeaders(),
               openaiError("The server is overloaded or not ready yet.", "server_error", "server_is_overloaded"),
               "provider", "server_error", "server_is_overloaded", "overloaded", std::nullopt,
               Verdict::ProviderError});
  v.push_back({"openai_success", "openai", true, 200, openaiHeaders(),
               R"({"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});
  v.push_back({"openai_no_key_although_sent", "openai", true, 401, openaiHeaders(),
               openaiError("You didn't provide an API key. You need to provide your API key in an Authorization "
                           "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                           "invalid_request_error", ""),
               "provider", "invalid_request_error", "", "didn't provide", std::nullopt, Verdict::HeadersRewritten});

  // --------------------------------------------------------------- Anthropic
  v.push_back({"anthropic_no_key", "anthropic", false, 401, anthropicHeaders(),
               anthropicError("authentication_error", "x-api-key header is required"), "provider",
               "authentication_error", "", "x-api-key header is required", std::nullopt, Verdict::Ok});
  v.push_back({"anthropic_no_version_header", "anthropic", true, 400, anthropicHeaders(),
               anthropicError("invalid_request_error", "anthropic-version: header is required"), "provider",
               "invalid_request_error", "", "anthropic-version", std::nullopt, Verdict::HeadersRewritten});
  v.push_back({"anthropic_invalid_key", "anthropic", true, 401, anthropicHeaders(),
               anthropicError("authentication_error", "invalid x-api-key"), "provider", "authentication_error", "",
               "invalid x-api-key", std::nullopt, Verdict::AuthFailed});
  v.push_back({"anthropic_permission", "anthropic", true, 403, anthropicHeaders(),
               anthropicError("permission_error", "Permission denied"), "provider", "permission_error", "",
               "Permission denied", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"anthropic_unknown_model", "anthropic", true, 404, anthropicHeaders(),
               anthropicError("not_found_error", "model: claude-9-opus"), "provider", "not_found_error", "",
               "model:", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"anthropic_org_disabled", "anthropic", true, 400, anthropicHeaders(),
               anthropicError("invalid_request_error", "This organization has been disabled."), "provider",
               "invalid_request_error", "", "disabled", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"anthropic_credits_too_low", "anthropic", true, 400, anthropicHeaders(),
               anthropicError("invalid_request_error",
                              "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
                              "Billing to upgrade or purchase credits."),
               "provider", "invalid_request_error", "", "credit balance is too low", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"anthropic_billing", "anthropic", true, 402, anthropicHeaders(),
               anthropicError("billing_error", "There is an issue with your billing. Please check Plans & Billing."),
               "provider", "billing_error", "", "billing", std::nullopt, Verdict::QuotaExhausted});
  v.push_back({"anthropic_own_spend_limit", "anthropic", true, 400, anthropicHeaders(),
               anthropicError("invalid_request_error",
                              "You have reached your specified API usage limits. You will regain access on "
                              "2026-12-01 at 00:00 UTC."),
               "provider", "invalid_request_error", "", "specified API usage limits", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"anthropic_spend_cap", "anthropic", true, 429, anthropicHeaders(),
               anthropicError("rate_limit_error", "Your organization has reached its monthly spend limit.",
                              R"(,"details":{"error_code":"enforced_spend_limit_reached"})"),
               "provider", "rate_limit_error", "enforced_spend_limit_reached", "spend limit", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"anthropic_rate_limit", "anthropic", true, 429,
               with(anthropicHeaders(), {{"retry-after", "17"},
                                         {"anthropic-ratelimit-requests-limit", "50"},
                                         {"anthropic-ratelimit-requests-remaining", "0"},
                                         {"anthropic-ratelimit-requests-reset", "2026-11-27T21:00:17Z"}}),
               anthropicError("rate_limit_error",
                              "This request would exceed the rate limit for your organization "
                              "(0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d) of 50 requests per minute."),
               "provider", "rate_limit_error", "", "exceed the rate limit", 17.0, Verdict::RateLimited});
  v.push_back({"anthropic_overloaded", "anthropic", true, 529, anthropicHeaders(),
               anthropicError("overloaded_error", "Overloaded"), "provider", "overloaded_error", "", "Overloaded",
               std::nullopt, Verdict::ProviderError});
  v.push_back({"anthropic_edge_region_block", "anthropic", true, 403,
               {{"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
                {"content-type", "application/json"},
                {"content-length", "61"},
                {"server", "cloudflare"},
                {"cf-ray", "8e9f1a2b3c4d5e73-HKG"}},
               R"({"error":{"type":"forbidden","message":"Request not allowed"}})", "edge", "forbidden",
               "anthropic_edge_forbidden", "Request not allowed", std::nullopt, Verdict::RegionBlocked});
  v.push_back({"anthropic_success", "anthropic", true, 200, anthropicHeaders(),
               R"({"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"claude-sonnet-4-5"})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});

  // ------------------------------------------------------------------ Gemini
  v.push_back({"gemini_no_key", "gemini", false, 403, geminiHeaders(),
               geminiError(403, "PERMISSION_DENIED",
                           "Method doesn't allow unregistered callers (callers without established identity). "
                           "Please use API Key or other form of API consumer identity to call this API.",
                           R"([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_INVALID", "domain": "googleapis.com"}])"),
               "provider", "PERMISSION_DENIED", "CONSUMER_INVALID", "unregistered callers", std::nullopt, Verdict::Ok});
  v.push_back({"gemini_no_key_although_sent", "gemini", true, 403, geminiHeaders(),
               geminiError(403, "PERMISSION_DENIED",
                           "Method doesn't allow unregistered callers (callers without established identity). "
                           "Please use API Key or other form of API consumer identity to call this API."),
               "provider", "PERMISSION_DENIED", "", "unregistered callers", std::nullopt, Verdict::HeadersRewritten});
  v.push_back({"gemini_invalid_key", "gemini", true, 400, geminiHeaders(),
               geminiError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                           errorInfo("API_KEY_INVALID")),
               "provider", "INVALID_ARGUMENT", "API_KEY_INVALID", "API key not valid", std::nullopt,
               Verdict::AuthFailed});
  v.push_back({"gemini_expired_key", "gemini", true, 400, geminiHeaders(),
               geminiError(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.",
                           errorInfo("API_KEY_INVALID")),
               "provider", "INVALID_ARGUMENT", "API_KEY_INVALID", "expired", std::nullopt, Verdict::AuthFailed});
  v.push_back({"gemini_leaked_key", "gemini", true, 403, geminiHeaders(),
               geminiError(403, "PERMISSION_DENIED",
                           "Your API key was reported as leaked. Please use another API key."),
               "provider", "PERMISSION_DENIED", "", "leaked", std::nullopt, Verdict::AuthFailed});
  v.push_back({"gemini_key_suspended", "gemini", true, 403, geminiHeaders(),
               geminiError(403, "PERMISSION_DENIED",
                           "Permission denied: Consumer 'api_key:AIzaSyB3...' has been suspended.",
                           errorInfo("CONSUMER_SUSPENDED")),
               "provider", "PERMISSION_DENIED", "CONSUMER_SUSPENDED", "suspended", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"gemini_key_restricted_to_other_api", "gemini", true, 403, geminiHeaders(),
               geminiError(403, "PERMISSION_DENIED",
                           "Requests to this API generativelanguage.googleapis.com method "
                           "google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked.",
                           errorInfo("API_KEY_SERVICE_BLOCKED")),
               "provider", "PERMISSION_DENIED", "API_KEY_SERVICE_BLOCKED", "are blocked", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"gemini_api_not_enabled", "gemini", true, 403, geminiHeaders(),
               geminiError(403, "PERMISSION_DENIED",
                           "Generative Language API has not been used in project 123456789012 before or it is "
                           "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
                           "generativelanguage.googleapis.com/overview?project=123456789012 then retry.",
                           errorInfo("SERVICE_DISABLED")),
               "provider", "PERMISSION_DENIED", "SERVICE_DISABLED", "has not been used in project", std::nullopt,
               Verdict::PermissionDenied});
  v.push_back({"gemini_region", "gemini", true, 400, geminiHeaders(),
               geminiError(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
               "provider", "FAILED_PRECONDITION", "", "User location is not supported", std::nullopt,
               Verdict::RegionBlocked});
  v.push_back({"gemini_free_tier_not_in_country", "gemini", true, 400, geminiHeaders(),
               geminiError(400, "FAILED_PRECONDITION",
                           "Gemini API free tier is not available in your country. Please enable billing on your "
                           "project in Google AI Studio."),
               "provider", "FAILED_PRECONDITION", "", "free tier is not available", std::nullopt,
               Verdict::RegionBlocked});
  v.push_back({"gemini_rate_per_minute", "gemini", true, 429, geminiHeaders(),
               geminiError(429, "RESOURCE_EXHAUSTED",
                           "You exceeded your current quota, please check your plan and billing details.",
                           R"([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "15"}]}, {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}])"),
               "provider", "RESOURCE_EXHAUSTED", "", "exceeded your current quota", 12.0, Verdict::RateLimited});
  v.push_back({"gemini_daily_quota", "gemini", true, 429, geminiHeaders(),
               geminiError(429, "RESOURCE_EXHAUSTED",
                           "You exceeded your current quota, please check your plan and billing details.",
                           R"([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "1500"}]}, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "41s"}])"),
               "provider", "RESOURCE_EXHAUSTED", "", "exceeded your current quota", 41.0, Verdict::QuotaExhausted});
  v.push_back({"gemini_no_quota_limit_0", "gemini", true, 429, geminiHeaders(),
               geminiError(429, "RESOURCE_EXHAUSTED",
                           "You exceeded your current quota, please check your plan and billing details.\\n* Quota "
                           "exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count, "
                           "limit: 0, model: gemini-2.5-pro",
                           R"([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier"}]}, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7.5s"}])"),
               "provider", "RESOURCE_EXHAUSTED", "", "limit: 0", 7.5, Verdict::QuotaExhausted});
  v.push_back({"gemini_prepay_depleted", "gemini", true, 402, geminiHeaders(),
               geminiError(402, "RESOURCE_EXHAUSTED",
                           "Your prepayment credits are depleted. Please go to AI Studio to manage your project and "
                           "billing."),
               "provider", "RESOURCE_EXHAUSTED", "", "prepayment credits are depleted", std::nullopt,
               Verdict::QuotaExhausted});
  v.push_back({"gemini_success", "gemini", true, 200, geminiHeaders(),
               R"({"models": [{"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash"}], "nextPageToken": "Ch5tb2RlbHMvZ2VtaW5p"})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});
  v.push_back({"gemini_google_front_end_403", "gemini", true, 403,
               {{"content-type", "text/html; charset=UTF-8"}, {"date", "Fri, 27 Nov 2026 21:00:00 GMT"},
                {"server", "GFE/2.0"}},
               kGoogleFrontEnd403, "edge", "", "google_front_end", "Error 403 (Forbidden)!!1", std::nullopt,
               Verdict::MiddleboxBlocked});

  // ----------------------------------------------------------------- Discord
  v.push_back({"discord_gateway_without_token", "discord", false, 200, discordHeaders(),
               R"({"url": "wss://gateway.discord.gg"})", "provider", "", "", "", std::nullopt, Verdict::Ok});
  v.push_back({"discord_unauthorized_without_token", "discord", false, 401, discordHeaders(),
               R"({"message": "401: Unauthorized", "code": 0})", "provider", "", "0", "401: Unauthorized",
               std::nullopt, Verdict::Ok});
  v.push_back({"discord_invalid_token", "discord", true, 401, discordHeaders(),
               R"({"message": "401: Unauthorized", "code": 0})", "provider", "", "0", "401: Unauthorized",
               std::nullopt, Verdict::AuthFailed});
  v.push_back({"discord_missing_access", "discord", true, 403, discordHeaders(),
               R"({"message": "Missing Access", "code": 50001})", "provider", "", "50001", "Missing Access",
               std::nullopt, Verdict::PermissionDenied});
  v.push_back({"discord_missing_permissions", "discord", true, 403, discordHeaders(),
               R"({"message": "Missing Permissions", "code": 50013})", "provider", "", "50013",
               "Missing Permissions", std::nullopt, Verdict::PermissionDenied});
  v.push_back({"discord_rate_limit", "discord", true, 429,
               with(discordHeaders(), {{"retry-after", "65"}, {"x-ratelimit-scope", "user"}}),
               R"({"message": "You are being rate limited.", "retry_after": 64.57, "global": false})", "provider",
               "", "", "You are being rate limited", 64.57, Verdict::RateLimited});
  v.push_back({"discord_cloudflare_ban_html", "discord", true, 429,
               with(cloudflareOnlyHeaders(), {{"retry-after", "1800"}}), "error code: 1015", "edge", "",
               "discord_cloudflare_ban", "error code: 1015", 1800.0, Verdict::MiddleboxBlocked});
  v.push_back({"discord_cloudflare_ban_json", "discord", true, 429,
               {{"content-type", "application/json"}, {"server", "cloudflare"}, {"cf-ray", "8e9f1a2b3c4d5e74-SIN"}},
               R"({"message": "You are being blocked from accessing our API temporarily due to exceeding our rate limits frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits to prevent this moving forward.", "code": 0})",
               "edge", "", "0", "You are being blocked", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"discord_users_me", "discord", true, 200, discordHeaders(),
               R"({"id": "1098765432109876543", "username": "pathwatch-bot", "discriminator": "0", "bot": true})",
               "provider", "", "", "", std::nullopt, Verdict::Ok});

  // ------------------------------------------------- edges and middleboxes
  v.push_back({"cloudflare_1009_country_banned", "openai", true, 403, cloudflareOnlyHeaders(), kCloudflare1009,
               "edge", "", "cloudflare_1009", "Access denied", std::nullopt, Verdict::RegionBlocked});
  v.push_back({"cloudflare_1020_waf", "openai", true, 403, cloudflareOnlyHeaders(), kCloudflare1020, "edge", "",
               "cloudflare_1020", "Access denied", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"cloudflare_1015_rate", "openai", true, 429, cloudflareOnlyHeaders(),
               "<!DOCTYPE html><html><head><title>Access denied | api.openai.com used Cloudflare to restrict "
               "access</title></head><body><span class=\"cf-error-code\">1015</span> You are being rate limited"
               "</body></html>",
               "edge", "", "cloudflare_1015", "Access denied", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"cloudflare_attention_required", "anthropic", true, 403, cloudflareOnlyHeaders(),
               "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, "
               "you have been blocked</h1><h2>You are unable to access anthropic.com</h2></body></html>",
               "edge", "", "cloudflare_block", "Attention Required", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"cloudflare_challenge", "openai", true, 403,
               with(cloudflareOnlyHeaders(), {{"cf-mitigated", "challenge"}}),
               "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body><script>"
               "window._cf_chl_opt={cvId: '3'};</script></body></html>",
               "edge", "", "cloudflare_challenge", "Just a moment", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"cloudflare_502_origin_down", "openai", true, 502, cloudflareOnlyHeaders(),
               "<html><head><title>api.openai.com | 502: Bad gateway</title></head><body>Cloudflare Ray ID: "
               "8e9f1a2b3c4d5e72</body></html>",
               "edge", "", "cloudflare_5xx", "502: Bad gateway", std::nullopt, Verdict::ProviderError});
  v.push_back({"squid_access_denied", "openai", true, 403,
               {{"Server", "squid/5.7"}, {"Mime-Version", "1.0"}, {"Date", "Fri, 27 Nov 2026 21:00:00 GMT"},
                {"Content-Type", "text/html;charset=utf-8"}, {"X-Squid-Error", "ERR_ACCESS_DENIED 0"},
                {"Vary", "Accept-Language"}, {"X-Cache", "MISS from proxy.corp.example"},
                {"Via", "1.1 proxy.corp.example (squid/5.7)"}},
               kSquidDenied, "middlebox", "", "ERR_ACCESS_DENIED 0", "The requested URL could not be retrieved",
               std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"squid_dns_fail", "openai", true, 503,
               {{"Server", "squid/5.7"}, {"Content-Type", "text/html;charset=utf-8"},
                {"X-Squid-Error", "ERR_DNS_FAIL 0"}, {"Via", "1.1 proxy.corp.example (squid/5.7)"}},
               "<html><head><title>ERROR: The requested URL could not be retrieved</title></head><body "
               "id=ERR_DNS_FAIL>Unable to determine IP address from host name api.openai.com</body></html>",
               "middlebox", "", "ERR_DNS_FAIL 0", "could not be retrieved", std::nullopt, Verdict::ProxyFailed});
  v.push_back({"squid_proxy_auth_required", "openai", true, 407,
               {{"Server", "squid/5.7"}, {"Proxy-Authenticate", "Basic realm=\"corp\""},
                {"X-Squid-Error", "ERR_CACHE_ACCESS_DENIED 0"}, {"Content-Type", "text/html;charset=utf-8"}},
               "<html><head><title>ERROR: Cache Access Denied</title></head><body></body></html>", "middlebox", "",
               "ERR_CACHE_ACCESS_DENIED 0", "Cache Access Denied", std::nullopt, Verdict::ProxyFailed});
  v.push_back({"zscaler_block", "openai", true, 403,
               {{"Server", "Zscaler/6.2"}, {"Content-Type", "text/html"}},
               "<html><head><title>Website blocked</title></head><body>Your organization has blocked access to "
               "api.openai.com. Internet Security by Zscaler</body></html>",
               "middlebox", "", "zscaler", "Website blocked", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"bluecoat_redirect", "openai", true, 302,
               {{"Location", "http://proxysg/?cfru=aHR0cHM6Ly9hcGkub3BlbmFpLmNvbS92MS9tb2RlbHM="},
                {"X-BlueCoat-Via", "7ac35a8a0bf1c2d3"}},
               "", "middlebox", "", "bluecoat", "", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"fortiguard_block", "anthropic", true, 403, {{"Content-Type", "text/html"}},
               "<html><head><title>Web Page Blocked</title></head><body><p>The page you have requested has been "
               "blocked, because the URL is banned.</p><p>FortiGuard Web Filtering</p></body></html>",
               "middlebox", "", "fortinet", "Web Page Blocked", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"paloalto_block", "openai", true, 503, {{"Content-Type", "text/html"}},
               "<html><head><title>Web Page Blocked</title></head><body>Access to the web page you were trying to "
               "visit has been blocked in accordance with company policy.</body></html>",
               "middlebox", "", "paloalto", "Web Page Blocked", std::nullopt, Verdict::ProxyFailed});
  v.push_back({"sophos_block", "gemini", true, 403, {{"Content-Type", "text/html"}},
               "<html><head><title>Access blocked</title></head><body>Sophos Web Appliance: the site "
               "generativelanguage.googleapis.com is blocked.</body></html>",
               "middlebox", "", "sophos", "Access blocked", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"sonicwall_block", "openai", true, 200, {{"Content-Type", "text/html"}},
               "<html><head><title>Web Site Blocked</title></head><body>This site has been blocked by the network "
               "administrator. SonicWall Content Filter Service</body></html>",
               "middlebox", "", "sonicwall", "Web Site Blocked", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"cisco_umbrella_block", "discord", true, 403, {{"Content-Type", "text/html"}},
               "<html><head><title>Site Blocked</title></head><body>This site is blocked due to Cisco Umbrella "
               "policy.</body></html>",
               "middlebox", "", "cisco_umbrella", "Site Blocked", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"captive_portal_redirect", "openai", false, 302,
               {{"Location", "http://login.hotel-wifi.example/portal?orig=api.openai.com"},
                {"Content-Length", "0"}},
               "", "middlebox", "", "captive_portal", "", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"captive_portal_login_page", "anthropic", false, 200, {{"Content-Type", "text/html"}},
               "<html><head><title>Guest Wi-Fi</title></head><body><form action=\"/login\"><input name=\"user\">"
               "<input type=\"password\" name=\"pw\"></form></body></html>",
               "middlebox", "", "captive_portal", "Guest Wi-Fi", std::nullopt, Verdict::MiddleboxBlocked});
  v.push_back({"unnamed_proxy_refusal", "openai", true, 403,
               {{"Via", "1.1 gateway.corp.example"}, {"X-Cache", "MISS from gateway.corp.example"},
                {"Content-Type", "text/plain"}},
               "Forbidden by gateway policy", "middlebox", "", "proxy", "Forbidden by gateway policy", std::nullopt,
               Verdict::MiddleboxBlocked});
  v.push_back({"provider_answer_relayed_by_squid", "openai", true, 401,
               with(openaiHeaders(), {{"Via", "1.1 proxy.corp.example (squid/5.7)"},
                                      {"X-Cache", "MISS from proxy.corp.example"}}),
               openaiError("Incorrect API key provided: sk-proj-****MxYA.", "invalid_request_error",
                           "invalid_api_key"),
               "provider", "invalid_request_error", "invalid_api_key", "Incorrect API key", std::nullopt,
               Verdict::AuthFailed});
  v.push_back({"unknown_html_page", "openai", true, 200, {{"Content-Type", "text/html"}},
               "<html><head><title>Welcome to nginx!</title></head><body>It works</body></html>", "unknown", "", "",
               "", std::nullopt, Verdict::Unexpected});
  v.push_back({"openai_shape_without_marker", "openai", true, 401, {{"content-type", "application/json"}},
               openaiError("Incorrect API key provided: sk-proj-****MxYA.", "invalid_request_error",
                           "invalid_api_key"),
               "unknown", "invalid_request_error", "invalid_api_key", "Incorrect API key", std::nullopt,
               Verdict::Unexpected});
  return v;
}

class ProviderAnswer : public ::testing::TestWithParam<Case> {};

TEST_P(ProviderAnswer, AuthorFieldsAndVerdict) {
  const Case& c = GetParam();
  const ProviderSpec& s = spec(c.provider.c_str());
  RouteResult r = healthyRoute(s, c.key_sent);
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
  EXPECT_LE(r.http.message.size(), 310u);
  if (c.retry_after) {
    ASSERT_TRUE(r.http.retry_after_s.has_value());
    EXPECT_NEAR(*r.http.retry_after_s, *c.retry_after, 1e-6);
  } else {
    EXPECT_FALSE(r.http.retry_after_s.has_value()) << *r.http.retry_after_s;
  }
  EXPECT_EQ(toString(r.verdict), toString(c.verdict));
  EXPECT_FALSE(r.evidence.empty());
  const std::string& key = keyFor(s.def);
  for (const auto& e : r.evidence) {
    EXPECT_EQ(e.find(key), std::string::npos) << e;
    EXPECT_EQ(e.find(key.substr(8, 24)), std::string::npos) << e;
  }
}

INSTANTIATE_TEST_SUITE_P(Captured, ProviderAnswer, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

// A rate-limit answer carries its hints into `rate`.
TEST(ProviderAnswerFields, RateHeadersAndQuotaIdsAreKept) {
  const ProviderSpec& s = spec("gemini");
  HttpLayer h;
  h.status = LayerStatus::Ok;
  h.code = 429;
  h.headers = geminiHeaders();
  h.body = geminiError(429, "RESOURCE_EXHAUSTED", "quota",
                       R"([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "0"}]}])");
  analyzeAnswer(s, h);
  EXPECT_EQ(h.rate["quota_id"], "GenerateRequestsPerDayPerProjectPerModel-FreeTier");
  EXPECT_EQ(h.rate["quota_limit"], "0");

  const ProviderSpec& o = spec("openai");
  HttpLayer oh;
  oh.status = LayerStatus::Ok;
  oh.code = 429;
  oh.headers = with(openaiHeaders(), {{"X-RateLimit-Remaining-Tokens", "0"}, {"x-ratelimit-reset-tokens", "6m0s"}});
  oh.body = openaiError("Rate limit reached", "tokens", "rate_limit_exceeded");
  analyzeAnswer(o, oh);
  EXPECT_EQ(oh.rate["x-ratelimit-remaining-tokens"], "0");
  EXPECT_EQ(oh.rate["x-ratelimit-reset-tokens"], "6m0s");
}

TEST(ProviderAnswerFields, RetryAfterAsHttpDateCountsFromTheServersDate) {
  HttpLayer h;
  h.status = LayerStatus::Ok;
  h.code = 429;
  h.headers = with(openaiHeaders(), {{"Retry-After", "Fri, 27 Nov 2026 21:01:30 GMT"}});
  h.body = openaiError("Rate limit reached", "requests", "rate_limit_exceeded");
  analyzeAnswer(spec("openai"), h);
  ASSERT_TRUE(h.retry_after_s.has_value());
  EXPECT_DOUBLE_EQ(*h.retry_after_s, 90.0);
}

TEST(ProviderAnswerFields, MessageIsCappedAndSingleLine) {
  HttpLayer h;
  h.status = LayerStatus::Ok;
  h.code = 400;
  h.headers = openaiHeaders();
  h.body = openaiError(std::string(2000, 'x') + "\\n\\nsecond line", "invalid_request_error", "");
  analyzeAnswer(spec("openai"), h);
  EXPECT_LE(h.message.size(), 310u);
  EXPECT_EQ(h.message.find('\n'), std::string::npos);
}

TEST(ProviderAnswerFields, TruncatedJsonStillYieldsTheFields) {
  HttpLayer h;
  h.status = LayerStatus::Ok;
  h.code = 401;
  h.headers = openaiHeaders();
  const std::string full = openaiError("Incorrect API key provided: sk-proj-****MxYA.", "invalid_request_error",
                                       "invalid_api_key");
  h.body = full.substr(0, full.size() - 8);
  h.body_truncated = true;
  analyzeAnswer(spec("openai"), h);
  EXPECT_EQ(h.authored_by, "provider");
  EXPECT_EQ(h.error_code, "invalid_api_key");
  EXPECT_EQ(h.error_type, "invalid_request_error");
}

// Every table row has at least one positive condition, so none matches everything.
TEST(SignatureTables, EveryBlockRuleHasAPositiveCondition) {
  std::vector<std::span<const sig::BlockRule>> tables = {sig::cloudflareRules(), sig::middleboxRules(),
                                                         sig::proxyMarkRules()};
  for (const ProviderDef* k : {&providers::openai_provider, &providers::anthropic_provider, &providers::gemini_provider, &providers::discord_provider})
    tables.push_back(k->edge);
  for (const auto& t : tables)
    for (const auto& r : t) {
      SCOPED_TRACE(std::string(r.name));
      EXPECT_TRUE(!r.header.empty() || !r.body_has.empty() || !r.json_error_type.empty() ||
                  r.foreign_redirect == sig::Need::Yes);
      EXPECT_FALSE(r.meaning.empty());
      EXPECT_FALSE(r.product.empty());
    }
}

TEST(SignatureTables, EveryAnswerRuleNamesItsCaseAndMeaning) {
  for (const ProviderDef* k : {&providers::openai_provider, &providers::anthropic_provider, &providers::gemini_provider, &providers::discord_provider})
    for (const auto& r : k->rules) {
      EXPECT_FALSE(r.name.empty());
      EXPECT_FALSE(r.meaning.empty()) << r.name;
      EXPECT_LE(r.status_lo, r.status_hi) << r.name;
    }
}

}  // namespace
}  // namespace pathwatch
