"""The lab scenarios: each sets its corner of the world up, runs `pathwatch check`
and asserts verdicts and the evidence that proves them. A scenario raises
harness.Failed or leaves messages in lab.problems to fail."""
import os
import subprocess
import time

import world as W
from harness import ALL, get

SCENARIOS = []


def scenario(name):
    def deco(fn):
        SCENARIOS.append((name, fn))
        return fn
    return deco


# ------------------------------------------------------------------ the world itself
@scenario("lab/world_answers_like_the_providers")
def world_selftest(lab):
    """The lab before the product: curl from the host namespace sees what each scenario
    relies on, so a failure below is pathwatch's, not the lab's."""
    w = lab.w

    def curl(*args, ca=None):
        cmd = ["ip", "netns", "exec", w.host_ns, "curl", "-sS", "-m", "4", "-o", "/dev/null",
               "-w", "%{http_code}", "--cacert", ca or w.public_roots] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=15)
        return p.returncode, p.stdout.strip()

    checks = [
        ("openai valid", curl("https://api.openai.com/v1/models", "-H",
                              "Authorization: Bearer " + lab.key("openai", "valid")), (0, "200")),
        ("openai region on eth-b", curl("--interface", "eth-b",
                                        "https://api.openai.com/v1/models"), (0, "403")),
        ("anthropic no key", curl("https://api.anthropic.com/v1/models", "-H",
                                  "anthropic-version: 2023-06-01"), (0, "401")),
        ("gemini no key", curl("https://generativelanguage.googleapis.com/v1beta/models"),
         (0, "403")),
        ("discord gateway via socks", curl("-x", "socks5h://%s:1080" % W.SOCKS,
                                           "https://discord.com/api/v10/gateway"), (0, "200")),
        ("openai via squid", curl("-x", "http://%s:3128" % W.PROXY_PLAIN,
                                  "https://api.openai.com/v1/models"), (0, "401")),
        ("squid deny page", curl("-x", "http://%s:3128" % W.PROXY_DENY,
                                 "https://api.openai.com/v1/models", ca=w.ca_bundle), (0, "403")),
        ("expired cert", curl("--resolve", "api.openai.com:443:" + W.EXPIRED_ADDR,
                              "https://api.openai.com/v1/models"), (60, "000")),
        ("garbage after TLS", curl("--resolve", "generativelanguage.googleapis.com:443:" +
                                   W.GARBAGE_ADDR,
                                   "https://generativelanguage.googleapis.com/v1beta/models"),
         (1, "000")),
        ("echo", curl("http://%s:8080/" % W.ECHO_ADDR), (0, "200")),
    ]
    for name, got, want in checks:
        lab.expect(got == want, "%s: curl rc/code %s, want %s" % (name, got, want))


# ------------------------------------------------------------------ engine
@scenario("engine/clean_path_ok")
def clean_ok(lab):
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL})
    lab.require_json(run)
    lab.expect_rc(run, 0)
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "ok")
        lab.expect_field(r, "layers.http.code", lambda v: v == 200, "200", p)
        lab.expect_field(r, "layers.tls.public_root", lambda v: v is True, "true", p)
        lab.expect_field(r, "layers.tcp.address", lambda v, p=p: isinstance(v, str) and
                         W.GENUINE[p] in v, W.GENUINE[p], p)
        key = lab.key(p, "valid")
        lab.expect_field(r, "layers.key.fingerprint", lambda v, k=key: isinstance(v, str) and
                         v.startswith(k[:7]) and v.endswith(k[-4:]) and k not in v,
                         "first 7 + last 4", p)
        lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider", p)
        lab.expect_field(lab_provider(run, p), "diagnosis.verdict", lambda v: v == "ok", "ok", p)


def lab_provider(run, p):
    return run.provider(p) or {}


@scenario("engine/no_key_still_proves_the_path")
def no_key_ok(lab):
    run = lab.check(ALL, ["default"], keys={})
    lab.require_json(run)
    lab.expect_rc(run, 0)
    codes = {"openai": 401, "anthropic": 401, "gemini": 403, "discord": 200}
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "ok")
        lab.expect_field(r, "layers.http.code", lambda v, c=codes[p]: v == c, codes[p], p)


