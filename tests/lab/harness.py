"""Runs `pathwatch check` inside the lab's host namespace and checks what it says."""
import json
import os
import shutil
import subprocess
import time

import world as W

# Routes the scenarios use, by name (README.md explains each).
ROUTES = {
    "default": {},                                          # main table: egress A (DE)
    "iface-a": {"interface": "eth-a"},
    "iface-b": {"interface": "eth-b"},                      # egress B (HK): region refusals
    "iface-c": {"interface": "eth-c"},                      # egress C: blackholed by inet
    "src-a": {"source_ip": W.LINKS["eth-a"][0]},
    "src-b": {"source_ip": W.LINKS["eth-b"][0]},
    "http-proxy": {"proxy": "http://%s:3128" % W.PROXY_PLAIN},
    "socks": {"proxy": "socks5h://%s:1080" % W.SOCKS},
    "strip-proxy": {"proxy": "http://%s:3128" % W.PROXY_STRIP},
    "deny-proxy": {"proxy": "http://%s:3128" % W.PROXY_DENY},
    "auth-proxy": {"proxy": "http://%s:3128" % W.PROXY_AUTH},
    "noconnect-proxy": {"proxy": "http://%s:3128" % W.PROXY_NOCONNECT},
    "dead-proxy": {"proxy": "http://%s:3128" % W.PROXY_DEAD},
    "dropped-proxy": {"proxy": "http://%s:3128" % W.PROXY_DROPPED},
}
ENV_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
            "gemini": "GEMINI_API_KEY", "discord": "DISCORD_BOT_TOKEN"}
ALL = ["openai", "anthropic", "gemini", "discord"]


class Failed(Exception):
    pass


class CheckRun:
    def __init__(self, rc, stdout, stderr, wall, cpu, workdir, cmd):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.wall, self.cpu, self.workdir, self.cmd = wall, cpu, workdir, cmd
        self.doc = None
        self.parse_error = None
        try:
            self.doc = json.loads(stdout) if stdout.strip() else None
            if self.doc is None:
                self.parse_error = "empty stdout"
        except ValueError as e:
            self.parse_error = str(e)

    def route(self, provider, route):
        for p in (self.doc or {}).get("providers", []):
            if p.get("name") == provider:
                for r in p.get("routes", []):
                    if r.get("route") == route:
                        return r
        return None

    def provider(self, provider):
        for p in (self.doc or {}).get("providers", []):
            if p.get("name") == provider:
                return p
        return None

    def summary(self):
        if self.doc is None:
            return "rc=%s, no JSON (%s); stderr: %s" % (self.rc, self.parse_error,
                                                         self.stderr.strip()[-400:])
        parts = []
        for p in self.doc.get("providers", []):
            for r in p.get("routes", []):
                code = get(r, "layers.http.code")
                parts.append("%s/%s=%s%s" % (p.get("name"), r.get("route"), r.get("verdict"),
                                             "(%s)" % code if code else ""))
        return "rc=%s %s" % (self.rc, " ".join(parts))


def get(obj, dotted, default=None):
    cur = obj
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return default
    return cur


class Lab:
    """What a scenario sees: the world plus helpers to run checks and assert."""

    def __init__(self, world, verbose=False):
        self.w = world
        self.verbose = verbose
        self.pathwatch = os.path.join(world.bin_dir, "pathwatch")
        self.problems = []
        self.workdir = None

    def key(self, provider, case):
        return self.w.keys[(provider, case)]

    def config(self, routes, resolvers=None, providers=None, timeout="3s", echo=True):
        cfg = {
            "timeout": timeout,
            "providers": providers if providers is not None else [{"name": p} for p in ALL],
            "routes": [dict({"name": r}, **ROUTES[r]) for r in routes],
            "resolvers": resolvers or ["system"],
            "allowed_ranges": ["198.18.0.0/15", "fd00:18::/32"],  # the lab's ULA too
            "tls": {"ca_file": self.w.ca_bundle, "public_roots": self.w.public_roots},
            "socket": os.path.join(self.workdir, "pathwatch.sock"),
            "history": {"path": os.path.join(self.workdir, "history.db")},
        }
        if echo and self.w.echo_url:
            cfg["echo"] = [self.w.echo_url]
        return cfg

    def new_workdir(self, name):
        d = self.w.path("scn-" + name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        self.workdir = d
        return d

    def check(self, providers, routes, keys=None, resolvers=None, cfg=None, env=None,
              json_out=True, timeout="3s", limit=60.0, extra_args=(), wrapper=()):
        """keys: {provider: case name in world.CASES, or ("raw", value)}; env wins.
        wrapper: a command pathwatch runs under (e.g. faketime with its offset)."""
        cfg = cfg or self.config(routes, resolvers, timeout=timeout)
        path = os.path.join(self.workdir, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": self.workdir,
             "TMPDIR": self.workdir}
        for prov, k in (keys or {}).items():
            e[ENV_VARS[prov]] = k[1] if isinstance(k, tuple) else self.key(prov, k)
        e.update(env or {})
        cmd = (["ip", "netns", "exec", self.w.host_ns] + list(wrapper) +
               [self.pathwatch, "check", "-c", path])
        if json_out:
            cmd.append("--json")
        for p in providers:
            cmd += ["-p", p]
        for r in routes:
            cmd += ["-r", r]
        cmd += list(extra_args)
        if self.verbose:
            print("    $ " + " ".join(cmd), flush=True)
        before = os.times()
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                               cwd=self.workdir, timeout=limit)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as ex:
            rc, out, err = "timeout", ex.stdout or b"", (ex.stderr or b"") + (
                b"\n[lab] killed after %.0fs" % limit)
        except OSError as ex:
            rc, out, err = "exec-error", b"", str(ex).encode()
        wall = time.monotonic() - t0
        after = os.times()
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system)
        run = CheckRun(rc, out.decode(errors="replace"), err.decode(errors="replace"), wall,
                       cpu, self.workdir, cmd)
        if self.verbose:
            print("    %s (%.2fs)" % (run.summary(), wall), flush=True)
        return run

    # ---- assertions: collect, so one scenario reports every mismatch ----
    def expect(self, cond, msg):
        if not cond:
            self.problems.append(msg)
        return bool(cond)

    def require_json(self, run):
        if run.doc is None:
            raise Failed("no JSON from pathwatch check: " + run.summary())

    def expect_rc(self, run, want):
        self.expect(run.rc == want, "exit code %s, want %s" % (run.rc, want))

    def expect_verdict(self, run, provider, route, want):
        """want: a verdict or a tuple of acceptable verdicts. Returns the route result."""
        r = run.route(provider, route)
        if r is None:
            self.problems.append("%s/%s missing from the report" % (provider, route))
            return {}
        wants = want if isinstance(want, tuple) else (want,)
        got = r.get("verdict")
        if got not in wants:
            ev = r.get("evidence") or []
            self.problems.append("%s/%s verdict %s, want %s (http %s; evidence: %s)" % (
                provider, route, got, "|".join(wants), get(r, "layers.http.code"),
                "; ".join(str(x) for x in ev[:3])[:300]))
        return r

    def expect_field(self, r, dotted, pred, what, label=""):
        val = get(r, dotted)
        ok = pred(val)
        self.expect(ok, "%s%s = %r, want %s" % (label + " " if label else "", dotted, val, what))
        return val
