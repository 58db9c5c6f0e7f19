#!/usr/bin/python3
"""pathwatchd's memory and CPU over a long run on the lab world (tests/lab). Needs root.

  sudo /usr/bin/python3 bench/daemon_lab_soak.py --bin-dir build [--duration 600] [-v]

Starts pathwatchd in the lab's host namespace with 4 providers x 4 routes (default,
iface-b, http-proxy, socks), interval 5s, timeout 5s, the lab's echo endpoint, valid
lab keys and its history in a temp dir. Samples /proc/<pid>/status VmRSS and
/proc/<pid>/stat utime+stime every --sample seconds (one line each), then prints RSS
at start / after the first minute / at the end / max, CPU seconds and % of one core,
cycles completed (`pathwatch status --json`), history rows (`pathwatch history
--json`), the history DB size, and pathwatchd's exit code on SIGTERM.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))

import harness  # noqa: E402
import world as W  # noqa: E402

ROUTES = ["default", "iface-b", "http-proxy", "socks"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Stop(BaseException):
    pass


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def mb(kb):
    return "%.1f MB" % (kb / 1024.0)


def file_sizes(path):
    return sum(os.path.getsize(p) for p in (path, path + "-wal", path + "-shm")
               if os.path.exists(p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds (10..7200)")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--interval", default="5s")
    ap.add_argument("--timeout", default="5s")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("daemon_lab_soak: needs root (it builds the lab world)")
        return 0
    duration = max(10.0, min(a.duration, 7200.0))
    step = max(1.0, min(a.sample, 60.0))
    bin_dir = os.path.abspath(a.bin_dir)
    for exe in ("pathwatchd", "pathwatch"):
        if not os.access(os.path.join(bin_dir, exe), os.X_OK):
            print("daemon_lab_soak: no %s in %s" % (exe, bin_dir))
            return 2

    def stop(signum, frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w = W.World(bin_dir, verbose=a.verbose)
    tmp = tempfile.mkdtemp(prefix="pathwatch-soak-")
    proc = None
    try:
        w.build()
        lab = harness.Lab(w, verbose=a.verbose)
        lab.workdir = tmp
        cfg = lab.config(ROUTES, timeout=a.timeout)
        cfg["interval"] = a.interval
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        sock, db = cfg["socket"], cfg["history"]["path"]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": tmp,
               "TMPDIR": tmp}
        for p in harness.ALL:
            env[harness.ENV_VARS[p]] = lab.key(p, "valid")
        log_path = os.path.join(tmp, "pathwatchd.log")

        def cli(*args, limit=30):
            p = subprocess.run(["ip", "netns", "exec", w.host_ns, os.path.join(bin_dir, "pathwatch")]
                               + list(args) + ["--socket", sock, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, timeout=limit)
            try:
                return json.loads(p.stdout)
            except ValueError:
                return {"error": "rc %d: %s" % (p.returncode, (p.stderr or p.stdout)[-300:])}

        def log_tail(n=600):
            try:
                with open(log_path, errors="replace") as f:
                    return f.read()[-n:].strip()
            except OSError:
                return ""

        print("echo endpoint: %s (%s)" % (w.echo_url, w.echo_kind), flush=True)
        # `ip netns exec` execs pathwatchd, so proc.pid is the daemon's pid.
        with open(log_path, "w") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", w.host_ns,
                                     os.path.join(bin_dir, "pathwatchd"), "-c", config_path],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=tmp)
        t_start = time.monotonic()
        end = t_start + 10
        while not os.path.exists(sock):
            if proc.poll() is not None:
                print("pathwatchd exited (%s) before its socket appeared: %s" %
                      (proc.returncode, log_tail()))
                return 1
            if time.monotonic() > end:
                print("no control socket within 10 s: %s" % log_tail())
                return 1
            time.sleep(0.2)
        with open("/proc/%d/comm" % proc.pid) as f:
            comm = f.read().strip()
        if comm != "pathwatchd":
            print("pid %d is %r, not pathwatchd" % (proc.pid, comm))
            return 1

        print("pathwatchd pid %d, %d providers x %d routes, interval %s, timeout %s, "
              "sampling every %.0f s for %.0f s" % (proc.pid, len(harness.ALL), len(ROUTES),
                                                     a.interval, a.timeout, step, duration),
              flush=True)
        print("%8s %10s %10s %8s" % ("t", "VmRSS", "cpu", "cpu%"), flush=True)
        samples = []  # (t since start, rss kB, cpu s)
        t0 = time.monotonic()
        n = 0
        while True:
            if proc.poll() is not None:
                print("pathwatchd exited (%s) during the run: %s" % (proc.returncode, log_tail()))
                return 1
            t = time.monotonic() - t0
            s = (t, rss_kb(proc.pid), cpu_s(proc.pid))
            pct = ""
            if samples:
                dt = s[0] - samples[-1][0]
                pct = "%.2f" % (100.0 * (s[2] - samples[-1][2]) / dt) if dt > 0 else ""
            samples.append(s)
            print("%7.0fs %10s %9.2fs %8s" % (t, mb(s[1]), s[2], pct), flush=True)
            if t >= duration - 0.5:
                break
            n += 1
            time.sleep(max(0.0, min(t0 + min(n * step, duration) - time.monotonic(), step)))

        status = cli("status")
        cycles = (status.get("daemon") or {}).get("cycles")
        hist = cli("history", "--since", "24h", "--limit", "10000")
        rows = hist.get("results")
        verdicts = {}
        for r in rows or []:
            verdicts[r.get("verdict")] = verdicts.get(r.get("verdict"), 0) + 1
        db_size = file_sizes(db)

        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t_term

        first_min = next((x for x in samples if x[0] >= 60.0), None)
        wall = samples[-1][0] - samples[0][0]
        since_start = time.monotonic() - t_start
        total_cpu = samples[-1][2]
        window_cpu = samples[-1][2] - samples[0][2]
        print()
        print("samples:            %d over %.0f s" % (len(samples), wall))
        print("RSS start:          %s" % mb(samples[0][1]))
        print("RSS after 1 min:    %s" % (mb(first_min[1]) if first_min else "n/a (run < 60 s)"))
        print("RSS end:            %s" % mb(samples[-1][1]))
        print("RSS max:            %s" % mb(max(x[1] for x in samples)))
        print("CPU total:          %.2f s (user+sys since start, %.0f s alive)" %
              (total_cpu, since_start - took))
        if wall > 0:
            print("CPU %% of one core:  %.2f %% over the sampled window (%.2f s in %.0f s)" %
                  (100.0 * window_cpu / wall, window_cpu, wall))
        # status counts one cycle per provider diagnosis; a round covers all providers.
        if isinstance(cycles, int):
            print("cycles completed:   %d provider cycles = %.1f rounds of %d providers x %d "
                  "routes (`pathwatch status`)" % (cycles, cycles / len(harness.ALL),
                                                   len(harness.ALL), len(ROUTES)))
        else:
            print("cycles completed:   n/a (status: %s)" % json.dumps(status)[:200])
        print("history rows:       %s %s (one per provider x route result)" % (
            len(rows) if rows is not None else "n/a (%s)" % json.dumps(hist)[:200],
            json.dumps(verdicts, sort_keys=True)))
        print("history DB size:    %.1f KB (db + wal + shm)" % (db_size / 1024.0))
        print("SIGTERM:            exit %s after %.2f s%s" % (
            rc, took, ", socket removed" if not os.path.exists(sock) else ", socket left"))
        return 0 if rc == 0 else 1
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
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
