"""Scenarios for what a network engineer would name (docs/verdicts.md): IPv4 and
IPv6 apart (`ipv6_broken`), this machine's clock (cause `host`, run under a
shifted clock with faketime), and a path MTU black hole (`tls.small_mss`)."""
import world as W
from harness import ALL, get

SCENARIOS = []


def scenario(name):
    def deco(fn):
        SCENARIOS.append((name, fn))
        return fn
    return deco


def attempts(r, family):
    return [a for a in (get(r, "layers.tcp.attempts") or []) if a.get("family") == family]


def diagnosis(run, p):
    return (run.provider(p) or {}).get("diagnosis") or {}


def expect_diagnosis(lab, run, p, verdict, cause, words):
    d = diagnosis(run, p)
    s = d.get("summary") or ""
    lab.expect(d.get("verdict") == verdict and d.get("cause") == cause,
               "%s diagnosis %s/%s, want %s/%s (%s)" % (p, d.get("verdict"), d.get("cause"),
                                                         verdict, cause, s[:300]))
    for w in words:
        lab.expect(w.lower() in s.lower(), "%s summary lacks %r: %s" % (p, w, s[:400]))
    return s


# ------------------------------------------------------------------ IPv4 and IPv6
def ipv6_broken(lab, resolver, error):
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL},
                    resolvers=[W.RESOLVERS[resolver]])
    lab.require_json(run)
    lab.expect_rc(run, 1)
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "ipv6_broken")
        lab.expect_field(r, "layers.http.code", lambda v: v == 200, "200 (over IPv4)", p)
        v4, v6 = attempts(r, "ipv4"), attempts(r, "ipv6")
        lab.expect(any(a.get("status") == "ok" for a in v4), "%s: no IPv4 attempt ok: %r" % (p, v4))
        lab.expect(v6 and all(a.get("status") == "fail" for a in v6) and
                   any(error in (a.get("error") or "") for a in v6),
                   "%s: IPv6 attempts %r, want all failed with %s" % (p, v6, error))
        expect_diagnosis(lab, run, p, "ipv6_broken", "network",
                         ["IPv6", "IPv4 works", "connect timeout", "gai.conf"])


@scenario("network/ipv6_dropped_ipv6_broken")
def ipv6_dropped(lab):
    ipv6_broken(lab, "v6drop", "timeout")


@scenario("network/ipv6_refused_ipv6_broken")
def ipv6_refused(lab):
    ipv6_broken(lab, "v6reset", "connection_re")  # refused or reset: the nft reset


@scenario("network/ipv6_only_provider_ok")
def ipv6_only(lab):
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL},
                    resolvers=[W.RESOLVERS["v6only"]])
    lab.require_json(run)
    lab.expect_rc(run, 0)
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "ok")
        lab.expect_field(r, "layers.tcp.address", lambda v, p=p: isinstance(v, str) and
                         W.GENUINE6[p] in v, W.GENUINE6[p], p)
        lab.expect(not attempts(r, "ipv4") and
                   any(a.get("status") == "ok" for a in attempts(r, "ipv6")),
                   "%s: attempts %r, want IPv6 only" % (p, get(r, "layers.tcp.attempts")))
        expect_diagnosis(lab, run, p, "ok", "none", [])


@scenario("network/both_families_fine_ok")
def both_fine(lab):
    # The resolver itself is asked over IPv6.
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL},
                    resolvers=["[%s]:53" % W.DUAL_RESOLVER6])
    lab.require_json(run)
    lab.expect_rc(run, 0)
    for p in ALL:
        r = lab.expect_verdict(run, p, "default", "ok")
        for fam in ("ipv4", "ipv6"):
            lab.expect(any(a.get("status") == "ok" for a in attempts(r, fam)),
                       "%s: no %s attempt ok: %r" % (p, fam, get(r, "layers.tcp.attempts")))
        expect_diagnosis(lab, run, p, "ok", "none", [])


