#!/usr/bin/python3
"""The install rules without a package: `cmake --install` into DESTDIR.

  install_test.py --source-dir S --build-dir B --cmake /usr/bin/cmake

--prefix /usr gives exactly the package's files except the conffile (a plain
install leaves /etc alone), with the unit as in the source tree; --prefix
/usr/local gives a unit whose ExecStart and Documentation name the installed
files under /usr/local.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deb_test import check, expected_files, failures  # noqa: E402


def install(cmake, build, prefix, destdir):
    r = subprocess.run([cmake, "--install", build, "--prefix", prefix],
                       env=dict(os.environ, DESTDIR=str(destdir)), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    if not check(r.returncode == 0, f"cmake --install --prefix {prefix} exits 0"):
        print(r.stdout)
    return r.returncode == 0


def files_under(root):
    return {"./" + str(p.relative_to(root)): p for p in root.rglob("*")
            if p.is_file() or p.is_symlink()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True, type=pathlib.Path)
    ap.add_argument("--build-dir", required=True, type=pathlib.Path)
    ap.add_argument("--cmake", default="cmake")
    a = ap.parse_args()
    src, build = a.source_dir.resolve(), a.build_dir.resolve()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pathwatch-install-"))
    try:
        print("== --prefix /usr")
        usr = tmp / "usr-root"
        if install(a.cmake, build, "/usr", usr):
            got = files_under(usr)
            want = {p: m for p, m in expected_files(src).items() if not p.startswith("./etc/")}
            check(set(got) == set(want), "the package's files, no /etc: "
                  f"missing {sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}")
            for path, mode in want.items():
                if path in got:
                    check(got[path].stat().st_mode & 0o777 == mode, f"{path} {oct(mode)}")
            unit = usr / "usr/lib/systemd/system/pathwatchd.service"
            check(unit.read_bytes() == (src / "systemd/pathwatchd.service").read_bytes(),
                  "the unit is systemd/pathwatchd.service unchanged")

        print("== --prefix /usr/local")
        local = tmp / "local-root"
        if install(a.cmake, build, "/usr/local", local):
            unit = (local / "usr/local/lib/systemd/system/pathwatchd.service").read_text()
            execs = [l for l in unit.splitlines() if l.startswith("ExecStart=")]
            check(execs == ["ExecStart=/usr/local/sbin/pathwatchd -c /etc/pathwatch/config.json"],
                  f"ExecStart names the installed daemon: {execs}")
            check((local / "usr/local/sbin/pathwatchd").is_file(), "/usr/local/sbin/pathwatchd installed")
            check("Documentation=file:/usr/local/share/doc/pathwatch/README.md" in unit
                  and (local / "usr/local/share/doc/pathwatch/README.md").is_file(),
                  "Documentation names the installed README")
            check(not (local / "etc").exists(), "nothing in /etc")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"== {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
