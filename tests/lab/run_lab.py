#!/usr/bin/python3
"""The pathwatch lab: builds a small internet in network namespaces (real nginx,
dnsmasq, squid, microsocks, nftables, a test PKI), runs `pathwatch check` against
it scenario by scenario, and tears everything down.

  /usr/bin/python3 tests/lab/run_lab.py --bin-dir build [--only NAME] [--keep] [-v]

Prints one line per scenario and ends with "N passed, N failed[, N skipped]".
Needs root; without it every scenario is skipped and the exit code is 0.
"""
import argparse
import atexit
import os
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import daemon_scenarios  # noqa: E402
import harness  # noqa: E402
import scenarios  # noqa: E402
import scenarios_agree  # noqa: E402
import scenarios_metrics  # noqa: E402
import scenarios_providers  # noqa: E402
import world  # noqa: E402


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True, help="build dir holding pathwatch and pathwatchd")
    ap.add_argument("--only", action="append", default=[],
                    help="run scenarios whose name contains this (repeatable)")
    ap.add_argument("--keep", action="store_true",
                    help="leave the world up afterwards (until Ctrl-C) and say how to enter it")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--list", action="store_true", help="list scenario names and exit")
    args = ap.parse_args()

    chosen = [(n, fn) for n, fn in (scenarios.SCENARIOS + scenarios_agree.SCENARIOS +
                                    scenarios_providers.SCENARIOS +
                                    daemon_scenarios.SCENARIOS + scenarios_metrics.SCENARIOS)
              if not args.only or any(o in n for o in args.only)]
    if args.list:
        for n, _ in chosen:
            print(n)
        return 0
    if os.geteuid() != 0:
        print("lab: skipped: needs root (network namespaces, veth, nftables)")
        for n, _ in chosen:
            print("SKIP %s (not root)" % n)
        print("0 passed, 0 failed, %d skipped" % len(chosen))
        return 0
    bin_dir = os.path.abspath(args.bin_dir)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    w = world.World(bin_dir, verbose=args.verbose, keep=args.keep)
    atexit.register(w.close)
    passed = failed = 0
    try:
        t0 = time.monotonic()
        try:
            w.build()
        except Exception as e:  # the world itself broke: every scenario fails, loudly
            print("lab: could not build the world: %s" % e)
            if args.verbose:
                traceback.print_exc()
            for n, _ in chosen:
                print("FAIL %s (no world)" % n)
            print("0 passed, %d failed" % len(chosen))
            return 1
        print("lab: world up in %.1fs (host %s, inet %s, echo %s)" %
              (time.monotonic() - t0, w.host_ns, w.inet_ns, w.echo_kind), flush=True)
        if not os.access(os.path.join(bin_dir, "pathwatch"), os.X_OK):
            print("lab: %s/pathwatch is missing: every product scenario will fail" % bin_dir)
        for name, fn in chosen:
            lab = harness.Lab(w, verbose=args.verbose)
            lab.new_workdir(name.replace("/", "_"))
            s0 = time.monotonic()
            error = None
            try:
                fn(lab)
            except harness.Failed as e:
                error = str(e)
            except Interrupted:
                raise
            except Exception as e:  # a scenario bug is a failure, not a crash of the run
                error = "%s: %s" % (type(e).__name__, e)
                if args.verbose:
                    traceback.print_exc()
            problems = ([error] if error else []) + lab.problems
            dead = w.dead_servers()
            if dead:  # the world broke under the scenario: say so, not just "wrong verdict"
                problems.append("lab server(s) died: " + ", ".join(dead))
            dt = time.monotonic() - s0
            if problems:
                failed += 1
                # One line per scenario, every mismatch on it.
                print("FAIL %s (%.1fs): %s" % (name, dt, " | ".join(problems)), flush=True)
            else:
                passed += 1
                print("PASS %s (%.1fs)" % (name, dt), flush=True)
        if args.keep:
            print("lab: world kept. Enter it with:\n"
                  "  ip netns exec %s bash      # where pathwatch runs (egress eth-a/b/c)\n"
                  "  ip netns exec %s bash      # the servers\n"
                  "  files (configs, CA, logs): %s\n"
                  "  e.g. ip netns exec %s %s/pathwatch check -c %s/scn-<name>/config.json\n"
                  "Press Ctrl-C (or send SIGTERM to %d) to tear it down." %
                  (w.host_ns, w.inet_ns, w.dir, w.host_ns, bin_dir, w.dir, os.getpid()),
                  flush=True)
            try:
                while True:
                    signal.pause()
            except Interrupted:
                pass
    except Interrupted as e:
        print("lab: interrupted (%s), tearing down" % e, flush=True)
        failed += 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        w.keep = False if not args.keep else True
        w.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
