"""pathwatchd's metrics under a real Prometheus (Debian's `prometheus`), both in the lab's
host namespace: pathwatchd serves /metrics on 127.0.0.1, Prometheus scrapes it every
second and evaluates examples/prometheus/pathwatch.rules.yml every second. When the
providers start refusing egress A by region, Prometheus's own HTTP API shows
pathwatch_verdict{verdict="region_blocked"} == 1 for that pair and the rule
PathwatchRouteRegionBlocked fires (route http-proxy still works). A live scrape passes
`promtool check metrics` before and after.

The rules are loaded from a copy whose `for:` durations are cut to 2s (the real ones
are minutes, meant for a 60 s check interval); the expressions are the examples' own.
Every wait is bounded; Prometheus is our own child, killed by pid, its data dir
removed; the world's change is undone in `finally`."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse

import daemon_scenarios as D
import world as W
from harness import Failed

SCENARIOS = []

METRICS = "127.0.0.1:19848"     # pathwatchd's metrics.listen (the host namespace is ours)
PROMETHEUS = "127.0.0.1:19090"  # Prometheus's web/API address
RULES = os.path.join(W.HERE, "..", "..", "examples", "prometheus", "pathwatch.rules.yml")
FOR = "2s"


def scenario(name):
    def deco(fn):
        SCENARIOS.append((name, fn))
        return fn
    return deco


def in_host(lab, *cmd, timeout=10):
    return subprocess.run(["ip", "netns", "exec", lab.w.host_ns] + list(cmd),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def scrape_checked(lab):
    """A live scrape piped through `promtool check metrics`: (text, promtool rc, output)."""
    p = in_host(lab, "curl", "-sS", "--max-time", "3", "http://%s/metrics" % METRICS)
    if p.returncode != 0:
        raise Failed("GET /metrics: curl rc %d: %s" % (p.returncode, p.stderr.strip()))
    check = subprocess.run(["promtool", "check", "metrics"], input=p.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
    return p.stdout, check.returncode, check.stdout.strip()


class Prometheus:
    """Debian's prometheus as our own child in the host namespace, with its own config,
    rules copy and storage under the scenario's workdir."""

    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab.workdir, "prometheus")
        self.data = os.path.join(self.dir, "data")
        self.proc = None

    def write_files(self):
        os.makedirs(self.data, exist_ok=True)
        with open(RULES) as f:
            rules = f.read()
        short, n = re.subn(r"(?m)^(\s+)for: \d+[smh]$", r"\g<1>for: " + FOR, rules)
        if n == 0:
            raise Failed("no `for:` found in %s to shorten" % RULES)
        rules_path = os.path.join(self.dir, "pathwatch.rules.yml")
        with open(rules_path, "w") as f:
            f.write(short)
        cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [rules_path],
            "scrape_configs": [{"job_name": "pathwatch",
                                "static_configs": [{"targets": [METRICS]}]}],
        }
        path = os.path.join(self.dir, "prometheus.yml")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)  # JSON is YAML
        return path

    def __enter__(self):
        cfg = self.write_files()
        cmd = ["ip", "netns", "exec", self.lab.w.host_ns, "prometheus",
               "--config.file=" + cfg, "--storage.tsdb.path=" + self.data,
               "--web.listen-address=" + PROMETHEUS, "--log.level=warn"]
        if self.lab.verbose:
            print("    $ " + " ".join(cmd), flush=True)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
        try:
            self.wait_for("Prometheus ready", lambda: self.get("/-/ready") is not None, 15)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)

    def tail(self, n=600):
        try:
            with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
                return f.read()[-n:].strip()
        except OSError:
            return ""

    def get(self, path):
        """The body of GET path on Prometheus, or None."""
        p = in_host(self.lab, "curl", "-sf", "--max-time", "2", "http://%s%s" % (PROMETHEUS, path))
        return p.stdout if p.returncode == 0 else None

    def query(self, expr):
        """The result vector of an instant query: [(labels, value)]."""
        body = self.get("/api/v1/query?query=" + urllib.parse.quote(expr, safe=""))
        if body is None:
            return []
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise Failed("query %s: %s" % (expr, body[:300]))
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def wait_for(self, what, probe, deadline):
        end = time.monotonic() + deadline
        while True:
            if self.proc.poll() is not None:
                raise Failed("prometheus exited (%s) waiting for %s: %s" %
                             (self.proc.returncode, what, self.tail()))
            got = probe()
            if got:
                return got
            if time.monotonic() > end:
                raise Failed("no %s within %.0fs" % (what, deadline))
            time.sleep(0.25)


