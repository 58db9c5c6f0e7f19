"""Lab scenarios for the OpenAI-compatible providers (docs/providers.md
"OpenAI-compatible providers"): the six opt-in built-ins and an Azure resource
(a custom entry of kind azure), answered by servers_providers.py under their real
names. Each asserts the verdict and the answer that proves it."""
import world as W
import world_providers as WP
from harness import get
from scenarios import evidence_has, forced, lab_provider

SCENARIOS = []

AZURE = "myazure"  # the custom entry's name
COMPAT = list(WP.HOSTS)  # provider ids, Azure first
# What each probe asks for (the key-validating calls where a provider has one).
PROBE_PATHS = {"azure": "/openai/models?api-version=2024-10-21", "openrouter": "/api/v1/key",
               "deepseek": "/user/balance", "mistral": "/v1/models",
               "groq": "/openai/v1/models", "xai": "/v1/api-key", "together": "/v1/models"}


def scenario(name):
    def deco(fn):
        SCENARIOS.append((name, fn))
        return fn
    return deco


def name_of(p):
    return AZURE if p == "azure" else p


def entries(provs, keyed):
    """Config entries: a name enables an opt-in built-in; Azure needs kind + base_url."""
    out = []
    for p in provs:
        if p == "azure":
            e = {"name": AZURE, "kind": "azure",
                 "base_url": "https://%s" % WP.HOSTS["azure"][0]}
            if keyed:
                e["key_env"] = WP.ENV_VARS["azure"]
            out.append(e)
        else:
            out.append({"name": p})
    return out


def check(lab, provs, case, routes=("default",), extra=None):
    """`pathwatch check` on `provs` with every key of `case` (None: no keys at all)."""
    cfg = lab.config(list(routes), providers=entries(provs, case is not None) + (extra or []))
    env = {WP.ENV_VARS[p]: lab.key(p, case) for p in provs} if case else {}
    names = [name_of(p) for p in provs] + [e["name"] for e in extra or []]
    run = lab.check(names, list(routes), cfg=cfg, env=env)
    lab.require_json(run)
    return run


def requests_since(lab, n):
    return lab.w.requests_logged()[n:]


# ------------------------------------------------------------------ the path, the key
@scenario("compat/world_answers_like_the_providers")
def world_selftest(lab):
    """curl first, so a failure below is pathwatch's, not the lab's."""
    import subprocess

    def curl(url, *args):
        cmd = ["ip", "netns", "exec", lab.w.host_ns, "curl", "-sS", "-m", "4", "-o", "/dev/null",
               "-w", "%{http_code}", "--cacert", lab.w.public_roots, url] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=15)
        return p.returncode, p.stdout.strip()

    host = {p: WP.HOSTS[p][0] for p in COMPAT}
    for p in COMPAT:
        url = "https://%s%s" % (host[p], dict(PROBE_PATHS, xai="/v1/models")[p])
        got = curl(url)
        lab.expect(got == (0, "401"), "%s no key: curl rc/code %s, want (0, '401')" % (p, got))
    got = curl("https://%s%s" % (host["azure"], PROBE_PATHS["azure"]),
               "-H", "api-key: " + lab.key("azure", "valid"))
    lab.expect(got == (0, "200"), "azure valid key: %s" % (got,))
    got = curl("https://%s/v1/api-key" % host["xai"],
               "-H", "Authorization: Bearer " + lab.key("xai", "invalid"))
    lab.expect(got == (0, "400"), "xai bad key: %s" % (got,))
    got = curl("https://%s/api/v1/key" % host["openrouter"], "--interface", "eth-b")
    lab.expect(got == (0, "403"), "openrouter from HK: %s" % (got,))


