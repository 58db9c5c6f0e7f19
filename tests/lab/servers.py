#!/usr/bin/python3
"""Small servers the lab runs inside its "inet" namespace (Python stdlib only).

  backend  --listen 127.0.0.1:8000 --log FILE
      The providers' answers. nginx terminates TLS under each real name, picks
      the case (by egress address and auth header value, with geo/map) and
      passes it here in X-Lab-* headers; this writes the exact status, headers
      and body the provider (or its Cloudflare edge) would. nginx passes our
      Server header through (proxy_pass_header Server).
  garbage  --listen 198.18.100.62:443 --cert PEM --key PEM
      Completes the TLS handshake, then writes bytes that are not HTTP.
  echo     --listen 198.18.80.1:8080
      An httpbin-style /anything stand-in, only used when the pathwatch binary
      has no working echo-server yet.
"""
import argparse
import json
import secrets
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # keep the source tree clean
import servers_providers  # noqa: E402  the OpenAI-compatible providers' answers

COLO = {"DE": "FRA", "HK": "HKG", "NL": "AMS", "SG": "SIN"}


def rid():
    return "req_" + secrets.token_hex(16)


def cf_headers(region):
    return [("Server", "cloudflare"),
            ("cf-ray", secrets.token_hex(8) + "-" + COLO.get(region, "FRA")),
            ("cf-cache-status", "DYNAMIC")]


def j(obj):
    return json.dumps(obj, indent=2) + "\n"


def google_error(code, status, message, details=None):
    err = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return j({"error": err})


def google_info(reason):
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}}


def google_quota(quota_id, metric, retry):
    return [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": metric, "quotaId": quota_id,
                         "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                         "quotaValue": "50"}]},
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry},
    ]