def families(text):
    return re.findall(r"(?m)^# TYPE (\S+) ", text)


@scenario("metrics/prometheus_sees_region_block_and_fires_the_rule")
def prometheus_region(lab):
    """Egress A starts being refused by region under a running pathwatchd that a real
    Prometheus scrapes: the verdict series flips in Prometheus, the example rule fires for
    that route only, and live scrapes pass promtool."""
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        raise Failed("prometheus/promtool not installed (scripts/install-deps.sh installs them)")
    t0 = time.monotonic()
    try:
        d = D.Daemon(lab, "1s", routes=("default", "http-proxy"))
        with open(d.config_path) as f:
            cfg = json.load(f)
        cfg["metrics"] = {"listen": METRICS}
        with open(d.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        with d:
            def both_ok():
                text, _, _ = scrape_checked(lab)
                return all('pathwatch_up{provider="openai",route="%s"} 1' % r in text
                           for r in ("default", "http-proxy"))
            d.wait_for("ok on both routes in /metrics", both_ok, 10)
            text, rc, out = scrape_checked(lab)
            lab.expect(rc == 0, "promtool check metrics on a live scrape: rc %d: %s" % (rc, out))
            secret = lab.key("openai", "valid")
            lab.expect(secret[8:-4] not in text, "the key is in /metrics")

            with Prometheus(lab) as prom:
                up = 'pathwatch_up{provider="openai",route="%s"} == 1'
                prom.wait_for("both routes up in Prometheus",
                              lambda: prom.query(up % "default") and prom.query(up % "http-proxy"),
                              10)
                lab.expect(prom.query('ALERTS{alertname="PathwatchRouteRegionBlocked"}') == [],
                           "the region rule is active before any block")
                flipped = time.monotonic()
                D.region(lab, True)
                blocked = ('pathwatch_verdict{provider="openai",route="default",'
                           'verdict="region_blocked",cause="region"} == 1')
                prom.wait_for("region_blocked == 1 in Prometheus", lambda: prom.query(blocked), 10)
                was_ok = prom.query('pathwatch_verdict{provider="openai",route="default",'
                                    'verdict="ok"}')
                lab.expect([v for _, v in was_ok] == [0.0],
                           "the ok series of openai/default after the flip: %s, want one at 0"
                           % was_ok)
                firing = 'ALERTS{alertname="PathwatchRouteRegionBlocked",alertstate="firing"}'
                alerts = prom.wait_for("PathwatchRouteRegionBlocked firing",
                                       lambda: prom.query(firing), 12)
                routes = sorted((m.get("provider"), m.get("route")) for m, _ in alerts)
                lab.expect(routes == [("openai", "default")],
                           "firing for %s, want only openai/default" % routes)
                if lab.verbose:
                    print("    region flip -> firing in %.1fs" % (time.monotonic() - flipped),
                          flush=True)
                # The endpoint is healthy for Prometheus itself.
                health = prom.query('up{job="pathwatch"}')
                lab.expect([v for _, v in health] == [1.0], "up{job=pathwatch} %s" % health)
            text, rc, out = scrape_checked(lab)
            lab.expect(rc == 0, "promtool check metrics after the flip: rc %d: %s" % (rc, out))
            lab.expect('verdict="region_blocked",cause="region"} 1' in text,
                       "no region_blocked 1 in the scrape after the flip")
            # The socket says the same.
            p = in_host(lab, lab.pathwatch, "metrics", "--socket", d.socket)
            lab.expect(p.returncode == 0 and families(p.stdout) == families(text),
                       "pathwatch metrics: rc %d, families %s, want %s" %
                       (p.returncode, families(p.stdout), families(text)))
            rc, _ = d.terminate()
            lab.expect(rc == 0, "pathwatchd exit code %s after SIGTERM" % rc)
    finally:
        D.region(lab, False)
    lab.expect(time.monotonic() - t0 < 30, "took %.1fs, want < 30s" % (time.monotonic() - t0))