@scenario("compat/no_key_proves_the_path")
def no_key(lab):
    # Without a key each provider's own refusal proves the path. Together (and the
    # lab's Groq) answer a missing key with their invalid-key answer: still ok.
    before = len(lab.w.requests_logged())
    run = check(lab, COMPAT, None)
    lab.expect_rc(run, 0)
    codes = {"azure": 401, "openrouter": 401, "deepseek": 401, "mistral": 401, "groq": 401,
             "xai": 401, "together": 401}
    for p in COMPAT:
        r = lab.expect_verdict(run, name_of(p), "default", "ok")
        lab.expect_field(r, "layers.http.code", lambda v, c=codes[p]: v == c, codes[p], p)
        lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider", p)
        lab.expect_field(r, "layers.key.status", lambda v: v == "skipped", "skipped", p)
    for p in ("together", "groq"):
        r = run.route(p, "default") or {}
        lab.expect_field(r, "layers.http.error_code", lambda v: v == "invalid_api_key",
                         "invalid_api_key (its no-key answer)", p)
    seen = {(x.get("provider"), x.get("path")) for x in requests_since(lab, before)}
    no_key_paths = dict(PROBE_PATHS, xai="/v1/models")  # xAI's api-key call needs a key
    for p in COMPAT:
        lab.expect((p, no_key_paths[p]) in seen, "%s: no request for %s (saw %r)" % (
            p, no_key_paths[p], sorted(x for x in seen if x[0] == p)))


@scenario("compat/valid_keys_ok")
def valid(lab):
    before = len(lab.w.requests_logged())
    run = check(lab, COMPAT, "valid")
    lab.expect_rc(run, 0)
    for p in COMPAT:
        r = lab.expect_verdict(run, name_of(p), "default", "ok")
        lab.expect_field(r, "layers.http.code", lambda v: v == 200, "200", p)
        key = lab.key(p, "valid")
        lab.expect_field(r, "layers.key.fingerprint", lambda v, k=key: isinstance(v, str) and
                         v.startswith(k[:7]) and v.endswith(k[-4:]), "first 7 + last 4", p)
        shape = "" if p == "mistral" else p  # Mistral's shape is unconfirmed: not claimed
        lab.expect_field(r, "layers.key.looks_like", lambda v, w=shape: (v or "") == w, shape, p)
    seen = {(x.get("provider"), x.get("path")) for x in requests_since(lab, before)}
    for p in COMPAT:
        lab.expect((p, PROBE_PATHS[p]) in seen, "%s: no request for %s" % (p, PROBE_PATHS[p]))
    # The egress seen through the Cloudflare-fronted ones' /cdn-cgi/trace.
    egress = {x.get("name"): x.get("egress") or {} for x in run.doc.get("routes", [])}
    lab.expect(get(egress, "default.country") == "DE" and
               get(egress, "default.seen_by") in WP.CLOUDFLARE_FRONTED,
               "route default egress %r, want DE seen by openrouter or groq" % egress.get("default"))


@scenario("compat/bad_key_auth_failed")
def bad_key(lab):
    run = check(lab, COMPAT, "invalid", routes=("default", "socks"))
    lab.expect_rc(run, 1)
    for p in COMPAT:
        for rt in ("default", "socks"):
            r = lab.expect_verdict(run, name_of(p), rt, "auth_failed")
            lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider",
                             "%s/%s" % (p, rt))
        d = lab_provider(run, name_of(p)).get("diagnosis") or {}
        lab.expect(d.get("verdict") == "auth_failed" and d.get("cause") == "key",
                   "%s diagnosis %s/%s, want auth_failed/key" % (p, d.get("verdict"),
                                                                d.get("cause")))
    r = run.route("xai", "default") or {}
    lab.expect_field(r, "layers.http.code", lambda v: v == 400, "400 (xAI's bad key)", "xai")
    evidence_has(lab, r, "Incorrect API key", "xai")


@scenario("compat/another_providers_key_malformed_key_not_sent")
def wrong_provider_key(lab):
    before = len(lab.w.requests_logged())
    cfg = lab.config(["default"], providers=[{"name": "groq"}, {"name": "deepseek"}])
    env = {"GROQ_API_KEY": lab.key("openai", "valid"),
           "DEEPSEEK_API_KEY": lab.key("openrouter", "valid")}
    run = lab.check(["groq", "deepseek"], ["default"], cfg=cfg, env=env)
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p, looks in (("groq", "openai"), ("deepseek", "openrouter")):
        r = lab.expect_verdict(run, p, "default", "key_malformed")
        lab.expect_field(r, "layers.key.problems", lambda v: "wrong_provider_shape" in (v or []),
                         "wrong_provider_shape", p)
        lab.expect_field(r, "layers.key.looks_like", lambda v, w=looks: v == w, looks, p)
    # A keyless probe of the path is fine; the other provider's key must not leave.
    sent = [x for x in requests_since(lab, before) if x.get("provider") in ("groq", "deepseek")
            and x.get("path") != "/cdn-cgi/trace" and x.get("case") != "nokey"]
    lab.expect(not sent, "another provider's key was sent: %r" % sent)


