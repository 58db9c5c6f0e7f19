"""Scenarios for pathwatchd: the daemon runs in the host namespace while the lab
changes the world under it (a provider starts refusing one egress, a route's
public address moves), and its history, alerts and shutdown are checked.

Cycles are driven two ways: on its own schedule (interval 1s, polled through the
socket with a deadline) where only the outcome matters, and by `pathwatch run`
(interval 1h, one result per call) where the count of results decides the
outcome (hysteresis). Every wait is bounded; every change to the world is undone
in `finally`."""
import json
import os
import select
import signal
import subprocess
import time

import world as W
from harness import ALL, Failed

SCENARIOS = []

HOST_A = W.LINKS["eth-a"][0]      # egress A as the providers see the default route
MOVED_A = "198.18.1.130"          # a second address on eth-a, seen as SG / SIN
POLL = 0.5


def scenario(name):
    def deco(fn):
        SCENARIOS.append((name, fn))
        return fn
    return deco


class Daemon:
    """pathwatchd as our own child in the host namespace (`ip netns exec` execs it, so
    the pid is the daemon's), plus the `pathwatch` client commands against its socket."""

    def __init__(self, lab, interval, routes=("default",), alerts=None, providers=("openai",),
                 cfg=None):
        self.lab = lab
        # The built-ins stay unless disabled: only the providers named run.
        cfg = dict(cfg) if cfg is not None else lab.config(
            list(routes), timeout="1s",
            providers=[{"name": p} if p in providers else
                       {"name": p, "enabled": False} for p in ALL])
        cfg["interval"] = interval
        cfg["alerts"] = alerts or {"fail_threshold": 2, "resolve_threshold": 2}
        self.socket = cfg["socket"]
        self.config_path = os.path.join(lab.workdir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                    "HOME": lab.workdir, "TMPDIR": lab.workdir,
                    "OPENAI_API_KEY": lab.key("openai", "valid")}
        self.log_path = os.path.join(lab.workdir, "pathwatchd.log")
        self.proc = None
        self.last_run_end = None

    def __enter__(self):
        cmd = ["ip", "netns", "exec", self.lab.w.host_ns,
               os.path.join(self.lab.w.bin_dir, "pathwatchd"), "-c", self.config_path]
        if self.lab.verbose:
            print("    $ " + " ".join(cmd), flush=True)
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         cwd=self.lab.workdir)
        try:
            self.wait_for("the control socket", lambda: os.path.exists(self.socket), 10)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def tail(self, n=600):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:].strip()
        except OSError:
            return ""

    def cli(self, *args, limit=30):
        cmd = ["ip", "netns", "exec", self.lab.w.host_ns, self.lab.pathwatch] + list(args) + [
            "--socket", self.socket, "--json"]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, timeout=limit)
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            raise Failed("pathwatch %s: rc %d, no JSON: %s %s" % (
                args[0], p.returncode, p.stdout[-300:], p.stderr.strip()[-300:]))
        return doc

    # pathwatchd runs at most one cycle per config `timeout` (1s here): a `run`
    # within it after the last one is answered with that one's report. A fresh
    # cycle waits the window out.
    RUN_WINDOW = 1.05

    def run_once(self):
        """One fresh cycle; returns the openai/default verdict."""
        if self.last_run_end is not None:
            time.sleep(max(0.0, self.last_run_end + self.RUN_WINDOW - time.monotonic()))
        rep = self.cli("run")
        self.last_run_end = time.monotonic()
        for pr in rep.get("providers", []):
            for r in pr.get("routes", []):
                if pr.get("name") == "openai" and r.get("route") == "default":
                    if self.lab.verbose:
                        print("    run: openai/default %s" % r.get("verdict"), flush=True)
                    return r
        raise Failed("pathwatch run: no openai/default in %s" % json.dumps(rep)[:300])

    def history(self, *flags):
        return self.cli("history", *flags)

    def wait_for(self, what, probe, deadline):
        """Polls probe() every POLL seconds until it returns something truthy."""
        end = time.monotonic() + deadline
        while True:
            if self.proc.poll() is not None:
                raise Failed("pathwatchd exited (%s) waiting for %s: %s" %
                             (self.proc.returncode, what, self.tail()))
            got = probe()
            if got:
                return got
            if time.monotonic() > end:
                raise Failed("no %s within %.0fs" % (what, deadline))
            time.sleep(POLL)

    def terminate(self):
        """SIGTERM; returns (exit code or None, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0


def pairs(rows, route="default"):
    """(before, after) of openai/<route>'s transitions, oldest first (history answers
    newest first)."""
    rows = sorted(rows, key=lambda t: t.get("at", ""))
    return [(t.get("before"), t.get("after")) for t in rows
            if t.get("provider") == "openai" and t.get("route") == route]


def results(doc, route="default"):
    """Verdicts of openai/<route>, oldest first."""
    rows = [r for r in doc.get("results", []) if r.get("route") == route]
    rows.sort(key=lambda r: r.get("at", ""))
    return [r.get("verdict") for r in rows]


def region(lab, on):
    lab.w.force_case({HOST_A: "region"} if on else {})


# ------------------------------------------------------------------ history
@scenario("daemon/history_records_region_flip_as_two_transitions")
def history_transitions(lab):
    """The providers start refusing egress A, then serve it again, while pathwatchd runs
    every second: history holds exactly ok->region_blocked and back for that route, and
    none for iface-b, which was region_blocked all along."""
    try:
        with Daemon(lab, "1s", routes=("default", "iface-b")) as d:
            d.wait_for("first ok result",
                       lambda: "ok" in results(d.history("-r", "default")), 10)
            region(lab, True)
            d.wait_for("two region_blocked results",
                       lambda: results(d.history("-r", "default")).count("region_blocked") >= 2,
                       15)
            region(lab, False)

            def back():
                v = results(d.history("-r", "default"))
                return v[-2:] == ["ok", "ok"] and v.count("region_blocked") >= 2
            d.wait_for("two ok results after the flip", back, 15)
            # The same flip on the schedule raises one problem and resolves it once.
            want = [("problem", "default", "ok", "region_blocked", "region"),
                    ("resolved", "default", "region_blocked", "ok", "region")]

            def default_alerts():
                evs = [a for a in d.history("--alerts", "-r", "default").get("alerts", [])]
                return sorted(brief(evs), key=lambda e: e[0] != "problem")
            try:
                d.wait_for("problem and resolved alerts", lambda: len(default_alerts()) >= 2, 5)
            except Failed as e:
                lab.problems.append(str(e))
            lab.expect(default_alerts() == want, "alerts for openai/default %s, want %s" %
                       (default_alerts(), want))
            doc = d.history("--transitions")
            got = pairs(doc.get("transitions", []))
            lab.expect(got == [("ok", "region_blocked"), ("region_blocked", "ok")],
                       "transitions for openai/default %s, want ok->region_blocked, "
                       "region_blocked->ok" % got)
            lab.expect(pairs(doc.get("transitions", []), "iface-b") == [],
                       "iface-b (region_blocked throughout) has transitions %s" %
                       pairs(doc.get("transitions", []), "iface-b"))
            for t in doc.get("transitions", []):
                if t.get("after") == "region_blocked":
                    lab.expect(t.get("cause") == "region", "transition cause %r, want region"
                               % t.get("cause"))
            # A route broken from the first result on is news too (SPEC is silent; an
            # operator starting the daemon wants to hear it): one problem, no before.
            b_alerts = brief(d.history("--alerts", "-r", "iface-b").get("alerts", []))
            lab.expect(b_alerts == [("problem", "iface-b", None, "region_blocked", "region")],
                       "alerts for openai/iface-b %s, want one problem from nothing to "
                       "region_blocked" % b_alerts)
            iface_b = results(d.history("-r", "iface-b"), "iface-b")
            lab.expect(iface_b and set(iface_b) == {"region_blocked"},
                       "iface-b verdicts %s, want only region_blocked" % sorted(set(iface_b)))
            # The route filter narrows transitions too.
            other = d.history("--transitions", "-r", "iface-b").get("transitions", [])
            lab.expect(other == [], "history -r iface-b --transitions shows %s" % pairs(other))
            rc, _ = d.terminate()
            lab.expect(rc == 0, "pathwatchd exit code %s after SIGTERM" % rc)
    finally:
        region(lab, False)


# ------------------------------------------------------------------ alerts
class Hook:
    """The webhook receiver (servers.py hook) in the host namespace on 127.0.0.1:<any>."""

    def __init__(self, lab):
        self.lab = lab
        self.log = os.path.join(lab.workdir, "webhook.jsonl")
        self.proc = None
        self.url = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.w.host_ns, W.PY,
             os.path.join(W.HERE, "servers.py"), "hook", "--listen", "127.0.0.1:0",
             "--log", self.log], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 5)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            self.__exit__()
            raise Failed("webhook receiver did not start: %r" % line)
        self.url = "http://%s/hook" % line.split()[-1]
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)

    def events(self):
        return [json.loads(json.loads(line)["body"]) for line in read_lines(self.log)]

    def content_types(self):
        return [json.loads(line)["content_type"] for line in read_lines(self.log)]


def read_lines(path):
    try:
        with open(path) as f:
            return [line for line in f if line.strip()]
    except OSError:
        return []


def exec_sink(lab):
    """A command that appends the alert on its stdin to a file, one JSON line each."""
    out = os.path.join(lab.workdir, "exec-alerts.jsonl")
    script = os.path.join(lab.workdir, "on-alert.py")
    with open(script, "w") as f:
        f.write("#!%s\nimport json, sys\ndata = sys.stdin.read()\n"
                "try:\n    line = json.dumps(json.loads(data))\n"
                "except ValueError:\n    line = json.dumps({'unparsed': data})\n"
                "with open(%r, 'a') as f:\n    f.write(line + '\\n')\n" % (W.PY, out))
    os.chmod(script, 0o755)
    return script, out


def brief(events):
    return [(e.get("event"), e.get("route"), e.get("before"), e.get("after"), e.get("cause"))
            for e in events]


@scenario("daemon/alerts_problem_and_resolved_once_flap_none")
def alerts_once(lab):
    """fail_threshold 2 / resolve_threshold 2, cycles by `pathwatch run`: one refused
    cycle is a flap (no alert); three refused then three good give exactly one `problem`
    and one `resolved`, the same on the webhook, the exec command and in history."""
    script, exec_out = exec_sink(lab)
    try:
        with Hook(lab) as hook:
            alerts = {"fail_threshold": 2, "resolve_threshold": 2,
                      "webhooks": [{"url": hook.url, "format": "json"}], "exec": [script]}
            with Daemon(lab, "1h", alerts=alerts) as d:
                first = d.run_once()
                if first.get("verdict") != "ok":
                    raise Failed("openai/default %s before any change, want ok" %
                                 first.get("verdict"))
                # A flap shorter than fail_threshold.
                region(lab, True)
                flap = d.run_once().get("verdict")
                region(lab, False)
                lab.expect(flap == "region_blocked", "flap cycle verdict %s" % flap)
                # Ten good results push the flap's two changes out of the flapping
                # window (4 changes in 10 results): the problem below is its own.
                for _ in range(10):
                    d.run_once()
                lab.expect(d.history("--alerts").get("alerts") == [],
                           "alerts after a one-cycle flap: %s" %
                           brief(d.history("--alerts").get("alerts", [])))
                # A real problem, then its resolution.
                region(lab, True)
                bad = [d.run_once().get("verdict") for _ in range(3)]
                region(lab, False)
                good = [d.run_once().get("verdict") for _ in range(3)]
                lab.expect(bad == ["region_blocked"] * 3 and good == ["ok"] * 3,
                           "cycle verdicts %s then %s" % (bad, good))
                want = [("problem", "default", "ok", "region_blocked", "region"),
                        ("resolved", "default", "region_blocked", "ok", "region")]
                # Sinks deliver asynchronously: wait (bounded) for both on each.
                d.wait_for("two webhook deliveries", lambda: len(hook.events()) >= 2, 10)
                d.wait_for("two exec deliveries", lambda: len(read_lines(exec_out)) >= 2, 10)
                hist = d.history("--alerts").get("alerts", [])
                hooked = hook.events()
                execd = [json.loads(x) for x in read_lines(exec_out)]
                for name, evs in (("history", hist), ("webhook", hooked), ("exec", execd)):
                    got = sorted(brief(evs), key=lambda e: e[0] != "problem")
                    lab.expect(got == want, "%s alerts %s, want %s" % (name, got, want))
                    lab.expect(all(e.get("provider") == "openai" for e in evs),
                               "%s alerts name providers %s" %
                               (name, [e.get("provider") for e in evs]))
                    lab.expect(all(e.get("summary") and e.get("at") for e in evs),
                               "%s alerts without summary or at" % name)
                key_ = lambda e: (e.get("event"), e.get("at"), e.get("summary"))
                lab.expect(sorted(map(key_, hooked)) == sorted(map(key_, execd)),
                           "webhook and exec got different alerts")
                lab.expect(all(ct.startswith("application/json")
                               for ct in hook.content_types()),
                           "webhook content types %s" % hook.content_types())
                rc, _ = d.terminate()
                lab.expect(rc == 0, "pathwatchd exit code %s after SIGTERM" % rc)
                secret = lab.key("openai", "valid")
                for path in (hook.log, exec_out, d.log_path):
                    with open(path, errors="replace") as f:
                        lab.expect(secret[8:-4] not in f.read(), "%s holds the key" % path)
    finally:
        region(lab, False)


# ------------------------------------------------------------------ egress
@scenario("daemon/egress_change_alerts_once")
def egress_change(lab):
    """The default route's source address moves from 198.18.1.2 (DE) to 198.18.1.130
    (same link, seen as SG) while pathwatchd runs: exactly one egress_changed with both
    addresses and countries, none for the result after it, and the verdict stays ok."""
    w = lab.w
    moved = False
    try:
        with Daemon(lab, "1h") as d:
            first = d.run_once()
            lab.expect((first.get("egress") or {}).get("ip") == HOST_A,
                       "egress before the move %s, want %s" % (first.get("egress"), HOST_A))
            w.ns(w.host_ns, "ip", "addr", "add", MOVED_A + "/24", "dev", "eth-a")
            moved = True
            w.ns(w.host_ns, "ip", "route", "replace", "default", "via", W.LINKS["eth-a"][1],
                 "dev", "eth-a", "src", MOVED_A)
            after = [d.run_once() for _ in range(2)]
            lab.expect([r.get("verdict") for r in after] == ["ok", "ok"],
                       "verdicts after the move %s" % [r.get("verdict") for r in after])
            lab.expect([(r.get("egress") or {}).get("ip") for r in after] == [MOVED_A] * 2,
                       "egress after the move %s, want %s" %
                       ([r.get("egress") for r in after], MOVED_A))
            alerts = d.history("--alerts").get("alerts", [])
            changes = [a for a in alerts if a.get("event") == "egress_changed"]
            lab.expect(len(changes) == 1 and len(alerts) == 1,
                       "alerts %s, want exactly one egress_changed" % brief(alerts))
            if changes:
                e = changes[0]
                before, aft = (x if isinstance(x, dict) else {} for x in
                               (e.get("before"), e.get("after")))
                lab.expect(before.get("ip") == HOST_A, "egress_changed before %r, want ip %s"
                           % (e.get("before"), HOST_A))
                lab.expect(aft.get("ip") == MOVED_A, "egress_changed after %r, want ip %s"
                           % (e.get("after"), MOVED_A))
                lab.expect(e.get("route") == "default", "egress_changed route %r"
                           % e.get("route"))
                for side, val, want in (("before", before, ("DE", "FRA")),
                                        ("after", aft, ("SG", "SIN"))):
                    got = (val.get("country"), val.get("colo"))
                    lab.expect(got == want, "egress_changed %s country/colo %s, want %s" %
                               (side, got, want))
            rc, _ = d.terminate()
            lab.expect(rc == 0, "pathwatchd exit code %s after SIGTERM" % rc)
    finally:
        if moved:
            w.ns(w.host_ns, "ip", "route", "replace", "default", "via", W.LINKS["eth-a"][1],
                 "dev", "eth-a", "src", HOST_A, check=False)
            w.ns(w.host_ns, "ip", "addr", "del", MOVED_A + "/24", "dev", "eth-a", check=False)


# ------------------------------------------------------------------ shutdown
@scenario("daemon/sigterm_exits_0_and_removes_socket")
def sigterm(lab):
    """SIGTERM while cycles run every second: exit 0 within 2 s, socket gone."""
    with Daemon(lab, "1s") as d:
        d.wait_for("a first result", lambda: results(d.history()), 10)
        rc, took = d.terminate()
        lab.expect(rc == 0, "exit code %s after SIGTERM, want 0 (%s)" % (rc, d.tail(300)))
        lab.expect(took <= 2.0, "took %.2fs to exit after SIGTERM, want <= 2s" % took)
        lab.expect(not os.path.exists(d.socket), "the socket %s is still there" % d.socket)
