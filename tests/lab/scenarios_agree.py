"""One world, two ways in: `pathwatch check --json` and pathwatchd's
`pathwatch run --json` must say the same thing about every provider and route,
because both build their report the same way (probes/report.cc). The world
has an echo front end that adds a header to every request (no route is to
blame for it), a route refused by region, a proxy that adds Via, and an
ssl-bump proxy that strips the key."""
import harness as H
from daemon_scenarios import Daemon
import world as W

SCENARIOS = []

ROUTES = ["default", "iface-b", "http-proxy", "strip-proxy"]


def scenario(name):
    def deco(fn):
        SCENARIOS.append((name, fn))
        return fn
    return deco


def essentials(doc):
    """What must agree: per pair the verdict, echo status and what it saw added,
    egress; per provider the diagnosis; per route the egress and binding."""
    out = {}
    for pr in doc.get("providers", []):
        d = pr.get("diagnosis", {})
        out[("diagnosis", pr.get("name"))] = (d.get("verdict"), d.get("cause"),
                                             tuple(d.get("working_routes") or []),
                                             d.get("summary"))
        for r in pr.get("routes", []):
            echo = H.get(r, "layers.echo", {}) or {}
            eg = r.get("egress") or {}
            out[(pr.get("name"), r.get("route"))] = (
                r.get("verdict"), echo.get("status"), tuple(sorted(echo.get("added") or [])),
                eg.get("ip"), eg.get("country"), eg.get("colo"), eg.get("seen_by"))
    for rt in doc.get("routes", []):
        eg = rt.get("egress") or {}
        out[("route", rt.get("name"))] = (eg.get("ip"), eg.get("country"), eg.get("colo"),
                                          rt.get("binding_error"))
    return out


@scenario("agree/check_and_daemon_run_say_the_same")
def check_and_daemon_agree(lab):
    cfg = lab.config(ROUTES, timeout="3s")
    cfg["echo"] = ["http://%s/echo" % W.ECHO_FRONT]
    run = lab.check(H.ALL, ROUTES, keys={"openai": "valid"}, cfg=cfg)
    lab.require_json(run)
    from_check = essentials(run.doc)

    # The front end's header is discounted on every route; Via stays the proxy's.
    for p in H.ALL:
        r = run.route(p, "default")
        lab.expect_field(r, "layers.echo.status", lambda v: v == "ok", "ok (front end discounted)",
                         p + "/default")
        r = run.route(p, "http-proxy")
        lab.expect_field(r, "layers.echo.added", lambda v: v is not None and "via" in v and
                         "x-echo-front-end" not in v, "via only", p + "/http-proxy")
    lab.expect_verdict(run, "openai", "iface-b", "region_blocked")

    cfg["interval"] = "1h"
    with Daemon(lab, "1h", cfg=cfg) as d:
        doc = d.cli("run")
    from_daemon = essentials(doc)
    for k in sorted(set(from_check) | set(from_daemon), key=str):
        lab.expect(from_check.get(k) == from_daemon.get(k),
                   "%s: check says %s, pathwatchd says %s" % (k, from_check.get(k),
                                                              from_daemon.get(k)))
