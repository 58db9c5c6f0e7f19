"""The OpenAI-compatible providers' answers in the lab backend (servers.py), as the
rows of docs/providers.md "OpenAI-compatible providers" show them: status, headers
and body per case (the case comes from nginx: key value, egress region). Where a
body is unconfirmed the lab answers in the provider's documented shape, and the
scenarios only rely on what pathwatch may rely on (the status, the key sent).
"""
import json
import secrets
import uuid

PROVIDERS = ("azure", "openrouter", "deepseek", "mistral", "groq", "xai", "together")
CLOUDFLARE_FRONTED = ("openrouter", "groq")  # answer /cdn-cgi/trace (world_providers.py)
COLO = {"DE": "FRA", "HK": "HKG", "NL": "AMS", "SG": "SIN"}


def j(obj):
    return json.dumps(obj)


def cf(region):
    return [("Server", "cloudflare"),
            ("cf-ray", secrets.token_hex(8) + "-" + COLO.get(region, "FRA")),
            ("cf-cache-status", "DYNAMIC")]


def openai_shaped(message, typ, code):
    return j({"error": {"message": message, "type": typ, "param": None, "code": code}})


def azure(case, path, query):
    rid = str(uuid.uuid4())
    h = [("Content-Type", "application/json"), ("apim-request-id", rid),
         ("x-request-id", str(uuid.uuid4())), ("x-ms-region", "East US"),
         ("x-content-type-options", "nosniff"),
         ("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload")]
    if path != "/openai/models" or "api-version=" not in query:
        return 404, h, j({"error": {"code": "404", "message": "Resource not found"}})

    def err(status, code, message, extra=()):
        return status, h + list(extra), j({"error": {"code": code, "message": message}})
    if case == "valid":
        return 200, h, j({"data": [{"id": "gpt-4o-2024-08-06", "status": "succeeded",
                                    "capabilities": {"chat_completion": True},
                                    "object": "model"}], "object": "list"})
    if case == "nokey":
        return 401, h, j({"statusCode": 401, "message": "Access denied due to missing "
                          "subscription key. Make sure to include subscription key when making "
                          "requests to an API."})
    if case == "quota":
        return err(429, "429", "Requests to the ChatCompletions_Create Operation under Azure "
                   "OpenAI API version 2023-05-15 have exceeded token rate limit of your current "
                   "AIServices S0 pricing tier. Please retry after 86400 seconds. Please contact "
                   "Azure support service if you would like to further increase the default rate "
                   "limit.", [("retry-after", "86400"), ("x-ratelimit-remaining-tokens", "0")])
    if case == "rate":
        return err(429, "429", "Requests to the ChatCompletions_Create Operation under Azure "
                   "OpenAI API version 2024-05-01-preview have exceeded token rate limit of your "
                   "current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: "
                   "https://aka.ms/oai/quotaincrease if you would like to further increase the "
                   "default rate limit.",
                   [("retry-after", "6"), ("retry-after-ms", "6000"),
                    ("policy-id", "DeploymentRatelimit-Token")])
    if case == "region":  # the resource's network ACL refuses the caller's address
        return err(403, "403", "Access denied due to Virtual Network/Firewall rules.",
                   [("policy-id", "ThrowExceptionDueToTrafficDenied")])
    if case == "perm":
        return err(401, "PermissionDenied", "Principal does not have access to API/Operation.")
    if case == "error":
        return err(500, "InternalServerError", "The service is temporarily unable to process "
                   "your request. Please try again later.")
    return err(401, "401", "Access denied due to invalid subscription key or wrong API "
               "endpoint. Make sure to provide a valid key for an active subscription and use a "
               "correct regional API endpoint for your resource.")