# ------------------------------------------------------------------ the account, usage
@scenario("compat/no_credits_quota_exhausted")
def no_credits(lab):
    # Money is quota_exhausted whatever the status: Azure's 429 with a day's wait,
    # OpenRouter's /key with no limit left, DeepSeek's balance not available,
    # Mistral's and Together's 402, xAI's 403. Groq has no such answer: its free
    # tier runs into the daily token limit, a 429 with a wait (rate_limited).
    provs = [p for p in COMPAT if p != "groq"]
    run = check(lab, provs + ["groq"], "quota")
    lab.expect_rc(run, 1)
    want_code = {"azure": 429, "openrouter": 200, "deepseek": 200, "mistral": 402, "xai": 403,
                 "together": 402}
    for p in provs:
        r = lab.expect_verdict(run, name_of(p), "default", "quota_exhausted")
        lab.expect_field(r, "layers.http.code", lambda v, c=want_code[p]: v == c, want_code[p], p)
        lab.expect_field(lab_provider(run, name_of(p)), "diagnosis.cause",
                         lambda v: v == "account", "account", p)
    r = run.route(AZURE, "default") or {}
    lab.expect_field(r, "layers.http.retry_after_s", lambda v: v == 86400, "86400", "azure")
    lab.expect_field(run.route("openrouter", "default") or {}, "layers.http.error_code",
                     lambda v: v == "limit_remaining=0", "limit_remaining=0", "openrouter")
    lab.expect_field(run.route("deepseek", "default") or {}, "layers.http.error_code",
                     lambda v: v == "is_available=false", "is_available=false", "deepseek")
    r = lab.expect_verdict(run, "groq", "default", "rate_limited")
    lab.expect_field(r, "layers.http.retry_after_s", lambda v: v == 578, "578", "groq")


@scenario("compat/xai_spend_cap_429_is_quota_not_rate")
def xai_spend_cap(lab):
    run = check(lab, ["xai"], "spendcap")
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "xai", "default", "quota_exhausted")
    lab.expect_field(r, "layers.http.code", lambda v: v == 429, "429", "xai")


@scenario("compat/rate_limited_not_quota")
def rate(lab):
    run = check(lab, COMPAT, "rate")
    lab.expect_rc(run, 1)
    waits = {"azure": 6, "openrouter": 10, "groq": 7}
    for p in COMPAT:
        r = lab.expect_verdict(run, name_of(p), "default", "rate_limited")
        lab.expect_field(r, "layers.http.code", lambda v: v == 429, "429", p)
        if p in waits:
            lab.expect_field(r, "layers.http.retry_after_s", lambda v, w=waits[p]: v == w,
                             waits[p], p)


@scenario("compat/account_refusals_permission_denied")
def permission(lab):
    # Azure RBAC, OpenRouter's moderation, Mistral's model access, Groq's restricted
    # organization (a 400), xAI's blocked team (a 200 from /v1/api-key), Together's tier.
    provs = [p for p in COMPAT if p != "deepseek"]  # DeepSeek: unconfirmed
    run = check(lab, provs, "perm")
    lab.expect_rc(run, 1)
    for p in provs:
        lab.expect_verdict(run, name_of(p), "default", "permission_denied")
    lab.expect_field(run.route("groq", "default") or {}, "layers.http.error_code",
                     lambda v: v == "organization_restricted", "organization_restricted", "groq")
    lab.expect_field(run.route("xai", "default") or {}, "layers.http.error_code",
                     lambda v: v == "team_blocked=true", "team_blocked=true", "xai")


@scenario("compat/provider_5xx_provider_error")
def provider_error(lab):
    run = check(lab, COMPAT, "error")
    lab.expect_rc(run, 1)
    for p in COMPAT:
        lab.expect_verdict(run, name_of(p), "default", "provider_error")
        lab.expect_field(lab_provider(run, name_of(p)), "diagnosis.cause",
                         lambda v: v == "provider", "provider", p)


