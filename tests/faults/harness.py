"""pathwatchd as a real process for the fault suite: its config, environment,
stdout/stderr files, a NOTIFY_SOCKET listener, control-socket clients, and the
checks every case ends with (it still serves, memory bounded, acknowledged
history rows kept, the made-up key nowhere)."""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

# Made-up keys shaped like real ones (none was ever issued). A fingerprint shows
# the first 7 and the last 4 characters, so the middle must never appear.
KEY = "sk-proj-Fq7Wn2Lr9Xc4Vb8Mz1Kp6Ht3Jd5Sg0Ya8Ue2Qi4Ox6Nm9Bv1Cr3Tl5Zw7Ek0T3BlbkFJpQ2wE4rT6yU8"
GEMINI_KEY = "AIzaSyC7x2Qk9Lm4Np1Rt6Vw3Yz8Ac5Ef0Hj7Kd"
SECRETS = [KEY, GEMINI_KEY]


def secret_pieces(secret):
    middle = secret[7:-4]
    return [middle[i:i + 12] for i in range(0, len(middle) - 11, 6)]


class Failure(AssertionError):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def wait_until(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return cond()


class Client:
    """One control-socket connection; every line it reads is kept for the key scan."""

    def __init__(self, path, seen, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.seen = seen

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        """The next line as JSON; None at EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\n")
        self.seen.append(raw)
        return json.loads(raw)

    def ask(self, req):
        self.send(json.dumps(req) + "\n")
        return self.line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Notify:
    """A NOTIFY_SOCKET the daemon sends READY=1, STATUS=..., WATCHDOG=1 to."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stopping.is_set():
            try:
                self.messages.append(self.sock.recv(65536))
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


def base_config(dirpath, provider_port, scheme="http", host="127.0.0.1"):
    return {
        "interval": "1s",
        "timeout": "1s",
        "providers": [
            {"name": "openai", "enabled": False},
            {"name": "anthropic", "enabled": False},
            {"name": "gemini", "enabled": False},
            {"name": "discord", "enabled": False},
            {"name": "fake", "kind": "openai",
             "base_url": f"{scheme}://{host}:{provider_port}/v1", "key_env": "FAULTS_FAKE_KEY"},
        ],
        "routes": [{"name": "default"}],
        "resolvers": ["127.0.0.1:9"],
        "allowed_ranges": ["127.0.0.0/8"],
        "socket": dirpath + "/pw.sock",
        "history": {"path": dirpath + "/history.db", "retention": "1d"},
        "alerts": {"fail_threshold": 1, "resolve_threshold": 1},
    }


def merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


class Daemon:
    def __init__(self, bin_dir, dirpath, config, env=None, wrapper=None):
        self.bin = os.path.join(bin_dir, "pathwatchd")
        self.dir = dirpath
        self.config = config
        self.config_path = os.path.join(dirpath, "config.json")
        self.socket = config["socket"]
        self.db = config["history"]["path"]
        self.env = dict(env or {})
        self.wrapper = wrapper or []
        self.proc = None
        self.starts = 0
        self.seen = []  # every socket answer line
        self.notify = Notify(os.path.join(dirpath, "notify.sock"))
        self.write_config()

    def write_config(self, config=None):
        if config is not None:
            self.config = config
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.config, f, indent=2)
        os.replace(tmp, self.config_path)

    def start(self, wait_cycle=True):
        self.starts += 1
        env = {"PATH": "/usr/bin:/bin", "FAULTS_FAKE_KEY": KEY,
               "NOTIFY_SOCKET": self.notify.path}
        env.update(self.env)
        out = open(os.path.join(self.dir, f"stdout.{self.starts}"), "wb")
        err = open(os.path.join(self.dir, f"stderr.{self.starts}"), "wb")
        self.proc = subprocess.Popen(self.wrapper + [self.bin, "-c", self.config_path],
                                     stdout=out, stderr=err, env=env, cwd=self.dir,
                                     start_new_session=True)
        out.close()
        err.close()
        expect(wait_until(self.connectable, 15), "the daemon never opened its socket\n" + self.stderr())
        if wait_cycle:
            expect(wait_until(self.has_result, 20, 0.1),
                   "no route result within 20 s\n" + self.stderr())
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def connectable(self):
        try:
            c = Client(self.socket, self.seen, timeout=2)
            c.close()
            return True
        except OSError:
            return False

    def client(self, timeout=10):
        return Client(self.socket, self.seen, timeout)

    def ask(self, req, timeout=10):
        c = self.client(timeout)
        try:
            return c.ask(req)
        finally:
            c.close()

    def status(self, timeout=5):
        return self.ask({"cmd": "status"}, timeout)

    def routes(self):
        s = self.status()
        return [r for p in s.get("providers", []) for r in p.get("routes", [])]

    def has_result(self):
        try:
            return any(r.get("verdict") for r in self.routes())
        except (OSError, ValueError):
            return False

    def verdicts(self):
        return {(p["name"], r["route"]): r.get("verdict")
                for p in self.status().get("providers", []) for r in p.get("routes", [])}

    def wait_verdict(self, want, timeout=15, provider="fake", route="default"):
        """Waits until the pair's verdict is in `want`; returns the last status."""
        want = {want} if isinstance(want, str) else set(want)
        last = {}

        def seen():
            nonlocal last
            try:
                last = self.status()
            except (OSError, ValueError):
                return False
            for p in last.get("providers", []):
                for r in p.get("routes", []):
                    if p["name"] == provider and r["route"] == route and r.get("verdict") in want:
                        return True
            return False
        expect(wait_until(seen, timeout, 0.2),
               f"{provider}/{route}: wanted {sorted(want)}, status: {json.dumps(last)[:1500]}")
        return last

    def history(self, **kw):
        req = {"cmd": "history", "limit": 10000}
        req.update(kw)
        a = self.ask(req, timeout=20)
        expect(a and a.get("ok"), f"history refused: {a}")
        return a

    def result_rows(self):
        return {(r["at"], r["provider"], r["route"], r["verdict"]) for r in self.history()["results"]}

    def rss_kib(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return -1

    def fd_count(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout=15):
        """SIGTERM; the exit code, or None when it had to be killed."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.wait(10)

    def stderr(self, tail=4000):
        text = ""
        for i in range(1, self.starts + 1):
            try:
                with open(os.path.join(self.dir, f"stderr.{i}"), "rb") as f:
                    text += f.read().decode(errors="replace")
            except OSError:
                pass
        return text[-tail:] if tail else text

    def integrity(self):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()


class Case:
    """What one fault case holds: its dir, fakes, daemons, and the outputs to scan."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.dir = tempfile.mkdtemp(prefix="pwf-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.fakes = []
        self.daemons = []
        self.scan_files = []    # extra files that must hold no key (exec stdin, ...)
        self.scan_blobs = []    # extra bytes (webhook bodies, ...)
        self.acknowledged = set()
        self.rss_limit_kib = 200 * 1024
        self.cleanups = []

    def fake(self, f):
        self.fakes.append(f)
        return f

    def daemon(self, config_extra=None, provider_port=None, env=None, wrapper=None, scheme="http",
               host="127.0.0.1"):
        cfg = base_config(self.dir, provider_port or unused_port(), scheme, host)
        merge(cfg, config_extra or {})
        d = Daemon(self.bin_dir, self.dir, cfg, env, wrapper)
        self.daemons.append(d)
        return d

    def acknowledge(self, d):
        """Rows a history answer has shown: they must survive whatever comes."""
        rows = d.result_rows()
        self.acknowledged |= rows
        return rows

    # -- the checks every case ends with ------------------------------------

    def check_serving(self, d):
        expect(d.alive(), "the daemon died\n" + d.stderr())
        s = d.status()
        expect(s and s.get("ok") is True, f"status did not answer ok: {s}")
        return s

    def check_memory(self, d):
        rss = d.rss_kib()
        expect(0 < rss < self.rss_limit_kib, f"VmRSS {rss} KiB (limit {self.rss_limit_kib} KiB)")
        return rss

    def check_rows(self, d):
        if not self.acknowledged:
            return
        now = d.result_rows()
        lost = self.acknowledged - now
        expect(not lost, f"{len(lost)} acknowledged history rows lost, e.g. {sorted(lost)[:3]}")

    def check_no_key(self):
        blobs = []
        for d in self.daemons:
            blobs.extend(d.seen)
            blobs.extend(d.notify.messages)
        blobs.extend(self.scan_blobs)
        for f in self.fakes:
            # What fakes were sent is input, not output, except a webhook's bodies.
            if getattr(f, "is_sink", False):
                blobs.extend(f.bodies)
        names = []
        for root, _, files in os.walk(self.dir):
            for n in files:
                if n.startswith("secret") or n.endswith(".tmp") or n == "config.json":
                    continue  # the key file itself; configs a case wrote
                names.append(os.path.join(root, n))
        names.extend(self.scan_files)
        for path in names:
            try:
                with open(path, "rb") as fh:
                    blobs.append(fh.read())
            except OSError:
                pass
        for secret in SECRETS:
            pieces = [p.encode() for p in secret_pieces(secret)]
            for blob in blobs:
                for p in pieces:
                    expect(p not in blob, f"a piece of a key ({p.decode()}) reached an output: "
                                          f"{blob[max(0, blob.find(p) - 200):blob.find(p) + 100]!r}")

    def finish(self, d, stop=True):
        """The closing checks: serving, memory, rows, then a clean stop and the key scan."""
        self.check_serving(d)
        self.check_memory(d)
        self.check_rows(d)
        if stop:
            rc = d.stop()
            expect(rc == 0, f"SIGTERM did not stop the daemon cleanly (exit {rc})\n" + d.stderr())
        self.check_no_key()

    def close(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        for d in self.daemons:
            d.kill()
            d.notify.stop()
        for f in self.fakes:
            f.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def unused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