@scenario("network/route_without_ipv6_is_not_broken")
def no_ipv6_route(lab):
    # eth-b has no IPv6 at all; the provider's AAAA leads nowhere from there,
    # which is not a broken IPv6 (clients fall back to IPv4 at once).
    run = lab.check(["discord"], ["iface-b"], keys={"discord": "valid"},
                    resolvers=[W.RESOLVERS["v6drop"]])
    lab.require_json(run)
    lab.expect_rc(run, 0)
    r = lab.expect_verdict(run, "discord", "iface-b", "ok")
    ev = " ".join(r.get("evidence") or [])
    lab.expect("unused here" in ev, "evidence does not say IPv6 is unused here: %s" % ev[:400])


# ------------------------------------------------------------------ this machine's clock
def faketime(offset):
    # The monotonic clock stays real: only the wall clock is this machine's fault.
    return ["env", "FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f", offset]


@scenario("host/clock_behind_certificates_not_yet_valid")
def clock_behind(lab):
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL}, wrapper=faketime("-3h"))
    lab.require_json(run)
    lab.expect_rc(run, 1)
    off = get(run.doc, "host.clock_offset_s")
    lab.expect(isinstance(off, (int, float)) and abs(off + 3 * 3600) < 120,
               "host.clock_offset_s = %r, want about -10800" % off)
    for p in ALL:
        lab.expect_verdict(run, p, "default", "tls_failed")
        expect_diagnosis(lab, run, p, "tls_failed", "host",
                         ["not_yet_valid", "this machine's clock is 3 h behind", "fix time sync"])


@scenario("host/clock_ahead_seen_in_date_headers")
def clock_ahead(lab):
    run = lab.check(ALL, ["default"], keys={p: "valid" for p in ALL}, wrapper=faketime("+2h"))
    lab.require_json(run)
    off = get(run.doc, "host.clock_offset_s")
    lab.expect(isinstance(off, (int, float)) and abs(off - 2 * 3600) < 120,
               "host.clock_offset_s = %r, want about 7200" % off)
    for p in ALL:
        lab.expect_verdict(run, p, "default", "ok")
        expect_diagnosis(lab, run, p, "ok", "host",
                         ["this machine's clock is 2 h ahead", "fix time sync"])


@scenario("host/right_clock_no_finding")
def clock_right(lab):
    run = lab.check(["openai"], ["default"], keys={"openai": "valid"})
    lab.require_json(run)
    lab.expect_rc(run, 0)
    off = get(run.doc, "host.clock_offset_s")
    lab.expect(isinstance(off, (int, float)) and abs(off) < 5,
               "host.clock_offset_s = %r, want about 0" % off)
    expect_diagnosis(lab, run, "openai", "ok", "none", [])


# ------------------------------------------------------------------ path MTU black hole
MTU_NFT = """
table inet lab_mtu {
  chain output {
    type filter hook output priority 0; policy accept;
    ip daddr %s tcp sport 443 ip length > 600 drop
  }
}
"""


@scenario("network/mtu_black_hole_small_mss_works")
def mtu_black_hole(lab):
    # The servers' large packets towards egress B vanish (no ICMP "too big"):
    # TCP connects, the ClientHello leaves, the certificate never arrives.
    # With an MSS of 536 every segment fits (<= 576 bytes).
    w = lab.w
    path = w.path("mtu.nft")
    with open(path, "w") as f:
        f.write(MTU_NFT % W.LINKS["eth-b"][0])
    w.ns(w.inet_ns, "nft", "-f", path)
    try:
        run = lab.check(["discord"], ["iface-b", "default"], keys={"discord": "valid"},
                        timeout="6s")
    finally:
        w.ns(w.inet_ns, "nft", "delete", "table", "inet", "lab_mtu", check=False)
    lab.require_json(run)
    lab.expect_rc(run, 1)
    r = lab.expect_verdict(run, "discord", "iface-b", "tls_failed")
    lab.expect_field(r, "layers.tcp.status", lambda v: v == "ok", "ok (TCP connects)")
    lab.expect_field(r, "layers.tls.small_mss", lambda v: v == "works", "works")
    lab.expect_verdict(run, "discord", "default", "ok")
    expect_diagnosis(lab, run, "discord", "tls_failed", "network",
                     ["MTU", "clamp the TCP MSS", "iface-b"])
