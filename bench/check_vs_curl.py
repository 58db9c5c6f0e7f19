#!/usr/bin/python3
"""One full `pathwatch check` (4 providers x 4 routes) against the same 16 requests
made by sequential curl runs, on the lab world (tests/lab). Needs root.

  sudo /usr/bin/python3 bench/check_vs_curl.py --bin-dir build [--runs 5] [--timeout 5s]
       [--system-roots]

--system-roots: the CA file both trust is the system's bundle (/etc/ssl/certs/
ca-certificates.crt, about 140 roots) followed by the lab CA, the shape of an operator's
file with a private CA added, instead of the lab CA alone (parsing it is part of a check).

Prints wall time and CPU time (user+sys of the children, resource.getrusage)
per round, as median and min over the runs.
"""
import argparse
import os
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))

import harness  # noqa: E402
import world as W  # noqa: E402

ROUTES = ["default", "iface-b", "http-proxy", "socks"]
URLS = {"openai": "https://api.openai.com/v1/models",
        "anthropic": "https://api.anthropic.com/v1/models",
        "gemini": "https://generativelanguage.googleapis.com/v1beta/models",
        "discord": "https://discord.com/api/v10/users/@me"}


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(fn):
    c0, t0 = children_cpu(), time.monotonic()
    fn()
    return time.monotonic() - t0, children_cpu() - c0


def curl_script(w, timeout_s):
    lines = []
    for p in harness.ALL:
        name, prefix = {"openai": ("Authorization", "Bearer "), "anthropic": ("x-api-key", ""),
                        "gemini": ("x-goog-api-key", ""), "discord": ("Authorization", "Bot ")}[p]
        for rt in ROUTES:
            route = harness.ROUTES[rt]
            args = ["curl", "-sS", "-o", "/dev/null", "-m", str(timeout_s), "--cacert",
                    w.ca_bundle, "-H", "%s: %s%s" % (name, prefix, w.keys[(p, "valid")])]
            if p == "anthropic":
                args += ["-H", "anthropic-version: 2023-06-01"]
            if "interface" in route:
                args += ["--interface", route["interface"]]
            if "proxy" in route:
                args += ["-x", route["proxy"]]
            lines.append(" ".join(shlex.quote(a) for a in args + [URLS[p]]) + " || true")
    return "\n".join(lines) + "\n"


class Stop(BaseException):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", default="5s")
    ap.add_argument("--system-roots", action="store_true",
                    help="trust the system bundle + the lab CA (one file), not the lab CA alone")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("check_vs_curl: needs root (it builds the lab world)")
        return 0
    runs = max(1, min(a.runs, 50))

    def stop(signum, frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w = W.World(os.path.abspath(a.bin_dir), verbose=a.verbose)
    try:
        w.build()
        lab = harness.Lab(w, verbose=a.verbose)
        lab.new_workdir("bench")
        if a.system_roots:
            combined = os.path.join(w.dir, "system-and-lab-ca.pem")
            with open(combined, "w") as out:
                for src in ("/etc/ssl/certs/ca-certificates.crt", w.ca_bundle):
                    with open(src) as f:
                        out.write(f.read().rstrip("\n") + "\n")
            w.ca_bundle = combined
        script = os.path.join(w.dir, "curl16.sh")
        with open(script, "w") as f:
            f.write(curl_script(w, int(a.timeout.rstrip("s"))))
        keys = {p: "valid" for p in harness.ALL}
        results = {"pathwatch": [], "curl": []}
        last = None
        for _ in range(runs):
            def pw():
                nonlocal last
                last = lab.check(harness.ALL, ROUTES, keys=keys, timeout=a.timeout)
            results["pathwatch"].append(measure(pw))
            results["curl"].append(measure(lambda: subprocess.run(
                ["ip", "netns", "exec", w.host_ns, "sh", script], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=120)))
        if last is None or last.doc is None:
            print("note: pathwatch check gave no JSON (%s); its times measure a failure" %
                  (last.summary() if last else "not run"))
        else:
            print("pathwatch verdicts: " + last.summary())
        print()
        print("%-34s %5s %12s %12s %12s %12s" % ("16 probes (4 providers x 4 routes)", "runs",
                                                 "wall med", "wall min", "cpu med", "cpu min"))
        for name, label in (("pathwatch", "pathwatch check (concurrent)"),
                            ("curl", "curl x16 (sequential)")):
            walls = [x[0] for x in results[name]]
            cpus = [x[1] for x in results[name]]
            print("%-34s %5d %11.3fs %11.3fs %11.3fs %11.3fs" % (
                label, runs, statistics.median(walls), min(walls), statistics.median(cpus),
                min(cpus)))
        return 0
    except Stop:
        print("interrupted")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        w.close()


if __name__ == "__main__":
    sys.exit(main())