GOOGLE_HEADERS = [("Server", "scaffolding on HTTPServer2"), ("Vary", "Origin"),
                  ("Vary", "X-Origin"), ("Vary", "Referer"),
                  ("X-XSS-Protection", "0"), ("X-Frame-Options", "SAMEORIGIN"),
                  ("X-Content-Type-Options", "nosniff"),
                  ("Alt-Svc", 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000')]


def openai_answer(case, key_tail, region):
    h = cf_headers(region) + [("Content-Type", "application/json"),
                              ("x-request-id", rid()), ("openai-version", "2020-10-01"),
                              ("openai-processing-ms", "12"),
                              ("strict-transport-security", "max-age=31536000; includeSubDomains; preload")]

    def err(status, message, typ, code, extra=()):
        return status, h + list(extra), j({"error": {"message": message, "type": typ,
                                                     "param": None, "code": code}})
    if case == "region":
        return 403, h, j({"error": {"code": "unsupported_country_region_territory",
                                    "message": "Country, region, or territory not supported",
                                    "param": None, "type": "request_forbidden"}})
    if case == "valid":
        return 200, h + [("x-ratelimit-limit-requests", "10000"),
                         ("x-ratelimit-remaining-requests", "9999")], j(
            {"object": "list", "data": [
                {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
                {"id": "gpt-4o-mini", "object": "model", "created": 1721172741,
                 "owned_by": "system"}]})
    if case == "nokey":
        return err(401, "You didn't provide an API key. You need to provide your API key in an "
                   "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                   "or as the password field (with blank username) if you're accessing the API "
                   "from your browser and are prompted for a username. You can obtain an API key "
                   "from https://platform.openai.com/account/api-keys.",
                   "invalid_request_error", None)
    if case == "quota":
        return err(429, "You exceeded your current quota, please check your plan and billing "
                   "details. For more information on this error, read the docs: "
                   "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                   "insufficient_quota", "insufficient_quota")
    if case == "rate":
        return err(429, "Rate limit reached for gpt-4o in organization org-LabOrg0000000000000000 "
                   "on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try "
                   "again in 644ms. Visit https://platform.openai.com/account/rate-limits to "
                   "learn more.", "requests", "rate_limit_exceeded",
                   [("retry-after", "1"), ("retry-after-ms", "644"),
                    ("x-ratelimit-limit-requests", "500"),
                    ("x-ratelimit-remaining-requests", "0"),
                    ("x-ratelimit-reset-requests", "644ms")])
    if case == "error":
        return err(503, "The server is overloaded or not ready yet.", "server_error",
                   "server_is_overloaded")
    # invalid (and anything unknown): OpenAI echoes a masked form of what it got.
    return err(401, "Incorrect API key provided: sk-proj-****%s. You can find your API key at "
               "https://platform.openai.com/account/api-keys." % key_tail,
               "invalid_request_error", "invalid_api_key")


def anthropic_answer(case, region):
    if case == "region":  # the Cloudflare edge, not the API: no request-id, no envelope type
        return 403, cf_headers(region) + [("Content-Type", "application/json")], j(
            {"error": {"type": "forbidden", "message": "Request not allowed"}})
    r = rid()
    h = cf_headers(region) + [("Content-Type", "application/json"), ("request-id", r),
                              ("anthropic-organization-id", "0d9c7c1e-lab0-4f00-9000-000000000000"),
                              ("via", "1.1 google")]

    def err(status, typ, message, extra=()):
        return status, h + [("x-should-retry", "true" if status in (429, 529) else "false")] + list(
            extra), json.dumps({"type": "error", "error": {"type": typ, "message": message},
                                "request_id": r})
    if case == "valid":
        return 200, h, j({"data": [{"type": "model", "id": "claude-sonnet-4-20250514",
                                    "display_name": "Claude Sonnet 4",
                                    "created_at": "2025-05-22T00:00:00Z"}],
                          "has_more": False, "first_id": "claude-sonnet-4-20250514",
                          "last_id": "claude-sonnet-4-20250514"})
    if case == "noversion":
        return err(400, "invalid_request_error", "anthropic-version: header is required")
    if case == "nokey":
        return err(401, "authentication_error", "x-api-key header is required")
    if case == "quota":
        return err(400, "invalid_request_error", "Your credit balance is too low to access the "
                   "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.")
    if case == "rate":
        return err(429, "rate_limit_error", "This request would exceed the rate limit for your "
                   "organization (0d9c7c1e-lab0) of 50 requests per minute. For details, refer to: "
                   "https://docs.claude.com/en/api/rate-limits.",
                   [("retry-after", "20"), ("anthropic-ratelimit-requests-limit", "50"),
                    ("anthropic-ratelimit-requests-remaining", "0"),
                    ("anthropic-ratelimit-requests-reset", "2026-11-27T22:00:20Z")])
    if case == "error":
        return err(529, "overloaded_error", "Overloaded")
    if case == "perm":
        return err(403, "permission_error", "Permission denied")
    if case == "spendcap":  # a 429 that is not a rate limit: no retry-after
        body = {"type": "error", "request_id": r,
                "error": {"type": "rate_limit_error",
                          "message": "You have reached your specified workspace API usage "
                          "limits. You will regain access on 2026-12-01 at 00:00 UTC.",
                          "details": {"error_code": "enforced_spend_limit_reached"}}}
        return 429, h + [("x-should-retry", "false")], json.dumps(body)
    return err(401, "authentication_error", "invalid x-api-key")


def gemini_answer(case):
    h = GOOGLE_HEADERS + [("Content-Type", "application/json; charset=UTF-8")]
    if case == "region":
        return 400, h, google_error(400, "FAILED_PRECONDITION",
                                    "User location is not supported for the API use.")
    if case == "valid":
        return 200, h + [("Server-Timing", "gfet4t7; dur=31")], j({"models": [
            {"name": "models/gemini-2.5-flash", "version": "001",
             "displayName": "Gemini 2.5 Flash", "inputTokenLimit": 1048576,
             "outputTokenLimit": 65536,
             "supportedGenerationMethods": ["generateContent", "countTokens"]}],
            "nextPageToken": ""})
    if case == "nokey":
        info = google_info("CREDENTIALS_MISSING")
        info["metadata"]["method"] = "google.ai.generativelanguage.v1beta.ModelService.ListModels"
        return 403, h, google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered "
                                    "callers (callers without established identity). Please use "
                                    "API Key or other form of API consumer identity to call this "
                                    "API.", [info])
    if case == "quota":
        return 429, h, google_error(
            429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan "
            "and billing details. For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            google_quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                         "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "43s"))
    if case == "rate":
        return 429, h, google_error(
            429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
            google_quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                         "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "7s"))
    if case == "perm":
        info = google_info("SERVICE_DISABLED")
        info["metadata"].update({"consumer": "projects/1066201", "activationUrl":
                                 "https://console.developers.google.com/apis/api/"
                                 "generativelanguage.googleapis.com/overview?project=1066201"})
        return 403, h, google_error(403, "PERMISSION_DENIED", "Generative Language API has not "
                                    "been used in project 1066201 before or it is disabled. "
                                    "Enable it by visiting https://console.developers.google.com"
                                    "/apis/api/generativelanguage.googleapis.com/overview?"
                                    "project=1066201 then retry.", [info])
    if case == "error":
        return 503, h, google_error(503, "UNAVAILABLE",
                                    "The model is overloaded. Please try again later.")
    return 400, h, google_error(400, "INVALID_ARGUMENT",
                                "API key not valid. Please pass a valid API key.",
                                [google_info("API_KEY_INVALID"),
                                 {"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                                  "locale": "en-US",
                                  "message": "API key not valid. Please pass a valid API key."}])


def discord_answer(case, path, region):
    reset = "%.3f" % (time.time() + 1)
    rl = [("x-ratelimit-bucket", "d3a5b0c1e2f3a4b5c6d7e8f9a0b1c2d3"),
          ("x-ratelimit-limit", "5"), ("x-ratelimit-remaining", "4"),
          ("x-ratelimit-reset", reset), ("x-ratelimit-reset-after", "1.000")]
    h = cf_headers(region) + [("Content-Type", "application/json"), ("via", "1.1 google")]
    if case == "nokey":
        if path.endswith("/gateway"):
            return 200, h, json.dumps({"url": "wss://gateway.discord.gg"})
        return 401, h + rl, json.dumps({"message": "401: Unauthorized", "code": 0})
    if case == "valid":
        return 200, h + rl, json.dumps({"id": "1180000000000000001", "username": "labbot",
                                        "discriminator": "0000", "bot": True, "verified": True,
                                        "flags": 0, "mfa_enabled": False})
    if case == "rate":
        return 429, h + [("retry-after", "65"), ("x-ratelimit-bucket", rl[0][1]),
                         ("x-ratelimit-limit", "5"), ("x-ratelimit-remaining", "0"),
                         ("x-ratelimit-reset", reset), ("x-ratelimit-reset-after", "64.570"),
                         ("x-ratelimit-scope", "user")], json.dumps(
            {"message": "You are being rate limited.", "retry_after": 64.57, "global": False})
    if case == "error":
        return 502, h, json.dumps({"message": "502: Bad Gateway", "code": 0})
    if case == "perm":
        return 403, h + rl, json.dumps({"message": "Missing Access", "code": 50001})
    return 401, h + rl, json.dumps({"message": "401: Unauthorized", "code": 0})


def cf_error_page(code, title, what, host, client, ray):
    """Cloudflare's own error page (the 1xxx family), shaped like the real one."""
    return """<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>%(title)s | Cloudflare</title>
<meta charset="UTF-8" />
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" />
</head>
<body>
  <div id="cf-wrapper">
    <div id="cf-error-details" class="cf-error-details-wrapper">
      <div class="cf-wrapper cf-header cf-error-overview">
        <h1>
          <span class="cf-error-type" data-translate="error">Error</span>
          <span class="cf-error-code">%(code)d</span>
          <small class="heading-ray-id">Ray ID: %(ray)s &bull; 2026-11-27 23:50:00 UTC</small>
        </h1>
        <h2 class="cf-subheadline" data-translate="error_desc">%(what)s</h2>
      </div>
      <section></section>
      <div class="cf-section cf-wrapper">
        <div class="cf-columns two">
          <div class="cf-column">
            <h2 data-translate="what_happened">What happened?</h2>
            <p>The owner of this website (%(host)s) has banned %(whom)s from accessing
            this website.</p>
          </div>
        </div>
      </div>
      <div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto text-center sm:text-left border-solid border-0 border-t border-gray-300">
        <p class="text-13">
          <span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: <strong class="font-semibold">%(ray)s</strong></span>
          <span class="cf-footer-separator sm:hidden">&bull;</span>
          <span id="cf-footer-item-ip" class="cf-footer-item sm:block sm:mb-1">Your IP: %(client)s</span>
          <span class="cf-footer-separator sm:hidden">&bull;</span>
          <span class="cf-footer-item sm:block sm:mb-1"><span>Performance &amp; security by</span> <a rel="noopener noreferrer" href="https://www.cloudflare.com/5xx-error-landing" id="brand_link" target="_blank">Cloudflare</a></span>
        </p>
      </div>
    </div>
  </div>
</body>
</html>
""" % {"code": code, "title": title, "what": what, "host": host, "client": client, "ray": ray,
       "whom": "your IP address" if code == 1020 else "the country or region your IP address is in"}


# Answers a scenario forces on one egress (World.force_case), whatever the provider.
def odd_answer(case, host, client, region):
    if case in ("cf1020", "cf1009"):  # the provider's Cloudflare edge refuses, not the API
        h = cf_headers(region)
        ray = h[1][1]
        h += [("Content-Type", "text/html; charset=UTF-8"),
              ("X-Frame-Options", "SAMEORIGIN"), ("Referrer-Policy", "same-origin"),
              ("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate, "
               "post-check=0, pre-check=0"),
              ("Expires", "Thu, 01 Jan 1970 00:00:01 GMT")]
        if case == "cf1020":
            return 403, h, cf_error_page(1020, "Attention Required!", "Access denied", host,
                                         client, ray)
        return 403, h, cf_error_page(1009, "Access denied", "Country or region banned", host,
                                     client, ray)
    if case == "teapot":  # some other service on the provider's address: fits nothing known
        return 418, [("Server", "teapotd/0.3"), ("Content-Type", "text/plain; charset=utf-8")], (
            "418 I'm a teapot: this pot brews no API answers.\nshort and stout\n")
    return None


def cdn_trace(host, client, region):
    colo = COLO.get(region, "FRA")
    return ("fl=29f%d\nh=%s\nip=%s\nts=%.3f\nvisit_scheme=https\nuag=pathwatch\ncolo=%s\n"
            "sliver=none\nhttp=http/1.1\nloc=%s\ntls=TLSv1.3\nsni=plaintext\nwarp=off\n"
            "gateway=off\nrbi=off\nkex=X25519\n" % (len(host), host, client, time.time(), colo,
                                                     region))


class Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    log_lock = threading.Lock()
    log_path = None
    override_path = None  # {"<client address>": "<case>"}, read on every request

    def override_case(self, client):
        """A scenario flips one egress's answer at run time by rewriting this file."""
        if not self.override_path:
            return None
        try:
            with open(self.override_path) as f:
                return json.load(f).get(client)
        except (OSError, ValueError):
            return None

    def log_message(self, fmt, *args):  # quiet: the lab keeps its own request log
        pass

    def record(self, provider, case, status):
        if not self.log_path:
            return
        line = json.dumps({"t": time.time(), "provider": provider, "case": case,
                           "status": status, "path": self.path,
                           "client": self.headers.get("X-Lab-Client", ""),
                           "via": self.headers.get("Via", "")})
        with self.log_lock, open(self.log_path, "a") as f:
            f.write(line + "\n")

    def do_GET(self):
        provider = self.headers.get("X-Lab-Provider", "")
        case = self.headers.get("X-Lab-Case", "invalid") or "invalid"
        region = self.headers.get("X-Lab-Region", "DE") or "DE"
        client = self.headers.get("X-Lab-Client", "")
        host = self.headers.get("Host", "")
        path = self.path.split("?", 1)[0]
        forced = self.override_case(client)
        if forced and path != "/cdn-cgi/trace":
            case = forced
        if path == "/cdn-cgi/trace" and provider in (
                ("openai", "anthropic", "discord") + servers_providers.CLOUDFLARE_FRONTED):
            status, headers, body = 200, cf_headers(region) + [
                ("Content-Type", "text/plain")], cdn_trace(host, client, region)
        elif odd_answer(case, host, client, region) is not None:
            status, headers, body = odd_answer(case, host, client, region)
        elif provider == "openai":
            auth = self.headers.get("X-Lab-Auth-Tail", "")
            status, headers, body = openai_answer(case, auth, region)
        elif provider == "anthropic":
            if case != "region" and not self.headers.get("X-Lab-Version"):
                case = "noversion"
            status, headers, body = anthropic_answer(case, region)
        elif provider == "gemini":
            status, headers, body = gemini_answer(case)
        elif provider == "discord":
            status, headers, body = discord_answer(case, path, region)
        elif provider in servers_providers.PROVIDERS:
            status, headers, body = servers_providers.answer(provider, case, self.path, region)
        else:
            status, headers, body = 404, [("Content-Type", "text/plain")], "not found\n"
        self.record(provider, case, status)
        data = body.encode()
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_POST = do_GET


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver: every POST becomes one JSON line in the log."""
    protocol_version = "HTTP/1.1"
    log_lock = threading.Lock()
    log_path = None

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20)).decode(errors="replace")
        line = json.dumps({"t": time.time(), "path": self.path,
                           "content_type": self.headers.get("Content-Type", ""), "body": body})
        with self.log_lock, open(self.log_path, "a") as f:
            f.write(line + "\n")
        self.send_response_only(200)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True


class Echo(BaseHTTPRequestHandler):
    """httpbin-style /anything: {"headers": {...}, "origin": "...", ...}."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        headers = {}
        for name, value in self.headers.items():
            headers[name] = value
        body = j({"args": {}, "headers": headers, "origin": self.client_address[0],
                  "method": self.command, "url": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_POST = do_GET


def split_listen(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def serve_garbage(listen, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(split_listen(listen))
    srv.listen(64)

    def handle(conn):
        try:
            conn.settimeout(5)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                try:
                    tls.recv(4096)  # the request, ignored
                except (OSError, ssl.SSLError):
                    pass
                tls.sendall(b"\x00\x17\xfe SSH-2.0-not-http \xff\xff garbage\r\n\r\n\x01\x02")
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def serve_stall(listen, cert, key):
    """TLS handshake completes, then silence until the client gives up."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(split_listen(listen))
    srv.listen(64)

    def handle(conn):
        try:
            conn.settimeout(60)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                while tls.recv(4096):  # read and never answer; ends when the client closes
                    pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def serve_tls_reset(listen):
    """Reads the ClientHello, then resets the connection (what SNI-filtering DPI does)."""
    import struct
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(split_listen(listen))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        try:
            conn.settimeout(2)
            conn.recv(4096)
        except OSError:
            pass
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # linger 0: RST, not FIN
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["backend", "garbage", "stall", "tlsreset", "echo", "hook"])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--log")
    ap.add_argument("--override")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    if a.mode == "garbage":
        serve_garbage(a.listen, a.cert, a.key)
        return
    if a.mode == "stall":
        serve_stall(a.listen, a.cert, a.key)
        return
    if a.mode == "tlsreset":
        serve_tls_reset(a.listen)
        return
    if a.mode == "hook":  # port 0 allowed: the first stdout line says where it listens
        Hook.log_path = a.log
        srv = ThreadingHTTPServer(split_listen(a.listen), Hook)
        print("listening on %s:%d" % srv.server_address[:2], flush=True)
        srv.serve_forever()
        return
    handler = Backend if a.mode == "backend" else Echo
    if a.mode == "backend":
        Backend.log_path = a.log
        Backend.override_path = a.override
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.request_queue_size = 128
    ThreadingHTTPServer(split_listen(a.listen), handler).serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
