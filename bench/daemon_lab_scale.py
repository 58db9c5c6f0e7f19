#!/usr/bin/python3
"""pathwatchd at scale on the lab world (tests/lab): N custom providers x 4 routes. Needs root.

  sudo /usr/bin/python3 bench/daemon_lab_scale.py --bin-dir build [--providers 1000]
       [--intervals 5] [--sample 1] [--interval 60s] [--concurrency 16] [--keep]
       [--wrapper 'heaptrack -o FILE'] [-v]

Starts pathwatchd in the lab's host namespace with N custom provider entries (`kind` +
`base_url`, docs/configuration.md) spread round-robin over the lab's 11 provider
servers (openai, anthropic, gemini, discord and the OpenAI-compatible ones), each with
`key_env` naming that server's valid lab key; the four built-ins are disabled, so N
providers are probed. Routes default, iface-b, http-proxy, socks (as daemon_lab_soak),
the lab's echo endpoint, history in a temp dir. Runs for --intervals intervals plus
60 % of one (so the last one completes), sampling every --sample seconds, without
asking the daemon anything during the run (a status answer for 1,000 providers would
cost the daemon CPU and spoil the idle figure):

  /proc/PID/status    VmRSS, VmHWM (peak RSS), Threads
  /proc/PID/task/*/   schedstat (run time in ns, per thread) and voluntary /
                      nonvoluntary context switches (wake-ups), thread names

After SIGTERM it opens the history DB read-only (schema: daemon/history_schema.cc; the
daemon writes one `results` row per provider x route result, ts = when the result was
classified) and derives, per pair, its k-th result = cycle k. It prints:
  - cycles: first/last result of each (duration), results in it
  - CPU % of one core over the run and per interval (cycle start to next cycle start)
  - idle CPU between cycles (from 1 s after a cycle's last result to 1 s before the
    next cycle's first one) and the wake-ups per second there, per thread
  - proof from history: per pair, windows anchored at its first result,
    [first + (k-0.5)I, first + (k+0.5)I), must hold exactly one row for every full
    window; the gaps between a pair's rows must lie in [0.9 I - slack, 1.1 I + slack]
    (jitter is +-10 %, docs/configuration.md; slack = queueing + probe time, --slack);
    the verdict histogram (a broken run is not a fast one).
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))

import harness  # noqa: E402
import world as W  # noqa: E402
import world_providers as WP  # noqa: E402

ROUTES = ["default", "iface-b", "http-proxy", "socks"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# kind -> (base_url, key variable, lab key name); one lab server each.
KINDS = [
    ("openai", "https://%s/v1" % W.PROVIDER_HOSTS["openai"], "openai"),
    ("anthropic", "https://%s/v1" % W.PROVIDER_HOSTS["anthropic"], "anthropic"),
    ("gemini", "https://%s/v1beta" % W.PROVIDER_HOSTS["gemini"], "gemini"),
    ("discord", "https://%s/api/v10" % W.PROVIDER_HOSTS["discord"], "discord"),
    ("azure", "https://%s" % WP.HOSTS["azure"][0], "azure"),
    ("openrouter", "https://%s/api/v1" % WP.HOSTS["openrouter"][0], "openrouter"),
    ("deepseek", "https://%s" % WP.HOSTS["deepseek"][0], "deepseek"),
    ("mistral", "https://%s/v1" % WP.HOSTS["mistral"][0], "mistral"),
    ("groq", "https://%s/openai/v1" % WP.HOSTS["groq"][0], "groq"),
    ("xai", "https://%s/v1" % WP.HOSTS["xai"][0], "xai"),
    ("together", "https://%s/v1" % WP.HOSTS["together"][0], "together"),
]
KEY_VARS = dict(harness.ENV_VARS, **WP.ENV_VARS)


class Stop(BaseException):
    pass


def status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def threads(pid):
    """{tid: (name, run ns, voluntary, nonvoluntary)} for every thread alive now."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                ns = int(f.read().split()[0])
            with open("%s/%s/comm" % (base, tid)) as f:
                name = f.read().strip()
            vol = invol = 0
            with open("%s/%s/status" % (base, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol = int(line.split()[1])
            out[int(tid)] = (name, ns, vol, invol)
        except (OSError, ValueError, IndexError):
            pass  # the thread ended between listdir and read
    return out


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def mib(kb):
    return "%.1f MiB" % (kb / 1024.0)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def parse_duration_s(text):
    for unit, mult in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(unit) and text[:-len(unit)].replace(".", "", 1).isdigit():
            return float(text[:-len(unit)]) * mult
    raise SystemExit("daemon_lab_scale: --interval %r: use e.g. 60s or 1m" % text)


class Sample:
    __slots__ = ("mono", "wall", "rss", "hwm", "nthreads", "cpu", "tasks")

    def __init__(self, pid):
        self.mono = time.monotonic()
        self.wall = time.time()
        st = status_fields(pid)
        self.rss, self.hwm, self.nthreads = st.get("VmRSS", 0), st.get("VmHWM", 0), st.get("Threads", 0)
        self.cpu = cpu_s(pid)
        self.tasks = threads(pid)

    def run_ns(self):
        return sum(t[1] for t in self.tasks.values())


def delta_tasks(a, b):
    """Per thread present in both samples: (name, run ns, wake-ups) between them."""
    out = {}
    for tid, (name, ns, vol, invol) in b.tasks.items():
        if tid in a.tasks:
            _, ns0, vol0, invol0 = a.tasks[tid]
            out[tid] = (name, ns - ns0, (vol - vol0) + (invol - invol0))
    return out


def sample_at_or_after(samples, wall):
    for s in samples:
        if s.wall >= wall:
            return s
    return None


def sample_at_or_before(samples, wall):
    best = None
    for s in samples:
        if s.wall <= wall:
            best = s
    return best


def analyse_history(db, interval_s, end_wall, slack_s):
    """Rows per pair from the history DB (read-only), cycles and the proof."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        rows = con.execute("SELECT provider, route, ts, verdict FROM results ORDER BY ts").fetchall()
    finally:
        con.close()
    # (the daemon has exited: every row it took is in the DB)
    per_pair = {}
    verdicts = {}
    for prov, route, ts, verdict in rows:
        per_pair.setdefault((prov, route), []).append(ts / 1000.0)
        by_route = verdicts.setdefault(route, {})
        by_route[verdict] = by_route.get(verdict, 0) + 1
    return rows, per_pair, verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--providers", type=int, default=1000, help="custom provider entries (1..2000)")
    ap.add_argument("--intervals", type=int, default=5, help="intervals to run (1..60)")
    ap.add_argument("--sample", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--interval", default="60s")
    ap.add_argument("--timeout", default="10s")
    ap.add_argument("--concurrency", type=int, default=None, help="config `concurrency` (default: "
                    "the daemon's, 16)")
    ap.add_argument("--slack", type=float, default=None,
                    help="seconds a gap may exceed 1.1 x interval (default: timeout + 5 s)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (history, log)")
    ap.add_argument("--wrapper", default="", help="run pathwatchd under this command, split on "
                    "spaces (e.g. 'heaptrack -o /tmp/pw'); the figures are then the wrapper's")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("daemon_lab_scale: needs root (it builds the lab world)")
        return 0
    n_prov = max(1, min(a.providers, 2000))
    k_int = max(1, min(a.intervals, 60))
    step = max(0.2, min(a.sample, 30.0))
    interval_s = parse_duration_s(a.interval)
    timeout_s = parse_duration_s(a.timeout)
    slack_s = a.slack if a.slack is not None else timeout_s + 5.0
    bin_dir = os.path.abspath(a.bin_dir)
    for exe in ("pathwatchd", "pathwatch"):
        if not os.access(os.path.join(bin_dir, exe), os.X_OK):
            print("daemon_lab_scale: no %s in %s" % (exe, bin_dir))
            return 2

    def stop(signum, frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w = W.World(bin_dir, verbose=a.verbose)
    tmp = tempfile.mkdtemp(prefix="pathwatch-scale-")
    proc = None
    try:
        w.build()
        lab = harness.Lab(w, verbose=a.verbose)
        lab.workdir = tmp
        providers = [{"name": p, "enabled": False} for p in harness.ALL]
        for i in range(n_prov):
            kind, base, lab_name = KINDS[i % len(KINDS)]
            providers.append({"name": "p%04d-%s" % (i, kind), "kind": kind, "base_url": base,
                              "key_env": KEY_VARS[lab_name]})
        cfg = lab.config(ROUTES, providers=providers, timeout=a.timeout)
        cfg["interval"] = a.interval
        if a.concurrency:
            cfg["concurrency"] = a.concurrency
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(cfg, f, indent=1)
        sock, db = cfg["socket"], cfg["history"]["path"]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": tmp,
               "TMPDIR": tmp}
        for _, _, lab_name in KINDS:
            env[KEY_VARS[lab_name]] = lab.key(lab_name, "valid")
        log_path = os.path.join(tmp, "pathwatchd.log")

        def log_tail(n=600):
            try:
                with open(log_path, errors="replace") as f:
                    return f.read()[-n:].strip()
            except OSError:
                return ""

        print("echo endpoint: %s (%s); config %.0f KB" % (w.echo_url, w.echo_kind,
                                                        os.path.getsize(config_path) / 1024.0),
              flush=True)
        with open(log_path, "w") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", w.host_ns] + a.wrapper.split() +
                                    [os.path.join(bin_dir, "pathwatchd"), "-c", config_path],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=tmp)
        end = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None:
                print("pathwatchd exited (%s) before its socket appeared: %s" %
                      (proc.returncode, log_tail()))
                return 1
            if time.monotonic() > end:
                print("no control socket within 20 s: %s" % log_tail())
                return 1
            time.sleep(0.1)
        with open("/proc/%d/comm" % proc.pid) as f:
            if f.read().strip() != "pathwatchd" and not a.wrapper:
                print("pid %d is not pathwatchd" % proc.pid)
                return 1
        duration = (k_int + 0.6) * interval_s
        print("pathwatchd pid %d: %d providers x %d routes = %d pairs, interval %s, timeout %s, "
              "concurrency %s; %d intervals (%.0f s), sample every %.1f s; load %s" % (
                  proc.pid, n_prov, len(ROUTES), n_prov * len(ROUTES), a.interval, a.timeout,
                  cfg.get("concurrency", "16 (default)"), k_int, duration, step, loadavg()),
              flush=True)
        samples = []
        loads = []
        t0 = time.monotonic()
        n = 0
        last_print = -1e9
        if a.verbose:
            print("%7s %10s %10s %7s %8s" % ("t", "VmRSS", "VmHWM", "threads", "cpu%"), flush=True)
        while True:
            if proc.poll() is not None:
                print("pathwatchd exited (%s) during the run: %s" % (proc.returncode, log_tail()))
                return 1
            s = Sample(proc.pid)
            samples.append(s)
            t = s.mono - t0
            if a.verbose and (t - last_print >= 10 or t >= duration - 0.1):
                prev = next((x for x in reversed(samples) if s.mono - x.mono >= 9.5), samples[0])
                dt = s.mono - prev.mono
                pct = "%.2f" % (100.0 * (s.run_ns() - prev.run_ns()) / 1e9 / dt) if dt > 0 else ""
                print("%6.0fs %10s %10s %7d %8s" % (t, mib(s.rss), mib(s.hwm), s.nthreads, pct),
                      flush=True)
                last_print = t
            if n % max(1, int(30 / step)) == 0:
                loads.append(loadavg())
            if t >= duration:
                break
            n += 1
            time.sleep(max(0.0, t0 + n * step - time.monotonic()))

        end_wall = time.time()
        last = samples[-1]
        names_seen = {}
        for s in samples:
            for tid, (name, _, _, _) in s.tasks.items():
                names_seen[tid] = name
        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t_term

        rows, per_pair, verdicts = analyse_history(db, interval_s, end_wall, slack_s)
        pairs_expected = n_prov * len(ROUTES)

        # ---- memory, threads ----
        print()
        print("load average:       %s (start) .. %s (end)" % (loads[0], loads[-1]))
        print("samples:            %d over %.0f s" % (len(samples), last.mono - samples[0].mono))
        print("peak RSS (VmHWM):   %s; VmRSS first/last/max %s / %s / %s" % (
            mib(last.hwm), mib(samples[0].rss), mib(last.rss), mib(max(x.rss for x in samples))))
        curve = []
        for k in range(0, int(duration // 30) + 1):
            s = sample_at_or_after(samples, samples[0].wall + k * 30)
            if s:
                curve.append(mib(s.rss).replace(" MiB", ""))
        print("RSS every 30 s:     %s MiB" % ", ".join(curve))
        print("threads:            %d now, max %d; seen: %s" % (
            last.nthreads, max(x.nthreads for x in samples),
            ", ".join("%s(%d)%s" % (nm, tid, " [the loop: probes, classification]" if tid == proc.pid else "")
                      for tid, nm in sorted(names_seen.items()))))
        print("                    (the loop thread is the pid: every probe, classification "
              "and diagnosis; the others are the history writer and reader, "
              "daemon/history_writer.cc and history_reader.cc)")
        run_total = delta_tasks(samples[0], last)
        per_thread = {}
        for tid, (name, ns, wk) in run_total.items():
            per_thread.setdefault((tid, name), [0, 0])
            per_thread[(tid, name)][0] += ns
            per_thread[(tid, name)][1] += wk
        wall = last.mono - samples[0].mono
        total_ns = last.run_ns() - samples[0].run_ns()
        print("CPU (schedstat):    %.2f s in %.0f s = %.2f %% of one core; /proc/stat since "
              "start %.2f s" % (total_ns / 1e9, wall, 100.0 * total_ns / 1e9 / wall, last.cpu))
        for (tid, name), (ns, wk) in sorted(per_thread.items(), key=lambda e: -e[1][0]):
            print("   thread %-16s %6.2f s (%5.2f %%), %d wake-ups" % (
                "%s/%d" % (name, tid), ns / 1e9, 100.0 * ns / 1e9 / wall, wk))

        # ---- cycles from history: a pair's k-th result belongs to cycle k ----
        cycles = {}
        for ts_list in per_pair.values():
            for k, ts in enumerate(ts_list):
                cycles.setdefault(k, []).append(ts)
        print()
        print("history: %d rows, %d pairs of %d expected; verdicts per route:" % (
            len(rows), len(per_pair), pairs_expected))
        for route in ROUTES:
            print("  %-10s %s" % (route, json.dumps(verdicts.get(route, {}), sort_keys=True)))
        print("%5s %7s %19s %9s %11s %9s %9s %9s %9s" % (
            "cycle", "results", "first result", "duration", "interval", "cpu%", "idle s",
            "idle cpu%", "wakeups/s"))
        ks = sorted(cycles)
        idle_pcts = []
        cycle_rows = []
        for k in ks:
            first, lastr = min(cycles[k]), max(cycles[k])
            nxt = min(cycles[k + 1]) if k + 1 in cycles else None
            # interval k: this cycle's first result to the next cycle's first one
            iv_cpu = ""
            iv_end = nxt if nxt is not None else None
            if iv_end is not None:
                sa, sb = sample_at_or_after(samples, first), sample_at_or_before(samples, iv_end)
                if sa and sb and sb.mono > sa.mono:
                    iv_cpu = "%.2f" % (100.0 * (sb.run_ns() - sa.run_ns()) / 1e9 / (sb.mono - sa.mono))
            idle_s = idle_cpu = wk_s = ""
            if nxt is not None and nxt - lastr > 4:
                sa = sample_at_or_after(samples, lastr + 1.0)
                sb = sample_at_or_before(samples, nxt - 1.0)
                if sa and sb and sb.mono - sa.mono >= 1.0:
                    d = sb.mono - sa.mono
                    dns = sb.run_ns() - sa.run_ns()
                    wk = sum(x[2] for x in delta_tasks(sa, sb).values())
                    idle_s = "%.1f" % d
                    idle_cpu = "%.4f" % (100.0 * dns / 1e9 / d)
                    wk_s = "%.1f" % (wk / d)
                    idle_pcts.append((d, dns, wk, delta_tasks(sa, sb)))
            cycle_rows.append((k, len(cycles[k]), first, lastr))
            print("%5d %7d %19s %8.1fs %11s %9s %9s %9s %9s" % (
                k, len(cycles[k]), time.strftime("%H:%M:%S", time.localtime(first)) +
                ".%03d" % int((first % 1) * 1000), lastr - first,
                "%.1fs" % (nxt - first) if nxt is not None else "-", iv_cpu, idle_s, idle_cpu,
                wk_s))
        if idle_pcts:
            d = sum(x[0] for x in idle_pcts)
            dns = sum(x[1] for x in idle_pcts)
            wk = sum(x[2] for x in idle_pcts)
            print("idle between cycles: %.4f %% of one core over %.0f s, %.1f wake-ups/s (all "
                  "threads)" % (100.0 * dns / 1e9 / d, d, wk / d))
            by_thread = {}
            for _, _, _, per in idle_pcts:
                for tid, (name, ns, w_) in per.items():
                    e = by_thread.setdefault((tid, name), [0, 0])
                    e[0] += ns
                    e[1] += w_
            for (tid, name), (ns, w_) in sorted(by_thread.items()):
                print("   thread %-16s %.4f %%, %.2f wake-ups/s" % (
                    "%s/%d" % (name, tid), 100.0 * ns / 1e9 / d, w_ / d))
        else:
            print("idle between cycles: n/a (no gap of more than 4 s between cycles)")

        # ---- proof from history ----
        lo, hi = 0.9 * interval_s - slack_s, 1.1 * interval_s + slack_s
        missing, dup = {}, {}
        gaps_bad = []
        all_gaps = []
        full_windows = 0
        for pair, ts_list in per_pair.items():
            anchor = ts_list[0]
            counts = {}
            for ts in ts_list:
                k = int((ts - anchor) / interval_s + 0.5)
                counts[k] = counts.get(k, 0) + 1
            k = 0
            while anchor + (k + 0.5) * interval_s <= end_wall:  # full windows only
                c = counts.get(k, 0)
                if c == 0:
                    missing[k] = missing.get(k, 0) + 1
                elif c > 1:
                    dup[k] = dup.get(k, 0) + 1
                k += 1
            full_windows = max(full_windows, k)
            for x, y in zip(ts_list, ts_list[1:]):
                all_gaps.append(y - x)
                if not lo <= y - x <= hi:
                    gaps_bad.append((pair, y - x))
        never = pairs_expected - len(per_pair)
        print()
        print("proof from history (windows anchored at each pair's first result, width %.0f s):" %
              interval_s)
        print("  pairs never in history: %d of %d" % (never, pairs_expected))
        for k in range(full_windows):
            print("  window %d: %d pairs missing, %d duplicated" % (k, missing.get(k, 0), dup.get(k, 0)))
        if all_gaps:
            all_gaps.sort()
            print("  gaps between a pair's results: %d, min %.1f s, median %.1f s, max %.1f s; "
                  "outside [%.1f, %.1f] s: %d" % (len(all_gaps), all_gaps[0],
                                                  all_gaps[len(all_gaps) // 2], all_gaps[-1], lo, hi,
                                                  len(gaps_bad)))
            for pair, g in gaps_bad[:5]:
                print("    %s/%s: %.1f s" % (pair[0], pair[1], g))
        counts = sorted(len(v) for v in per_pair.values())
        if counts:
            print("  results per pair: min %d, median %d, max %d (%.1f intervals from the first "
                  "result to the end)" % (counts[0], counts[len(counts) // 2], counts[-1],
                                          (end_wall - min(v[0] for v in per_pair.values())) /
                                          interval_s))
        proven = (never == 0 and not missing and not dup and not gaps_bad and full_windows >= 1)
        print("  verdict: %s" % ("every pair checked once in every full interval" if proven else
                                 "NOT proven (see above)"))
        print("SIGTERM:            exit %s after %.2f s" % (rc, took))
        if a.keep:
            print("kept: %s" % tmp)
        return 0 if rc == 0 and proven else 1
    except Stop:
        print("interrupted", flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        w.close()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