@scenario("engine/wrong_key_auth_failed")
def wrong_key(lab):
    # The same provider-authored refusal on two routes: the key, not the path.
    run = lab.check(ALL, ["default", "socks"], keys={p: "invalid" for p in ALL})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ALL:
        for rt in ("default", "socks"):
            r = lab.expect_verdict(run, p, rt, "auth_failed")
            lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider",
                             "%s/%s" % (p, rt))
        d = lab_provider(run, p).get("diagnosis") or {}
        lab.expect(d.get("verdict") == "auth_failed" and d.get("cause") == "key" and
                   not d.get("working_routes"),
                   "%s diagnosis %s/%s working %r, want auth_failed/key and no working route" %
                   (p, d.get("verdict"), d.get("cause"), d.get("working_routes")))


@scenario("engine/dead_resolver_dns_failed")
def dns_dead(lab):
    run = lab.check(["openai"], ["default"], keys={"openai": "valid"},
                    resolvers=[W.RESOLVERS["dead"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "openai", "default", "dns_failed")
    lab.expect_field(r, "layers.dns.status", lambda v: v == "fail", "fail")
    lab.expect_field(r, "layers.tcp.status", lambda v: v in ("skipped", None), "skipped")


@scenario("engine/dropped_resolver_dns_failed")
def dns_dropped(lab):
    run = lab.check(["anthropic"], ["default"], keys={"anthropic": "valid"},
                    resolvers=[W.RESOLVERS["dropped"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "anthropic", "default", "dns_failed")
    answers = get(r, "layers.dns.answers") or []
    lab.expect(any(a.get("error") == "timeout" for a in answers if isinstance(a, dict)),
               "dns answers %r, want an error 'timeout'" % (answers,))


@scenario("engine/sinkhole_answer_dns_tampered")
def dns_sinkhole(lab):
    # The lying resolver answers 0.0.0.0 / 127.0.0.1 for two names and honestly
    # (198.18.100.x, inside allowed_ranges) for the others.
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL},
                    resolvers=[W.RESOLVERS["sinkhole"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p, bogon in (("openai", "0.0.0.0"), ("anthropic", "127.0.0.1")):
        r = lab.expect_verdict(run, p, "default", "dns_tampered")
        answers = get(r, "layers.dns.answers") or []
        lab.expect(any(bogon in (a.get("bogons") or []) for a in answers if isinstance(a, dict)),
                   "%s: dns answers %r, want %s among bogons" % (p, answers, bogon))
    for p in ("gemini", "discord"):
        lab.expect_verdict(run, p, "default", "ok")


@scenario("engine/resolvers_disagree_odd_one_fails_tls_dns_tampered")
def dns_disagree_tls(lab):
    # "system" answers honestly; the second resolver sends openai to an expired
    # certificate and anthropic to a certificate for another name.
    run = lab.check(["openai", "anthropic"], ["default"],
                    keys={"openai": "valid", "anthropic": "valid"},
                    resolvers=["system", W.RESOLVERS["faults"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("openai", "anthropic"):
        r = lab.expect_verdict(run, p, "default", "dns_tampered")
        lab.expect_field(r, "layers.dns.resolvers_disagree", lambda v: v is True, "true", p)
        answers = [a for a in get(r, "layers.dns.answers") or [] if isinstance(a, dict)]
        lab.expect(any(a.get("tls_ok") is False and a.get("tls_error") for a in answers),
                   "%s: no dns answer carries tls_ok false with its tls_error: %r" % (p, answers))


@scenario("engine/geo_dns_disagreement_is_not_tampering")
def dns_geo(lab):
    # Two resolvers, two different genuine fronts with valid certificates: honest.
    run = lab.check(["openai"], ["default"], keys={"openai": "valid"},
                    resolvers=["system", W.RESOLVERS["geo"]])
    lab.require_json(run)
    lab.expect_rc(run, 0)
    r = lab.expect_verdict(run, "openai", "default", "ok")
    lab.expect_field(r, "layers.dns.resolvers_disagree", lambda v: v is True, "true")
    answers = [a for a in get(r, "layers.dns.answers") or [] if isinstance(a, dict)]
    lab.expect(any(a.get("tls_ok") is True for a in answers),
               "the odd answer's TLS check (tls_ok true) is missing: %r" % (answers,))
    lab.expect(not any(a.get("tls_ok") is False for a in answers),
               "an honest front failed its TLS check: %r" % (answers,))


@scenario("engine/configured_key_source_empty_key_missing")
def key_missing(lab):
    before = len(lab.w.requests_logged())
    cfg = lab.config(["default"])
    cfg["providers"] = [{"name": "anthropic", "key_env": "LAB_UNSET_KEY"},
                        {"name": "discord",
                         "key_file": os.path.join(lab.workdir, "no-such-token")}]
    # The usual variables hold keys, but the config named other sources: no fallback.
    run = lab.check(["anthropic", "discord"], ["default"], cfg=cfg,
                    keys={"anthropic": "valid", "discord": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("anthropic", "discord"):
        r = lab.expect_verdict(run, p, "default", "key_missing")
        lab.expect_field(r, "layers.key.status", lambda v: v == "fail", "fail", p)
    # A keyless probe of the path is fine; sending some other key is not.
    sent = [x for x in lab.w.requests_logged()[before:]
            if x.get("path") != "/cdn-cgi/trace" and x.get("case") != "nokey"]
    lab.expect(not sent, "a key was sent although the configured source is empty: %r" % sent[:2])


@scenario("engine/dropped_tcp_connect_failed")
def tcp_dropped(lab):
    run = lab.check(["discord"], ["default"], keys={"discord": "valid"},
                    resolvers=[W.RESOLVERS["faults"]], timeout="2s")
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "discord", "default", "connect_failed")
    lab.expect_field(r, "layers.tcp.error", lambda v: v == "timeout", "timeout")
    lab.expect(run.wall < 10, "took %.1fs with a 2s timeout" % run.wall)


@scenario("engine/reset_tcp_connect_failed")
def tcp_reset(lab):
    # openai -> nft "reject with tcp reset"; anthropic -> an address where nothing listens.
    run = lab.check(["openai", "anthropic"], ["default"],
                    keys={"openai": "valid", "anthropic": "valid"},
                    resolvers=[W.RESOLVERS["faults2"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("openai", "anthropic"):
        r = lab.expect_verdict(run, p, "default", "connect_failed")
        lab.expect_field(r, "layers.tcp.error",
                         lambda v: v in ("connection_refused", "connection_reset"),
                         "connection_refused|connection_reset", p)


@scenario("engine/expired_certificate_tls_failed")
def tls_expired(lab):
    run = lab.check(["openai"], ["default"], keys={"openai": "valid"},
                    resolvers=[W.RESOLVERS["faults"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "openai", "default", "tls_failed")
    lab.expect_field(r, "layers.tls.status", lambda v: v == "fail", "fail")
    blob = " ".join(str(x) for x in [get(r, "layers.tls.error"), get(r, "layers.tls.verify_error"),
                                     get(r, "layers.tls.not_after")] + (r.get("evidence") or []))
    lab.expect("expired" in blob.lower() or "2025-01-01" in blob,
               "nothing in tls layer/evidence says expired: %s" % blob[:300])


@scenario("engine/wrong_name_certificate_tls_failed")
def tls_wrong_name(lab):
    run = lab.check(["anthropic"], ["default"], keys={"anthropic": "valid"},
                    resolvers=[W.RESOLVERS["faults"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "anthropic", "default", "tls_failed")
    lab.expect_field(r, "layers.tls.status", lambda v: v == "fail", "fail")


@scenario("engine/corporate_ca_tls_intercepted")
def tls_intercepted(lab):
    # The lying resolver sends every name to a box with corporate-CA leaves that
    # forwards to the real providers: calls work, but the path is inspected.
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL},
                    resolvers=[W.RESOLVERS["intercept"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "tls_intercepted")
        lab.expect_field(r, "layers.tls.public_root", lambda v: v is False, "false", p)
        lab.expect_field(r, "layers.tls.ca_file_ok", lambda v: v in (True, None), "true", p)
        lab.expect_field(r, "layers.tls.issuer", lambda v: isinstance(v, str) and
                         "Corp Inspection" in v, "the corporate CA", p)
        lab.expect_field(r, "layers.http.code", lambda v: v == 200, "200", p)


@scenario("engine/garbage_after_tls_http_failed")
def http_garbage(lab):
    run = lab.check(["gemini"], ["default"], keys={"gemini": "valid"},
                    resolvers=[W.RESOLVERS["faults"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "gemini", "default", "http_failed")
    lab.expect_field(r, "layers.tls.status", lambda v: v == "ok", "ok")
    lab.expect_field(r, "layers.http.status", lambda v: v == "fail", "fail")


@scenario("engine/silent_after_tls_http_failed")
def http_stall(lab):
    run = lab.check(["gemini"], ["default"], keys={"gemini": "valid"},
                    resolvers=[W.RESOLVERS["faults2"]], timeout="2s")
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "gemini", "default", "http_failed")
    lab.expect_field(r, "layers.tls.status", lambda v: v == "ok", "ok")
    lab.expect_field(r, "layers.http.error", lambda v: v == "timeout", "timeout")
    lab.expect(run.wall < 10, "took %.1fs with a 2s timeout" % run.wall)


@scenario("engine/reset_during_handshake_tls_failed")
def tls_reset(lab):
    run = lab.check(["discord"], ["default"], keys={"discord": "valid"},
                    resolvers=[W.RESOLVERS["faults2"]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "discord", "default", "tls_failed")
    lab.expect_field(r, "layers.tcp.status", lambda v: v == "ok", "ok")
    lab.expect_field(r, "layers.tls.error", lambda v: v == "connection_reset", "connection_reset")


@scenario("engine/dead_proxy_proxy_failed")
def proxy_dead(lab):
    run = lab.check(["openai"], ["dead-proxy", "dropped-proxy"], keys={"openai": "valid"},
                    timeout="2s")
    lab.require_json(run)
    lab.expect_rc(run, 1)
    lab.expect_verdict(run, "openai", "dead-proxy", "proxy_failed")
    lab.expect_verdict(run, "openai", "dropped-proxy", "proxy_failed")


@scenario("engine/proxy_wants_credentials_proxy_failed")
def proxy_auth(lab):
    run = lab.check(["openai", "gemini"], ["default", "auth-proxy"],
                    keys={"openai": "valid", "gemini": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("openai", "gemini"):
        lab.expect_verdict(run, p, "default", "ok")
        r = lab.expect_verdict(run, p, "auth-proxy", "proxy_failed")
        lab.expect(get(r, "layers.http.proxy_code") == 407 or get(r, "layers.http.code") == 407
                   or "407" in " ".join(str(x) for x in r.get("evidence") or []),
                   "%s: the proxy's 407 is nowhere in the result" % p)


@scenario("engine/proxy_refuses_connect_blocked_not_key")
def proxy_noconnect(lab):
    # squid answers CONNECT with its own 403 (http_access deny): the provider never
    # saw the request. A proxy's own 403 page is middlebox_blocked; proxy_failed
    # is for 407, the proxy's own 5xx or an unreachable proxy (SPEC).
    run = lab.check(["openai"], ["default", "noconnect-proxy"], keys={"openai": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    lab.expect_verdict(run, "openai", "default", "ok")
    r = lab.expect_verdict(run, "openai", "noconnect-proxy", "middlebox_blocked")
    lab.expect_field(r, "layers.http.proxy_code", lambda v: v == 403, "403")
    lab.expect(any("CONNECT with 403" in str(x) for x in r.get("evidence") or []),
               "no evidence line names the proxy's 403 answer to CONNECT: %r" % (r.get("evidence"),))


@scenario("engine/same_provider_ok_over_every_route_kind")
def routes_ok(lab):
    routes = ["iface-a", "src-a", "http-proxy", "socks"]
    run = lab.check(["openai", "discord"], routes, keys={"openai": "valid", "discord": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 0)
    for p in ("openai", "discord"):
        for rt in routes:
            r = lab.expect_verdict(run, p, rt, "ok")
            lab.expect_field(r, "layers.http.code", lambda v: v == 200, "200", "%s/%s" % (p, rt))
    # The plain proxy adds Via / X-Forwarded-For: visible in the echo, yet the call works.
    r = run.route("openai", "http-proxy") or {}
    lab.expect_field(r, "layers.echo.added", lambda v: isinstance(v, list) and "via" in v,
                     "to include via", "openai/http-proxy")
    lab.expect_field(r, "layers.echo.removed", lambda v: not v, "nothing", "openai/http-proxy")
    seen = {}
    for line in lab.w.requests_logged():
        seen.setdefault(line.get("client"), 0)
        seen[line.get("client")] += 1
    for addr in (W.LINKS["eth-a"][0], W.PROXY_PLAIN, W.SOCKS):
        lab.expect(seen.get(addr), "no request reached the providers from %s" % addr)


@scenario("engine/blackholed_route_costs_one_timeout")
def concurrency(lab):
    # 4 providers x 4 routes, one route blackholed: all pairs run at once, so the
    # whole check takes about one timeout, not the sum of them.
    # The config says 20s; --timeout 3s on the command line must win.
    routes = ["default", "http-proxy", "socks", "iface-c"]
    run = lab.check(ALL, routes, keys={p: "valid" for p in ALL}, timeout="20s",
                    extra_args=["--timeout", "3s"])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    lab.expect(run.wall < 6.0, "16 probes took %.2fs, want < 2 x 3s timeout" % run.wall)
    for p in ALL:
        for rt in routes[:3]:
            lab.expect_verdict(run, p, rt, "ok")
        lab.expect_verdict(run, p, "iface-c", ("dns_failed", "connect_failed"))


# ------------------------------------------------------------------ diagnosis
@scenario("diagnosis/region_blocked_on_one_egress")
def region(lab):
    routes = ["default", "iface-b", "src-b"]
    run = lab.check(ALL, routes, keys={p: "valid" for p in ALL})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("openai", "anthropic", "gemini"):
        lab.expect_verdict(run, p, "default", "ok")
        for rt in ("iface-b", "src-b"):
            lab.expect_verdict(run, p, rt, "region_blocked")
        d = lab_provider(run, p).get("diagnosis") or {}
        lab.expect(d.get("verdict") == "region_blocked" and d.get("cause") == "region",
                   "%s diagnosis %s/%s, want region_blocked/region" % (p, d.get("verdict"),
                                                                      d.get("cause")))
        lab.expect("default" in (d.get("working_routes") or []),
                   "%s working_routes %r, want 'default' named" % (p, d.get("working_routes")))
    # Each provider's own refusal (docs/providers.md), not just the verdict:
    # OpenAI's 403 unsupported_country_region_territory from the API, Anthropic's
    # Cloudflare edge 403 "Request not allowed" (no request-id), Gemini's 400
    # FAILED_PRECONDITION "User location is not supported".
    r = lab.expect_verdict(run, "anthropic", "iface-b", "region_blocked")
    lab.expect_field(r, "layers.http.authored_by", lambda v: v == "edge", "edge",
                     "anthropic/iface-b")
    lab.expect_field(r, "layers.http.code", lambda v: v == 403, "403", "anthropic/iface-b")
    lab.expect(any("Request not allowed" in str(x) for x in r.get("evidence") or []),
               "anthropic/iface-b: the edge's \"Request not allowed\" is not in the evidence: %r"
               % (r.get("evidence"),))
    r = lab.expect_verdict(run, "gemini", "iface-b", "region_blocked")
    lab.expect_field(r, "layers.http.code", lambda v: v == 400, "400", "gemini/iface-b")
    lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider",
                     "gemini/iface-b")
    lab.expect_field(r, "layers.http.error_type", lambda v: v == "FAILED_PRECONDITION",
                     "FAILED_PRECONDITION", "gemini/iface-b")
    lab.expect(any("User location is not supported" in str(x) for x in r.get("evidence") or []),
               "gemini/iface-b: the 400's message is not in the evidence: %r" % (r.get("evidence"),))
    r = lab.expect_verdict(run, "openai", "iface-b", "region_blocked")
    lab.expect_field(r, "layers.http.code", lambda v: v == 403, "403", "openai/iface-b")
    lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider",
                     "openai/iface-b")
    lab.expect_field(r, "layers.http.error_code",
                     lambda v: v == "unsupported_country_region_territory",
                     "unsupported_country_region_territory", "openai/iface-b")
    for rt in routes:
        lab.expect_verdict(run, "discord", rt, "ok")
    egress = {x.get("name"): x.get("egress") or {} for x in run.doc.get("routes", [])}
    lab.expect(get(egress, "iface-b.country") == "HK" and get(egress, "iface-b.ip") == "198.18.2.2",
               "route iface-b egress %r, want ip 198.18.2.2 country HK" % egress.get("iface-b"))
    lab.expect(get(egress, "default.country") == "DE",
               "route default egress %r, want country DE" % egress.get("default"))


def forced(lab, overrides, fn):
    """Runs fn with the providers answering `overrides` ({client address: case}),
    then restores the normal answers whatever happened."""
    lab.w.force_case(overrides)
    try:
        return fn()
    finally:
        lab.w.force_case({})


def evidence_has(lab, r, needle, label):
    ev = [str(x) for x in r.get("evidence") or []]
    lab.expect(any(needle in x for x in ev),
               "%s: no evidence line contains %r: %r" % (label, needle, ev))


@scenario("diagnosis/unknown_answer_unexpected")
def unknown_answer(lab):
    # Something else answers on the provider's address (a 418 from a service that
    # has no provider envelope, no marker header, no box's marks): pathwatch must
    # not guess the key or the path, and must keep what it saw.
    provs = ["openai", "gemini"]
    run = forced(lab, {W.LINKS["eth-a"][0]: "teapot"},
                 lambda: lab.check(provs, ["default"], keys={p: "valid" for p in provs}))
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in provs:
        r = lab.expect_verdict(run, p, "default", "unexpected")
        lab.expect_field(r, "layers.http.code", lambda v: v == 418, "418", p)
        lab.expect_field(r, "layers.http.authored_by", lambda v: v == "unknown", "unknown", p)
        lab.expect_field(r, "layers.http.body_excerpt", lambda v: isinstance(v, str) and
                         "I'm a teapot" in v, "the body's start", p)
        evidence_has(lab, r, "418 from an unknown server", p)
        evidence_has(lab, r, "I'm a teapot", p)
        d = lab_provider(run, p).get("diagnosis") or {}
        lab.expect(d.get("verdict") == "unexpected" and d.get("cause") == "unknown",
                   "%s diagnosis %s/%s, want unexpected/unknown" % (p, d.get("verdict"),
                                                                   d.get("cause")))


@scenario("diagnosis/cloudflare_1020_edge_block_middlebox")
def cloudflare_edge(lab):
    # The providers' Cloudflare edge refuses one egress with its own error page
    # (no request-id, no API envelope). 1020 (a WAF rule: IP, network or country,
    # the page never says which) is middlebox_blocked; 1009 ("Country or region
    # banned") is region_blocked. Either way the API never saw the request.
    provs = ["openai", "anthropic", "discord"]  # the ones behind Cloudflare
    keys = {p: "valid" for p in provs}
    for case, route, addr, verdict, cause in (
            ("cf1020", "socks", W.SOCKS, "middlebox_blocked", "middlebox"),
            ("cf1009", "iface-b", W.LINKS["eth-b"][0], "region_blocked", "region")):
        run = forced(lab, {addr: case},
                     lambda route=route: lab.check(provs, ["default", route], keys=keys))
        lab.require_json(run)
        lab.expect_rc(run, 1)
        for p in provs:
            label = "%s/%s" % (p, route)
            lab.expect_verdict(run, p, "default", "ok")
            r = lab.expect_verdict(run, p, route, verdict)
            lab.expect_field(r, "layers.http.code", lambda v: v == 403, "403", label)
            lab.expect_field(r, "layers.http.authored_by", lambda v: v == "edge", "edge", label)
            evidence_has(lab, r, "from the provider's edge (Cloudflare %s, no request-id)" %
                         case[2:], label)
            d = lab_provider(run, p).get("diagnosis") or {}
            lab.expect(d.get("verdict") == verdict and d.get("cause") == cause,
                       "%s diagnosis %s/%s, want %s/%s" % (label, d.get("verdict"),
                                                          d.get("cause"), verdict, cause))
            lab.expect(d.get("working_routes") == ["default"] and
                       "through default" in (d.get("summary") or ""),
                       "%s diagnosis does not name the working route: %r / %r" % (
                           label, d.get("working_routes"), d.get("summary")))


@scenario("diagnosis/proxy_strips_auth_headers_rewritten")
def headers_rewritten(lab):
    run = lab.check(["openai"], ["default", "strip-proxy"], keys={"openai": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    lab.expect_verdict(run, "openai", "default", "ok")
    r = lab.expect_verdict(run, "openai", "strip-proxy", "headers_rewritten")
    lab.expect_field(r, "layers.echo.removed", lambda v: isinstance(v, list) and
                     "authorization" in v, "['authorization', ...]")
    lab.expect_field(r, "layers.http.code", lambda v: v == 401, "401 (the provider's, no key seen)")
    ev = " ".join(str(x) for x in r.get("evidence") or [])
    lab.expect("intercept" in ev.lower() or get(r, "layers.tls.public_root") is False,
               "the bumping proxy's certificate is not in the evidence")


@scenario("diagnosis/proxy_own_403_middlebox_blocked")
def middlebox(lab):
    run = lab.check(["openai", "anthropic"], ["default", "deny-proxy"],
                    keys={"openai": "valid", "anthropic": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("openai", "anthropic"):
        lab.expect_verdict(run, p, "default", "ok")
        r = lab.expect_verdict(run, p, "deny-proxy", "middlebox_blocked")
        lab.expect_field(r, "layers.http.authored_by", lambda v: v == "middlebox", "middlebox", p)
        d = lab_provider(run, p).get("diagnosis") or {}
        lab.expect("default" in (d.get("working_routes") or []),
                   "%s working_routes %r, want 'default'" % (p, d.get("working_routes")))


@scenario("diagnosis/quota_exhausted_not_rate_limited")
def quota(lab):
    provs = ["openai", "anthropic", "gemini"]  # Discord has no quota answer
    run = lab.check(provs, ["default"], keys={p: "quota" for p in provs})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in provs:
        lab.expect_verdict(run, p, "default", "quota_exhausted")
        lab.expect_field(lab_provider(run, p), "diagnosis.cause", lambda v: v == "account",
                         "account", p)


@scenario("diagnosis/anthropic_spend_cap_429_is_quota_not_rate")
def spend_cap(lab):
    run = lab.check(["anthropic"], ["default"], keys={"anthropic": "spendcap"})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "anthropic", "default", "quota_exhausted")
    lab.expect_field(r, "layers.http.code", lambda v: v == 429, "429")


@scenario("diagnosis/permission_denied_not_region_not_key")
def permission(lab):
    provs = ["anthropic", "gemini", "discord"]
    run = lab.check(provs, ["default", "src-a"], keys={p: "perm" for p in provs})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in provs:
        for rt in ("default", "src-a"):
            r = lab.expect_verdict(run, p, rt, "permission_denied")
        lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider", p)
        d = lab_provider(run, p).get("diagnosis") or {}
        lab.expect(d.get("verdict") == "permission_denied" and d.get("cause") == "account",
                   "%s diagnosis %s/%s, want permission_denied/account (same refusal on every "
                   "route)" % (p, d.get("verdict"), d.get("cause")))


@scenario("diagnosis/rate_limited_not_quota")
def rate(lab):
    run = lab.check(ALL, ["default"], keys={p: "rate" for p in ALL})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    # The wait the provider gave: retry-after(-ms), RetryInfo.retryDelay, Discord's body.
    hints = {"openai": (0.644, 1), "anthropic": (20,), "gemini": (7,), "discord": (64.57, 65)}
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "rate_limited")
        lab.expect_field(r, "layers.http.retry_after_s",
                         lambda v, h=hints[p]: isinstance(v, (int, float)) and
                         any(abs(v - x) < 0.01 for x in h), " or ".join(map(str, hints[p])), p)


@scenario("diagnosis/key_with_trailing_newline_malformed")
def key_malformed(lab):
    before = len(lab.w.requests_logged())
    key = lab.key("openai", "valid") + "\n"
    keyfile = os.path.join(lab.workdir, "gemini.key")
    with open(keyfile, "w") as f:
        f.write('"%s"\n' % lab.key("gemini", "valid"))
    os.chmod(keyfile, 0o600)  # a world-readable key file is refused unread
    cfg = lab.config(["default"])
    cfg["providers"] = [{"name": "openai"}, {"name": "gemini", "key_file": keyfile}]
    run = lab.check(["openai", "gemini"], ["default"], keys={"openai": ("raw", key)}, cfg=cfg)
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ("openai", "gemini"):
        r = lab.expect_verdict(run, p, "default", "key_malformed")
        lab.expect_field(r, "layers.key.status", lambda v: v == "fail", "fail", p)
    # A keyless probe of the path is fine; the damaged key must not leave.
    sent = [x for x in lab.w.requests_logged()[before:]
            if x.get("provider") in ("openai", "gemini") and x.get("path") != "/cdn-cgi/trace"
            and x.get("case") != "nokey"]
    lab.expect(not sent, "a malformed key was sent anyway: %r" % sent[:2])


@scenario("diagnosis/provider_5xx_provider_error")
def provider_error(lab):
    run = lab.check(ALL, ["default"], keys={p: "error" for p in ALL})
    lab.require_json(run)
    lab.expect_rc(run, 1)
    codes = {"openai": 503, "anthropic": 529, "gemini": 503, "discord": 502}
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "provider_error")
        lab.expect_field(r, "layers.http.code", lambda v, c=codes[p]: v == c, codes[p], p)
        lab.expect_field(lab_provider(run, p), "diagnosis.cause", lambda v: v == "provider",
                         "provider", p)


@scenario("diagnosis/no_key_leaks_anywhere")
def no_leak(lab):
    # Real-looking keys via env vars and key files, valid and rejected ones, over
    # direct, region-refused and proxied routes; then look for them everywhere.
    t0 = time.time()
    files = {}
    for p, case in (("anthropic", "valid"), ("gemini", "invalid")):
        path = os.path.join(lab.workdir, p + ".key")
        with open(path, "w") as f:
            f.write(lab.key(p, case))
        os.chmod(path, 0o600)
        files[p] = path
    cfg = lab.config(["default", "iface-b", "http-proxy", "strip-proxy"])
    cfg["providers"] = [{"name": "openai", "key_env": "LAB_OPENAI"},
                        {"name": "anthropic", "key_file": files["anthropic"]},
                        {"name": "gemini", "key_file": files["gemini"]},
                        {"name": "discord"}]
    env = {"LAB_OPENAI": lab.key("openai", "invalid"),
           "DISCORD_BOT_TOKEN": lab.key("discord", "valid")}
    routes = ["default", "iface-b", "http-proxy", "strip-proxy"]
    runs = [lab.check(ALL, routes, cfg=cfg, env=env),
            lab.check(ALL, routes, cfg=cfg, env=env, json_out=False)]
    lab.require_json(runs[0])
    secrets = [lab.key("openai", "invalid"), lab.key("anthropic", "valid"),
               lab.key("gemini", "invalid"), lab.key("discord", "valid")]
    needles = []
    for s in secrets:
        needles.append(s)
        needles.append(s[8:28])  # a middle piece: fingerprints show only 7 + 4 characters
    for i, run in enumerate(runs):
        for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
            for n in needles:
                lab.expect(n not in text, "run %d %s contains key material (%s…)" %
                           (i, stream, n[:4]))
        lab.expect(run.rc in (0, 1), "run %d exit code %s" % (i, run.rc))
    lab.expect(len(runs[1].stdout.strip()) > 0, "the table output is empty")
    lab.expect(runs[0].rc == runs[1].rc, "exit code %s with --json, %s without" %
               (runs[0].rc, runs[1].rc))
    lab.expect("region_blocked" in runs[1].stdout, "the table does not name region_blocked")
    # Every file written under the scenario dir (HOME, TMPDIR, cwd, history, socket)
    # and any file in /tmp touched during the run.
    scanned = 0
    key_files = set(files.values())
    candidates = []
    for root, _, names in os.walk(lab.workdir):
        candidates += [os.path.join(root, n) for n in names]
    for n in os.listdir("/tmp"):
        p = os.path.join("/tmp", n)
        try:
            if os.path.isfile(p) and os.path.getmtime(p) >= t0:
                candidates.append(p)
        except OSError:
            pass
    for path in candidates:
        if path in key_files:
            continue
        try:
            with open(path, "rb") as f:
                data = f.read(50 * 1024 * 1024)
        except OSError:
            continue
        scanned += 1
        for n in needles:
            lab.expect(n.encode() not in data, "%s contains key material (%s…)" % (path, n[:4]))
    if lab.verbose:
        print("    scanned %d files" % scanned)
