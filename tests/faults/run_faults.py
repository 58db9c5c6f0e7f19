#!/usr/bin/env python3
"""The fault suite's runner: `--list` prints the case names (CMake registers one
ctest test per case, label `faults`); `--case NAME` runs one case against the
binaries in --bin-dir and exits 0 when it passed. Needs root (a private mount
namespace for the disk case, setpriv for the peer-credential case).

  python3 tests/faults/run_faults.py --bin-dir build --case reload_storm
"""
import argparse
import os
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
from harness import Case, Failure  # noqa: E402

CASE_SECONDS = 150  # a case that runs longer is stopped (ctest's TIMEOUT is above it)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--case")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(cases.CASES))
        return 0
    if args.case not in cases.CASES:
        print(f"unknown case {args.case}", file=sys.stderr)
        return 2
    if args.case in cases.NEEDS_MOUNT_NS and os.environ.get("PATHWATCH_FAULTS_NS") != "1":
        # Mounts made in a private mount namespace vanish with it, whatever happens.
        os.environ["PATHWATCH_FAULTS_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable,
                              os.path.abspath(__file__), *sys.argv[1:]])

    def too_long(signum, frame):
        raise Failure(f"the case ran over {CASE_SECONDS} s")
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(CASE_SECONDS)
    c = Case(os.path.abspath(args.bin_dir))
    t0 = time.monotonic()
    try:
        cases.CASES[args.case](c)
    except Failure as e:
        print(f"FAIL {args.case}: {e}", file=sys.stderr)
        for d in c.daemons:
            print("---- daemon stderr (tail) ----\n" + d.stderr(3000), file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - a harness error fails the case too
        traceback.print_exc()
        return 1
    finally:
        signal.alarm(0)
        c.close()
    print(f"PASS {args.case} ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