def openrouter(case, path, region):
    h = cf(region) + [("Content-Type", "application/json"), ("Access-Control-Allow-Origin", "*")]

    def err(status, message, metadata=None, extra=()):
        e = {"message": message, "code": status}
        if metadata is not None:
            e["metadata"] = metadata
        return status, h + list(extra), j({"error": e})
    if path != "/api/v1/key":
        return err(404, "Not Found")
    if case == "valid":
        return 200, h, j({"data": {"label": "sk-or-v1-…", "limit": None, "usage": 0.42,
                                   "is_provisioning_key": False, "limit_remaining": None,
                                   "is_free_tier": False,
                                   "rate_limit": {"requests": -1, "interval": "10s"}}})
    if case == "quota":  # the key's credit limit is spent: /key says so with a 200
        return 200, h, j({"data": {"label": "lab", "limit": 10, "usage": 10.0,
                                   "is_provisioning_key": False, "limit_remaining": 0,
                                   "is_free_tier": False}})
    if case == "nokey":
        return err(401, "No auth credentials found")
    if case == "rate":
        return err(429, "Rate limit exceeded", {"error_type": "rate_limit_exceeded",
                                                "provider_code": None},
                   [("Retry-After", "10"), ("X-RateLimit-Limit", "20"),
                    ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1795813210000")])
    if case == "region":
        return err(403, "This model is not available in your region.")
    if case == "perm":
        return err(403, "Your chosen model requires moderation and your input was flagged",
                   {"reasons": ["violence"], "provider_name": "OpenAI"})
    if case == "error":
        return err(503, "No endpoints found that can handle the request.",
                   {"error_type": "provider_overloaded"}, [("Retry-After", "30")])
    return err(401, "User not found.")


def deepseek(case, path):
    h = [("Content-Type", "application/json")]
    if case == "nokey":
        return 401, h, openai_shaped("Authentication Fails (auth header format should be Bearer "
                                     "sk-...)", "authentication_error", "invalid_request_error")
    if case == "invalid":
        return 401, h, openai_shaped("Authentication Fails, Your api key: ****%s is invalid" %
                                     secrets.token_hex(2), "authentication_error",
                                     "invalid_request_error")
    if path != "/user/balance":
        return 404, h, openai_shaped("Not Found", "invalid_request_error", "not_found")
    if case in ("valid", "quota"):
        return 200, h, j({"is_available": case == "valid", "balance_infos": [
            {"currency": "CNY", "total_balance": "110.00" if case == "valid" else "0.00",
             "granted_balance": "10.00" if case == "valid" else "0.00",
             "topped_up_balance": "100.00" if case == "valid" else "0.00"}]})
    if case == "rate":  # body unconfirmed: the documented shape
        return 429, h, openai_shaped("Rate Limit Reached", "rate_limit_error", None)
    if case == "error":
        return 503, h, openai_shaped("Server Overloaded", "server_error", None)
    return 401, h, openai_shaped("Authentication Fails (no such user)", "authentication_error",
                                 "invalid_request_error")


def mistral(case):
    h = [("Content-Type", "application/json")]

    def err(status, message, typ, code, extra=()):
        return status, h + list(extra), j({"object": "error", "message": message, "type": typ,
                                           "param": None, "code": code})
    if case == "valid":
        return 200, h + [("x-ratelimit-limit-req-minute", "60"),
                         ("x-ratelimit-remaining-req-minute", "59")], j(
            {"object": "list", "data": [{"id": "mistral-small-latest", "object": "model",
                                         "owned_by": "mistralai"}]})
    if case == "quota":  # 402 is documented; its body is not: the documented shape
        return err(402, "Payment required: your credits are exhausted.",
                   "invalid_request_error", None)
    if case == "rate":
        return err(429, "Rate limit exceeded", "rate_limited", "1300",
                   [("x-ratelimit-limit-req-minute", "60"),
                    ("x-ratelimit-remaining-req-minute", "0")])
    if case == "perm":
        return err(403, "You do not have access to this model.", "invalid_request_error", None)
    if case == "error":
        return err(503, "Service tier capacity exceeded for this model.", None, None)
    return 401, h, j({"detail": "Unauthorized"})  # no key and a wrong key alike


def groq(case, region):
    h = cf(region) + [("Content-Type", "application/json"), ("vary", "Origin"),
                      ("x-groq-region", "gcp-europe-west3"),
                      ("x-request-id", "req_" + secrets.token_hex(13)), ("via", "1.1 google")]

    def err(status, message, typ, code, extra=()):
        return status, h + list(extra), openai_shaped(message, typ, code)
    if case == "region":  # Cloudflare's block page, not Groq's JSON (seen from China)
        return 403, cf(region) + [("Content-Type", "text/html; charset=UTF-8")], (
            "<!DOCTYPE html>\n<html class=\"no-js\" lang=\"en-US\"><head>\n"
            "<title>Attention Required! | Cloudflare</title>\n"
            "<link rel=\"stylesheet\" id=\"cf_styles-css\" href=\"/cdn-cgi/styles/cf.errors.css\" />"
            "\n</head><body><div id=\"cf-wrapper\"><div id=\"cf-error-details\">\n"
            "<h1 data-translate=\"block_headline\">Sorry, you have been blocked</h1>\n"
            "<h2 class=\"cf-subheadline\">You are unable to access groq.com</h2>\n"
            "</div></div></body></html>\n")
    if case == "valid":
        return 200, h + [("x-ratelimit-limit-requests", "14400"),
                         ("x-ratelimit-remaining-requests", "14399")], j(
            {"object": "list", "data": [{"id": "llama-3.3-70b-versatile", "object": "model",
                                         "created": 1733447754, "owned_by": "Meta",
                                         "active": True, "context_window": 131072}]})
    if case == "quota":  # no credits answer known: the free tier's daily token limit
        return err(429, "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
                   "`org_01labrat0000000000000000` service tier `on_demand` on tokens per day "
                   "(TPD): Limit 100000, Used 99871, Requested 1042. Please try again in 9m38s.",
                   "tokens", "rate_limit_exceeded", [("retry-after", "578")])
    if case == "rate":
        return err(429, "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
                   "`org_01labrat0000000000000000` service tier `on_demand` on tokens per minute "
                   "(TPM): Limit 6000, Used 5978, Requested 1042. Please try again in 7.2s.",
                   "tokens", "rate_limit_exceeded",
                   [("retry-after", "7"), ("x-ratelimit-remaining-tokens", "0")])
    if case == "perm":
        return err(400, "Organization has been restricted. Please reach out to support if you "
                   "believe this was in error.", "invalid_request_error",
                   "organization_restricted")
    if case == "error":
        return err(503, "Service Unavailable", "internal_server_error", "service_unavailable")
    # A wrong key; its answer to no key is unconfirmed and played the same.
    return err(401, "Invalid API Key", "invalid_request_error", "invalid_api_key")


def xai(case, path):
    h = [("Content-Type", "application/json")]

    def err(status, code, error):
        return status, h, j({"code": code, "error": error})
    if case == "nokey":  # 401 is documented; the body is not
        return err(401, "The request does not have valid authentication credentials for the "
                   "operation", "No API key provided.")
    if case == "invalid":  # xAI answers a wrong key with 400
        return err(400, "Client specified an invalid argument", "Incorrect API key provided: "
                   "xa***%s. You can obtain an API key from https://console.x.ai." %
                   secrets.token_hex(1))
    if path != "/v1/api-key":
        return 404, h, j({"code": "Some requested entity was not found", "error": "Not found"})
    if case in ("valid", "perm"):
        return 200, h, j({"redacted_api_key": "xai-…lab0", "user_id": str(uuid.uuid4()),
                          "name": "lab", "create_time": "2026-01-05T10:00:00Z",
                          "modify_time": "2026-01-05T10:00:00Z", "modified_by": "lab",
                          "team_id": str(uuid.uuid4()), "acls": ["api-key:model:*",
                                                                 "api-key:endpoint:*"],
                          "api_key_id": str(uuid.uuid4()), "team_blocked": case == "perm",
                          "api_key_blocked": False, "api_key_disabled": False})
    if case == "quota":
        return err(403, "The caller does not have permission to execute the specified operation",
                   "Your newly created team doesn't have any credits or licenses yet. You can "
                   "purchase credits on https://console.x.ai/team/lab.")
    if case == "spendcap":
        return err(429, "Some resource has been exhausted", "Your team %s has either used all "
                   "available credits or reached its monthly spending limit. To continue making "
                   "API requests, please purchase more credits or raise your spending limit." %
                   uuid.uuid4())
    if case == "rate":
        return err(429, "Some resource has been exhausted", "Too many tokens for team %s: "
                   "Tokens per Minute (actual/limit): 65605/16000" % uuid.uuid4())
    return err(503, "The service is currently unavailable", "Service temporarily unavailable.")


def together(case):
    h = [("Content-Type", "application/json")]

    def err(status, message, typ, code, extra=()):
        return status, h + list(extra), j({"id": secrets.token_hex(8), "error": {
            "message": message, "type": typ, "param": None, "code": code}})
    if case == "valid":
        return 200, h, j([{"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model",
                           "created": 0, "type": "chat"}])
    if case == "quota":
        return err(402, "Credit limit exceeded. Please navigate to "
                   "https://api.together.xyz/settings/billing to add credit or upgrade your plan.",
                   "credit_limit", None)
    if case == "rate":  # typed credit_limit too: the status tells it apart
        return err(429, "You have been rate limited. Your rate limit is 60 queries per minute. "
                   "Please navigate to https://api.together.xyz/settings/billing to upgrade your "
                   "plan.", "credit_limit", None,
                   [("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0")])
    if case == "perm":
        return err(403, "Access to this model is allowed for build tier 2 and above. Please "
                   "upgrade your build tier.", "invalid_request_error", None)
    if case == "error":
        return err(503, "Engine Overloaded", "server_error", None)
    # A missing key and a wrong one get the same answer.
    return err(401, "Invalid API key provided. You can find your API key at "
               "https://api.together.xyz/settings/api-keys.", "invalid_request_error",
               "invalid_api_key")


def answer(provider, case, raw_path, region):
    """(status, headers, body) for one of PROVIDERS."""
    path, _, query = raw_path.partition("?")
    if provider == "azure":
        return azure(case, path, query)
    if provider == "openrouter":
        return openrouter(case, path, region)
    if provider == "deepseek":
        return deepseek(case, path)
    if provider == "mistral":
        return mistral(case)
    if provider == "groq":
        return groq(case, region)
    if provider == "xai":
        return xai(case, path)
    return together(case)