# ------------------------------------------------------------------ region, edge, path
@scenario("compat/region_and_edge_blocks_on_one_egress")
def region(lab):
    # Egress B (HK): OpenRouter's own region 403; Groq's Cloudflare block page (an
    # edge, not Groq); Azure's network ACL (the resource refuses the address:
    # permission_denied naming the ACL). The others serve HK.
    routes = ("default", "iface-b")
    run = check(lab, COMPAT, "valid", routes=routes)
    lab.expect_rc(run, 1)
    for p in COMPAT:
        lab.expect_verdict(run, name_of(p), "default", "ok")
    r = lab.expect_verdict(run, "openrouter", "iface-b", "region_blocked")
    lab.expect_field(r, "layers.http.authored_by", lambda v: v == "provider", "provider",
                     "openrouter/iface-b")
    evidence_has(lab, r, "not available in your region", "openrouter/iface-b")
    r = lab.expect_verdict(run, "groq", "iface-b", "middlebox_blocked")
    lab.expect_field(r, "layers.http.authored_by", lambda v: v == "edge", "edge", "groq/iface-b")
    lab.expect_field(r, "layers.http.error_code", lambda v: v == "cloudflare_block",
                     "cloudflare_block", "groq/iface-b")
    r = lab.expect_verdict(run, AZURE, "iface-b", "permission_denied")
    evidence_has(lab, r, "network ACL", "azure/iface-b")
    for p in ("deepseek", "mistral", "xai", "together"):
        lab.expect_verdict(run, p, "iface-b", "ok")
    for p in ("openrouter", "groq"):
        d = lab_provider(run, p).get("diagnosis") or {}
        lab.expect("default" in (d.get("working_routes") or []),
                   "%s working_routes %r, want 'default'" % (p, d.get("working_routes")))

    # Any of them behind an edge that bans the country: Cloudflare's 1009 page.
    run = forced(lab, {W.LINKS["eth-a"][0]: "cf1009"}, lambda: check(lab, COMPAT, "valid"))
    lab.expect_rc(run, 1)
    for p in COMPAT:
        r = lab.expect_verdict(run, name_of(p), "default", "region_blocked")
        lab.expect_field(r, "layers.http.authored_by", lambda v: v == "edge", "edge", p)


@scenario("compat/proxy_strips_auth_headers_rewritten")
def strip(lab):
    # The bumping squid strips Authorization: OpenRouter then says "No auth
    # credentials found" to a request that carried a key.
    run = check(lab, ["openrouter"], "valid", routes=("default", "strip-proxy"))
    lab.expect_rc(run, 1)
    lab.expect_verdict(run, "openrouter", "default", "ok")
    r = lab.expect_verdict(run, "openrouter", "strip-proxy", "headers_rewritten")
    lab.expect_field(r, "layers.http.code", lambda v: v == 401, "401", "openrouter/strip-proxy")
    evidence_has(lab, r, "No auth credentials found", "openrouter/strip-proxy")


# ------------------------------------------------------------------ custom entries
@scenario("compat/custom_openai_entry_keeps_working")
def custom_openai(lab):
    # The entries docs/providers.md used to suggest (kind openai under the provider's
    # name) and a custom name, on the providers that answer a missing key with an
    # invalid-key answer: the path is ok without a key, not headers_rewritten.
    extra = [{"name": "groq", "kind": "openai", "base_url": "https://api.groq.com/openai/v1"},
             {"name": "together-gw", "kind": "openai", "base_url": "https://api.together.xyz/v1"}]
    cfg = lab.config(["default"], providers=extra)
    run = lab.check(["groq", "together-gw"], ["default"], cfg=cfg)
    lab.require_json(run)
    lab.expect_rc(run, 0)
    for name in ("groq", "together-gw"):
        r = lab.expect_verdict(run, name, "default", "ok")
        lab.expect_field(r, "layers.http.error_code", lambda v: v == "invalid_api_key",
                         "invalid_api_key", name)
    keyed = [dict(extra[0], key_env="GROQ_API_KEY"), dict(extra[1], key_env="TOGETHER_API_KEY")]
    for case, verdict in (("invalid", "auth_failed"), ("valid", "ok")):
        cfg = lab.config(["default"], providers=keyed)
        env = {"GROQ_API_KEY": lab.key("groq", case), "TOGETHER_API_KEY": lab.key("together", case)}
        run = lab.check(["groq", "together-gw"], ["default"], cfg=cfg, env=env)
        lab.require_json(run)
        for name in ("groq", "together-gw"):
            lab.expect_verdict(run, name, "default", verdict)
