#!/usr/bin/python3
"""CPU per provider probe: pathwatchd against Prometheus blackbox_exporter on the lab. Needs root.

  sudo /usr/bin/python3 bench/vs_blackbox.py --bin-dir build [--runs 5] [--window 60] \
      [--interval 2s] [--routes iface-a] [-v]

Builds the lab world (tests/lab) once, then starts both side by side in the lab's host
namespace and keeps them running for the whole bench:

- pathwatchd with the four providers over --routes (default: `iface-a` only, egress A, the
  same ISP as blackbox's main-table route `default via 198.18.1.1 dev eth-a`), every layer
  on: two resolvers ("system" and 198.18.53.1, both honest), TCP, TLS against the lab's CA
  file plus the public-root check, HTTP with valid lab keys, the route's header echo and its
  cdn-cgi/trace egress; interval --interval, timeout = interval.
- prometheus-blackbox-exporter (the Debian package) with one `http` module per provider:
  the same URL as pathwatch's probe, the same auth header and key, the same CA file, IPv4.
  A driver inside the namespace asks its /probe endpoint once per provider every
  --interval (the four at once, like pathwatchd's round), so both run at the same rate.

After a warm-up, each run samples both processes' run time (/proc/PID/task/*/schedstat, ns, all threads)
over --window seconds and counts the probes each did in it: pathwatchd's from
`pathwatch status` (`cycles`: with one route one per provider probe; with more routes the
history rows in the window are counted) and blackbox's from the driver (probes answered
with probe_success 1; failed ones are listed). Per run it prints CPU ms per probe for both
and the ratio; at the end the medians over the runs.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

import harness  # noqa: E402
import world as W  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
BB_LISTEN = "127.0.0.1:19115"

# The request pathwatch makes per provider (docs/configuration.md, built-ins): path and
# auth header; the key goes in where KEY is.
PROBES = {
    "openai": ("https://api.openai.com/v1/models", {"Authorization": "Bearer KEY"}),
    "anthropic": ("https://api.anthropic.com/v1/models",
                  {"x-api-key": "KEY", "anthropic-version": "2023-06-01"}),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/models",
               {"x-goog-api-key": "KEY"}),
    "discord": ("https://discord.com/api/v10/users/@me", {"Authorization": "Bot KEY"}),
}


class Stop(BaseException):
    pass


def cpu_s(pid):
    """CPU time of a process so far, seconds: the sum of its threads' run time in ns
    (/proc/PID/task/*/schedstat). utime + stime in /proc/PID/stat count 10 ms ticks, and a
    40 s window of 80 probes is only 20-30 of them: a quarter of the run-to-run spread was
    that rounding. Both daemons keep their threads for their life (a thread that exits would
    take its time out of this sum), which the tick count confirms in verbose mode."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def cpu_ticks_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def minflt(pid):
    """Minor page faults of a process so far (all threads): memory it maps and touches anew."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def mem_kb(pid, field, where="status"):
    """VmRSS (now), VmHWM (peak), RssAnon (status) or Pss (smaps_rollup) of a process, KiB."""
    with open("/proc/%d/%s" % (pid, where)) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def blackbox_yaml(lab, ca_file):
    lines = ["modules:"]
    for p, (_, headers) in PROBES.items():
        lines += ["  %s:" % p, "    prober: http", "    timeout: 5s", "    http:",
                  "      method: GET", "      preferred_ip_protocol: ip4",
                  "      ip_protocol_fallback: false", "      follow_redirects: false",
                  "      fail_if_not_ssl: true", "      headers:"]
        for k, v in headers.items():
            lines.append("        %s: %s" % (k, json.dumps(v.replace("KEY", lab.key(p, "valid")))))
        lines += ["      tls_config:", "        ca_file: %s" % json.dumps(ca_file)]
    return "\n".join(lines) + "\n"


# ---- the driver: runs inside the namespace, asks blackbox's /probe ----

DRIVER = r"""
import json, sys, threading, time, urllib.request
base, interval, end = sys.argv[1], float(sys.argv[2]), time.monotonic() + float(sys.argv[3])
mods = sys.argv[4].split(",")
lock = threading.Lock()
def one(m):
    url = "%s/probe?module=%s&target=%s" % (base, m, urllib.request.quote(TARGETS[m], safe=""))
    try:
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        ok = any(l.startswith("probe_success ") and l.split()[1] == "1" for l in body.splitlines())
    except Exception as e:
        ok = False
    with lock:
        print(json.dumps({"t": time.time(), "module": m, "ok": ok}), flush=True)
TARGETS = json.loads(sys.argv[5])
n = 0
t0 = time.monotonic()
while time.monotonic() < end:
    th = [threading.Thread(target=one, args=(m,)) for m in mods]
    for t in th: t.start()
    for t in th: t.join()
    n += 1
    time.sleep(max(0.0, t0 + n * interval - time.monotonic()))
"""


def parse_duration_s(d):
    for unit, mul in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if d.endswith(unit) and d[: -len(unit)].replace(".", "").isdigit():
            return float(d[: -len(unit)]) * mul
    raise SystemExit("bad duration %r" % d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per run (10..1800)")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--interval", default="2s")
    ap.add_argument("--routes", default="iface-a",
                    help="comma-separated lab routes for pathwatchd (iface-a: egress A, the "
                         "first ISP, the one blackbox's main-table route takes too)")
    ap.add_argument("--pw-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for pathwatchd only (an A/B of a tunable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("vs_blackbox: needs root (it builds the lab world)")
        return 0
    if not os.access(BLACKBOX, os.X_OK):
        print("vs_blackbox: %s missing (apt install prometheus-blackbox-exporter)" % BLACKBOX)
        return 2
    bin_dir = os.path.abspath(a.bin_dir)
    routes = [r for r in a.routes.split(",") if r]
    window = max(10.0, min(a.window, 1800.0))
    interval_s = parse_duration_s(a.interval)
    runs = max(1, min(a.runs, 20))

    def stop(signum, frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w = W.World(bin_dir, verbose=a.verbose)
    tmp = tempfile.mkdtemp(prefix="pathwatch-vsbb-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        w.build()
        lab = harness.Lab(w, verbose=a.verbose)
        lab.workdir = tmp
        cfg = lab.config(routes, resolvers=["system", W.RESOLVERS["honest"]], timeout=a.interval)
        cfg["interval"] = a.interval
        cfg_path = os.path.join(tmp, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        bb_path = os.path.join(tmp, "blackbox.yml")
        with open(bb_path, "w") as f:
            f.write(blackbox_yaml(lab, w.ca_bundle))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": tmp,
               "TMPDIR": tmp}
        for p in harness.ALL:
            env[harness.ENV_VARS[p]] = lab.key(p, "valid")
        sock = cfg["socket"]

        pw_env = dict(env)
        for kv in a.pw_env:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                print("--pw-env wants NAME=VALUE")
                return 2
            pw_env[k] = v

        def start(name, cmd):
            out = open(os.path.join(tmp, name + ".log"), "w")
            p = subprocess.Popen(["ip", "netns", "exec", w.host_ns] + cmd, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=pw_env if name == "pathwatchd" else env, cwd=tmp)
            out.close()
            procs.append(p)
            return p

        def log_tail(name, n=600):
            try:
                with open(os.path.join(tmp, name + ".log"), errors="replace") as f:
                    return f.read()[-n:].strip()
            except OSError:
                return ""

        def cli(*args):
            p = subprocess.run(["ip", "netns", "exec", w.host_ns, os.path.join(bin_dir, "pathwatch")]
                               + list(args) + ["--socket", sock, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, timeout=30)
            try:
                return json.loads(p.stdout)
            except ValueError:
                return {"error": "rc %d: %s" % (p.returncode, (p.stderr or p.stdout)[-300:])}

        pw = start("pathwatchd", [os.path.join(bin_dir, "pathwatchd"), "-c", cfg_path])
        bb = start("blackbox", [BLACKBOX, "--config.file=" + bb_path,
                                "--web.listen-address=" + BB_LISTEN, "--log.level=warn"])
        end = time.monotonic() + 10
        while not os.path.exists(sock):
            for name, p in (("pathwatchd", pw), ("blackbox", bb)):
                if p.poll() is not None:
                    print("%s exited (%s): %s" % (name, p.returncode, log_tail(name)))
                    return 1
            if time.monotonic() > end:
                print("no control socket within 10 s: %s" % log_tail("pathwatchd"))
                return 1
            time.sleep(0.1)
        for name, p, comm in (("pathwatchd", pw, "pathwatchd"), ("blackbox", bb, "prometheus-blac")):
            with open("/proc/%d/comm" % p.pid) as f:
                got = f.read().strip()
            if got != comm:
                print("%s: pid %d is %r" % (name, p.pid, got))
                return 1
        print("pathwatchd pid %d: 4 providers x %d route(s) %s, resolvers system + %s, echo %s, "
              "interval %s" % (pw.pid, len(routes), ",".join(routes), W.RESOLVERS["honest"],
                               w.echo_url, a.interval))
        print("blackbox   pid %d: one http module per provider, /probe driven every %s" %
              (bb.pid, a.interval), flush=True)

        targets = {p: u for p, (u, _) in PROBES.items()}
        driver_cmd = ["ip", "netns", "exec", w.host_ns, "/usr/bin/python3", "-c", DRIVER,
                      "http://" + BB_LISTEN, str(interval_s)]
        mods = ",".join(PROBES)

        def drive(seconds):
            return subprocess.Popen(driver_cmd + [str(seconds), mods, json.dumps(targets)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def pw_probes(t_from, t_to):
            if len(routes) == 1:
                return None
            h = cli("history", "--since", "1h", "--limit", "100000")
            n = 0
            for r in h.get("results") or []:
                ts = r.get("ts") or r.get("at") or r.get("started_at")
                if not ts:
                    continue
                import datetime
                t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                n += t_from <= t < t_to
            return n

        # Warm up: both running, blackbox driven, before the first sample.
        d = drive(a.warmup)
        d.communicate(timeout=a.warmup + 30)
        rows = []
        for run in range(runs):
            d = drive(window)
            s0 = cli("status")
            c0 = (s0.get("daemon") or {}).get("cycles")
            t0, pw0, bb0 = time.time(), cpu_s(pw.pid), cpu_s(bb.pid)
            pf0, bf0 = minflt(pw.pid), minflt(bb.pid)
            pt0, bt0 = cpu_ticks_s(pw.pid), cpu_ticks_s(bb.pid)
            out, err = d.communicate(timeout=window + 60)
            t1, pw1, bb1 = time.time(), cpu_s(pw.pid), cpu_s(bb.pid)
            pf1, bf1 = minflt(pw.pid), minflt(bb.pid)
            if a.verbose:
                print("  ticks (utime+stime): pathwatchd %.2f s, blackbox %.2f s" % (
                    cpu_ticks_s(pw.pid) - pt0, cpu_ticks_s(bb.pid) - bt0))
            s1 = cli("status")
            c1 = (s1.get("daemon") or {}).get("cycles")
            results = [json.loads(x) for x in out.splitlines() if x.strip()]
            bb_ok = sum(1 for r in results if r["ok"])
            bb_bad = [r["module"] for r in results if not r["ok"]]
            n_pw = pw_probes(t0, t1)
            if n_pw is None:
                n_pw = (c1 - c0) if isinstance(c1, int) and isinstance(c0, int) else 0
            if n_pw <= 0 or bb_ok <= 0:
                print("run %d: no probes counted (pathwatchd %s, blackbox %d ok); status: %s; "
                      "driver: %s" % (run + 1, n_pw, bb_ok, json.dumps(s1)[:300], err[-300:]))
                return 1
            pw_ms = (pw1 - pw0) * 1000.0 / n_pw
            bb_ms = (bb1 - bb0) * 1000.0 / bb_ok
            rows.append((pw_ms, bb_ms, pw_ms / bb_ms, (pf1 - pf0) / n_pw, (bf1 - bf0) / bb_ok))
            print("run %d: %.0f s; pathwatchd %.3f s CPU / %d probes = %.2f ms/probe (RSS %.1f MiB); "
                  "blackbox %.3f s CPU / %d probes = %.2f ms/probe (RSS %.1f MiB)%s; ratio %.2f" % (
                      run + 1, t1 - t0, pw1 - pw0, n_pw, pw_ms, mem_kb(pw.pid, "VmRSS") / 1024.0,
                      bb1 - bb0, bb_ok, bb_ms, mem_kb(bb.pid, "VmRSS") / 1024.0,
                      " (%d failed: %s)" % (len(bb_bad), ",".join(sorted(set(bb_bad))))
                      if bb_bad else "", pw_ms / bb_ms), flush=True)
        verdicts = {}
        for p in (cli("status").get("providers") or []):
            for r in p.get("routes") or []:
                verdicts["%s/%s" % (p.get("name"), r.get("route"))] = r.get("verdict")
        print("pathwatchd verdicts: %s" % json.dumps(verdicts, sort_keys=True))
        print("peak RSS (VmHWM): pathwatchd %.1f MiB, blackbox %.1f MiB, ratio %.2f" % (
            mem_kb(pw.pid, "VmHWM") / 1024.0, mem_kb(bb.pid, "VmHWM") / 1024.0,
            mem_kb(pw.pid, "VmHWM") / max(1, mem_kb(bb.pid, "VmHWM"))))
        # Most of a C program's RSS is shared library text (page cache, shared with
        # every other process using libcrypto, libc...); PSS and anonymous memory say
        # what the process itself costs.
        print("now: RssAnon pathwatchd %.1f MiB, blackbox %.1f MiB; PSS pathwatchd %.1f MiB, "
              "blackbox %.1f MiB" % (
                  mem_kb(pw.pid, "RssAnon") / 1024.0, mem_kb(bb.pid, "RssAnon") / 1024.0,
                  mem_kb(pw.pid, "Pss", "smaps_rollup") / 1024.0,
                  mem_kb(bb.pid, "Pss", "smaps_rollup") / 1024.0))
        print("median of %d runs: pathwatchd %.2f ms/probe, blackbox %.2f ms/probe, "
              "ratio %.2f (runs: %s)" % (
                  len(rows), statistics.median(r[0] for r in rows),
                  statistics.median(r[1] for r in rows), statistics.median(r[2] for r in rows),
                  " ".join("%.2f" % r[2] for r in rows)))
        print("minor page faults per probe, median: pathwatchd %.0f, blackbox %.0f" % (
            statistics.median(r[3] for r in rows), statistics.median(r[4] for r in rows)))
        return 0
    except Stop:
        print("interrupted", flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        w.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
