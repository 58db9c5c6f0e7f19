"""The fault cases. Each starts a real pathwatchd against loopback fakes, applies
one fault, asserts the outcome the docs promise, and ends with Case.finish():
the daemon still answers `status`, its VmRSS is bounded, every history row a
`history` answer showed is still there, and no piece of the made-up key is in
stdout, stderr, the SQLite files, socket answers, notify messages, webhook
bodies or exec stdin."""

import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import fakes
from harness import (GEMINI_KEY, KEY, Failure, expect, secret_pieces, unused_port, wait_until)

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def settle(c, d, cycles=2):
    """A few results in, then the rows shown so far are acknowledged."""
    time.sleep(cycles * 1.0)
    c.acknowledge(d)


def route_of(status, provider="fake", route="default"):
    for p in status.get("providers", []):
        for r in p.get("routes", []):
            if p["name"] == provider and r["route"] == route:
                return r
    return {}


def evidence_has(status, text):
    return any(text in e for e in route_of(status).get("evidence", []))


# ---------------------------------------------------------------- the network


@case
def dns_answers_random_garbage(c):
    dns = c.fake(fakes.FakeDns(fakes.dns_random))
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({"resolvers": [f"127.0.0.1:{dns.port}"]}, ok.port, host="fake-provider.test").start()
    d.wait_verdict("dns_failed")
    expect(dns.queries > 0, "the fake resolver was never asked")
    settle(c, d)
    c.finish(d)


@case
def dns_answers_with_a_pointer_loop(c):
    dns = c.fake(fakes.FakeDns(fakes.dns_same_id_garbage))
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({"resolvers": [f"127.0.0.1:{dns.port}"]}, ok.port, host="fake-provider.test").start()
    d.wait_verdict("dns_failed")
    expect(ok.accepted == 0, "a garbage DNS answer led to a connection")
    settle(c, d)
    c.finish(d)


@case
def answer_of_100_megabytes(c):
    big = c.fake(fakes.huge_answer(100 * 1024 * 1024))
    d = c.daemon({"interval": "2s", "timeout": "2s"}, big.port).start()
    base = d.rss_kib()
    time.sleep(6)
    s = d.status()
    r = route_of(s)
    # The body is read up to the cap and the transfer cut: the probe ends well
    # before 100 MB could have been taken, and the daemon holds none of it.
    expect(r.get("verdict") in ("ok", "provider_error", "unexpected", "http_failed"), f"verdict {r}")
    expect(d.rss_kib() < base + 32 * 1024, f"RSS grew from {base} to {d.rss_kib()} KiB")
    expect(big.sent < 100 * 1024 * 1024 * 3, f"the daemon took {big.sent} bytes in 3 probes")
    settle(c, d, 1)
    c.finish(d)


@case
def server_sends_one_byte_a_second(c):
    slow = c.fake(fakes.one_byte_a_second())
    d = c.daemon({"interval": "2s", "timeout": "1500ms"}, slow.port).start()
    s = d.wait_verdict("http_failed")
    expect(route_of(s).get("ms", 0) < 4000, f"the probe outlived its timeout: {route_of(s)}")
    settle(c, d)
    c.finish(d)


@case
def tls_handshake_that_stalls(c):
    stall = c.fake(fakes.silent())
    d = c.daemon({"interval": "3s", "timeout": "1500ms"}, stall.port, scheme="https").start()
    s = d.wait_verdict("tls_failed")
    expect(route_of(s).get("ms", 0) < 4000, f"the probe outlived its timeout: {route_of(s)}")
    settle(c, d)
    c.finish(d)


@case
def proxy_closes_mid_connect(c):
    proxy = c.fake(fakes.proxy_closing_mid_connect())
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({"routes": [{"name": "default", "proxy": f"http://127.0.0.1:{proxy.port}"}]},
                 ok.port, scheme="https").start()
    d.wait_verdict("proxy_failed")
    expect(any(h.startswith(b"CONNECT ") for h in proxy.requests), "the proxy saw no CONNECT")
    settle(c, d)
    c.finish(d)


@case
def proxy_hangs_up_inside_its_answer(c):
    proxy = c.fake(fakes.proxy_half_answer())
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({"routes": [{"name": "default", "proxy": f"http://127.0.0.1:{proxy.port}"}]},
                 ok.port, scheme="https").start()
    d.wait_verdict("proxy_failed")
    settle(c, d)
    c.finish(d)


@case
def answer_that_is_not_http(c):
    junk = c.fake(fakes.garbage_http())
    d = c.daemon({}, junk.port).start()
    d.wait_verdict("http_failed")
    settle(c, d)
    c.finish(d)


@case
def connection_reset_mid_body(c):
    rst = c.fake(fakes.reset_mid_body())
    d = c.daemon({}, rst.port).start()
    d.wait_verdict("http_failed")
    settle(c, d)
    c.finish(d)


@case
def provider_quotes_the_key_back(c):
    """A refusal that repeats the key whole, in the body and in a header: the
    verdict is auth_failed and the key reaches no output, no history row, no
    webhook body and no exec stdin."""
    echo = c.fake(fakes.provider_echoing_key())
    hook = c.fake(fakes.webhook_receiver())
    hook.is_sink = True
    stdin_file = os.path.join(c.dir, "exec-stdin")
    script = os.path.join(c.dir, "hook.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\ncat >> {stdin_file}\nenv >> {stdin_file}\n")
    os.chmod(script, 0o755)
    d = c.daemon({"alerts": {"webhooks": [{"url": f"http://127.0.0.1:{hook.port}/hook"}],
                             "exec": [script]}}, echo.port).start()
    d.wait_verdict("auth_failed")
    def hook_got_it():
        try:
            with open(stdin_file, "rb") as f:
                return b"auth_failed" in f.read()
        except OSError:
            return False
    expect(wait_until(lambda: hook.bodies and hook_got_it(), 15), "no alert reached the webhook and the exec hook")
    d.ask({"cmd": "history", "transitions": True, "alerts": True})
    run = d.ask({"cmd": "run"}, timeout=20)
    expect(run and run.get("ok") is True, f"run: {str(run)[:300]}")
    settle(c, d)
    c.finish(d)


@case
def sslkeylogfile_ignored_and_no_core_dumps(c):
    """Finding 2: a TLS handshake happens, yet SSLKEYLOGFILE writes nothing, and
    the core limit is 0. (Not dumpable is checked as nobody by the integration
    test Hardening.PathwatchdIsNotDumpableHasNoCoreLimitAndNoKeyLog: as root,
    /proc shows no difference.)"""
    tls = c.fake(fakes.self_signed_tls(c.dir))
    keylog = os.path.join(c.dir, "keylog")
    d = c.daemon({}, tls.port, env={"SSLKEYLOGFILE": keylog}, scheme="https").start()
    d.wait_verdict(("tls_failed", "tls_intercepted"))
    expect(wait_until(lambda: tls.requests, 10), "no TLS handshake reached the fake")
    expect(not os.path.exists(keylog), "SSLKEYLOGFILE was written")
    with open(f"/proc/{d.pid}/limits") as f:
        core = [l for l in f if l.startswith("Max core file size")]
    expect(core and core[0].split()[4:6] == ["0", "0"], f"core limit: {core}")
    settle(c, d)
    c.finish(d)


# ---------------------------------------------------------------- the socket


def ok_daemon(c, extra=None):
    ok = c.fake(fakes.provider_ok())
    d = c.daemon(extra or {}, ok.port).start()
    d.wait_verdict("ok")
    settle(c, d)
    return d


@case
def a_thousand_socket_clients(c):
    """1,000 connections that send nothing: beyond the cap of 128 each is told
    why and closed; a client connected before keeps getting answers; once they
    leave, new clients are served and no descriptor is left behind."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    d = ok_daemon(c)
    fds = d.fd_count()
    early = d.client()
    socks, refused = [], 0
    try:
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(d.socket)
                socks.append(s)
            except OSError:
                refused += 1
                s.close()
        a = early.ask({"cmd": "status"})
        expect(a and a.get("ok") is True, f"status on an earlier connection during the flood: {a}")
        told = 0
        for s in socks:
            s.settimeout(0.05)
            try:
                if b"too many clients" in s.recv(4096):
                    told += 1
            except OSError:
                pass
        expect(told + refused >= 1000 - 128, f"only {told} refused by the cap, {refused} at connect")
        c.check_memory(d)
    finally:
        for s in socks:
            s.close()
        early.close()
    expect(wait_until(lambda: d.fd_count() <= fds + 2, 10), f"fds {d.fd_count()} (were {fds})")
    c.finish(d)


@case
def request_line_of_10_megabytes(c):
    d = ok_daemon(c)
    cl = d.client(30)
    line = b'{"cmd":"status","pad":"' + b"x" * (10 * 1024 * 1024) + b'"}\n'
    sender = threading.Thread(target=lambda: cl.send(line + b'{"cmd":"status"}\n'), daemon=True)
    sender.start()
    first = cl.line()
    expect(first and first.get("ok") is False and "too large" in first.get("error", ""), f"{first}")
    second = cl.line()
    expect(second and second.get("ok") is True, f"the connection was not usable after: {second}")
    sender.join(30)
    cl.close()
    c.check_memory(d)
    c.finish(d)


@case
def client_that_never_reads(c):
    d = ok_daemon(c)
    lazy = d.client()
    lazy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 20
    req = b'{"cmd":"history","limit":10000}\n{"cmd":"status"}\n'
    while time.monotonic() < deadline:
        try:
            sent += lazy.sock.send(req)
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            break  # dropped
        if sent > 4 * 1024 * 1024:
            break
        # Others are answered meanwhile.
        if sent % 20 == 0:
            expect(d.status(timeout=5).get("ok"), "status while a client does not read")
    expect(d.status(timeout=5).get("ok"), "status after")
    lazy.close()
    c.finish(d)


@case
def client_half_closes_after_its_request(c):
    """`echo '{"cmd":"status"}' | socat - UNIX-CONNECT:…` shuts its write side
    down before the answer: the answer must still come (docs/socket.md)."""
    d = ok_daemon(c)
    for req in ({"cmd": "status"}, {"cmd": "history", "limit": 50}):
        cl = d.client()
        cl.send(json.dumps(req) + "\n")
        cl.sock.shutdown(socket.SHUT_WR)
        a = cl.line()
        cl.close()
        expect(a and a.get("ok") is True, f"{req['cmd']}: no answer after the half-close: {a}")
    c.finish(d)


@case
def requests_piled_on_one_connection(c):
    """60 requests in one write, none read: one is answered at a time and 4 may
    wait behind it (docs/socket.md); the flood gets the refusal and the
    connection is closed, while other clients are served throughout."""
    d = ok_daemon(c)
    cl = d.client()
    cl.send(b'{"cmd":"history","limit":1}\n' * 60)
    answers = []
    while len(answers) <= 60:
        try:
            a = cl.line()
        except OSError:
            break
        if a is None:
            break
        answers.append(a)
    cl.close()
    refused = [a for a in answers if not a.get("ok")]
    expect(len(refused) == 1 and "too many requests waiting" in refused[0].get("error", ""),
           f"no single pending-cap refusal in {answers[:6]}")
    expect(len(answers) <= 5, f"{len(answers)} answers: the pending cap did not hold")
    expect(d.status().get("ok"), "status after the flood")
    c.finish(d)


@case
def binary_garbage_on_the_socket(c):
    d = ok_daemon(c)
    cl = d.client()
    junk = [b"\x00\x01\x02\xff\xfe", b"\xc3\x28\xa0\xa1", b"[" * 50000 + b"]" * 50000,
            b'{"cmd":' + b"\x00" * 10 + b"}", b'{"cmd":"history","since":"99999999999d"}',
            b'{"cmd":"history","limit":18446744073709551615}', b'{"cmd":"history","since":"+1h"}',
            b'{"cmd":"status","cmd":"run"}', b'"\\ud800"']
    for j in junk:
        cl.send(j + b"\n")
        a = cl.line()
        expect(a is not None and "ok" in a, f"no answer to {j[:40]!r}")
        expect(not str(a.get("error", "")).startswith("internal error"), f"{j[:40]!r}: {a}")
    expect(cl.ask({"cmd": "status"}).get("ok") is True, "the connection was not usable after garbage")
    cl.close()
    c.finish(d)


@case
def run_and_reload_refused_to_others(c):
    """Finding 3: a user who is neither root, the daemon's user nor in the
    socket's group may read but not run or reload."""
    d = ok_daemon(c)
    os.chmod(d.socket, 0o666)  # let nobody connect at all
    script = ("import json,socket,sys\n"
              "out=[]\n"
              "for cmd in ('status','run','reload'):\n"
              "  s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
              "  s.sendall((json.dumps({'cmd':cmd})+'\\n').encode()); b=b''\n"
              "  while b'\\n' not in b:\n"
              "    x=s.recv(65536)\n"
              "    if not x: break\n"
              "    b+=x\n"
              "  out.append(json.loads(b.split(b'\\n')[0]))\n"
              "print(json.dumps(out))\n")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                        script, d.socket], capture_output=True, timeout=30, text=True)
    expect(r.returncode == 0, f"client as nobody failed: {r.stderr}")
    status, run, reload = json.loads(r.stdout)
    expect(status.get("ok") is True, f"status refused to nobody: {status}")
    for name, a in (("run", run), ("reload", reload)):
        expect(a.get("ok") is False and "root" in a.get("error", ""), f"{name} allowed to nobody: {a}")
    expect("refused run from uid 65534" in d.stderr(0), "the refusal was not logged")
    c.finish(d)


@case
def reload_storm(c):
    d = ok_daemon(c)
    fds = d.fd_count()
    before = d.stderr(0).count("config reloaded")
    clients = [d.client() for _ in range(40)]
    for cl in clients:
        cl.send(b'{"cmd":"reload"}\n{"cmd":"reload"}\n')
    for _ in range(100):
        d.signal(signal.SIGHUP)
    answers = [cl.line() for cl in clients for _ in range(2)]
    for cl in clients:
        cl.close()
    expect(all(a and a.get("ok") is True for a in answers), f"a reload failed: {answers[:3]}")
    time.sleep(1)
    reloads = d.stderr(0).count("config reloaded") - before
    expect(1 <= reloads <= 60, f"{reloads} reloads for 80 requests and 100 SIGHUPs")
    expect(wait_until(lambda: d.fd_count() <= fds + 2, 10), f"fds {d.fd_count()} (were {fds})")
    d.wait_verdict("ok")
    c.finish(d)


@case
def run_storm(c):
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({"interval": "30s", "timeout": "2s"}, ok.port).start()
    settle(c, d, 1)
    before = ok.accepted
    clients = [d.client(30) for _ in range(30)]
    for cl in clients:
        cl.send(b'{"cmd":"run"}\n')
    answers = [cl.line() for cl in clients]
    for cl in clients:
        cl.close()
    expect(all(a and a.get("ok") is True and "report" in a for a in answers),
           f"a run was not answered with a report: {[a for a in answers if not (a and a.get('ok'))][:2]}")
    probes = ok.accepted - before
    expect(1 <= probes <= 3, f"30 concurrent runs probed {probes} times")
    c.finish(d)


@case
def history_answers_stay_under_the_output_cap(c):
    """A history of 100,000 rows: startup stays quick (the last verdicts are not
    found by loading every row), and `history limit 10000` fits the 1 MiB cap."""
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({}, ok.port).start()
    d.wait_verdict("ok")
    time.sleep(1.5)
    expect(d.stop() == 0, "stop")
    con = sqlite3.connect(d.db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(results)")]
    row = con.execute(f"SELECT {','.join(cols)} FROM results ORDER BY ts DESC LIMIT 1").fetchone()
    ts_at = cols.index("ts")
    rows = []
    for i in range(100000):
        r = list(row)
        r[ts_at] = row[ts_at] - (i + 1) * 1000
        if "id" in cols:
            r[cols.index("id")] = None
        rows.append(r)
    con.executemany(f"INSERT INTO results ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
    con.commit()
    con.close()
    t0 = time.monotonic()
    d.start(wait_cycle=False)
    up = time.monotonic() - t0
    expect(up < 5, f"start with 100,000 rows took {up:.1f} s")
    cl = d.client(30)
    cl.send(b'{"cmd":"history","limit":10000,"since":"24h"}\n')
    while b"\n" not in cl.buf:
        chunk = cl.sock.recv(1 << 20)
        expect(chunk, "no history answer")
        cl.buf += chunk
    raw = cl.buf.split(b"\n")[0]
    cl.close()
    a = json.loads(raw)
    expect(a.get("ok") is True, f"{str(a)[:300]}")
    expect(len(raw) <= 1024 * 1024, f"answer of {len(raw)} bytes over the 1 MiB cap")
    expect(a.get("truncated") is True and 0 < len(a["results"]) < 10000, "not cut to the cap")
    c.finish(d)


@case
def watchers_beyond_the_cap(c):
    """40 `watch` clients: 32 are accepted, the rest refused; the accepted ones
    get result events; status is answered throughout."""
    d = ok_daemon(c)
    watchers, answers = [], []
    try:
        for _ in range(40):
            w = d.client(10)
            watchers.append(w)
            answers.append(w.ask({"cmd": "watch"}))
        accepted = [w for w, a in zip(watchers, answers) if a and a.get("ok") is True]
        refused = [a for a in answers if a and a.get("ok") is False]
        expect(len(accepted) == 32 and len(refused) == 8, f"{len(accepted)} accepted, {len(refused)} refused")
        e = accepted[-1].line()
        expect(e and e.get("event") == "result", f"an accepted watcher got {e}")
        expect(d.status().get("ok"), "status with 32 watchers")
    finally:
        for w in watchers:
            w.close()
    c.finish(d)


@case
def webhook_url_secret_never_logged(c):
    """Finding 1: a webhook URL carries its own secret (path token, query): the
    daemon posts to it, and logs, answers and history show scheme and host only."""
    forbidden = c.fake(fakes.provider_custom(lambda h: fakes.http_answer(403, b"nope")))
    hook = c.fake(fakes.webhook_receiver(code=500))
    hook.is_sink = True
    url = f"http://127.0.0.1:{hook.port}/services/T0/B0/{KEY}?token={KEY}"
    d = c.daemon({"alerts": {"webhooks": [{"url": url, "timeout": "1s"}]}}, forbidden.port).start()
    d.wait_verdict("unexpected")
    expect(wait_until(lambda: len(hook.requests) >= 2, 15), "the webhook was not tried (and retried)")
    expect(KEY.encode() in hook.requests[0], "the post did not go to the URL as configured")
    expect("webhook http://127.0.0.1:" in d.stderr(0), "no webhook failure logged")
    d.ask({"cmd": "history", "alerts": True})
    d.ask({"cmd": "metrics"})
    settle(c, d)
    c.finish(d)


# ---------------------------------------------------------------- the config


def reload_answer(d):
    return d.ask({"cmd": "reload"}, timeout=10)


def check_reload_refused(c, d, key_path):
    a = reload_answer(d)
    expect(a and a.get("ok") is False, f"reload accepted: {a}")
    err = a["error"]
    expect(d.config_path in err and key_path in err, f"error names neither file nor {key_path}: {err}")
    s = d.status()
    expect(s["daemon"]["reload_error"], "status has no reload_error")
    expect(wait_until(lambda: any(b"STATUS=" in m and b"reload failed" in m for m in d.notify.messages), 5),
           "no STATUS= with the reload error")
    check_notify_lines(d)
    return a


def check_notify_lines(d):
    """Every line of every notify message is one NAME=value assignment: a
    newline inside STATUS text would start a line of its own."""
    for m in d.notify.messages:
        for line in m.split(b"\n"):
            name = line.split(b"=", 1)[0]
            expect(b"=" in line and name and name.replace(b"_", b"").isalnum() and name.upper() == name,
                   f"a notify line that is not an assignment: {line[:200]!r} in {m[:300]!r}")


def restore_config(c, d, good):
    d.write_config(good)
    a = reload_answer(d)
    expect(a and a.get("ok") is True, f"a good config was refused after the fault: {a}")


@case
def config_replaced_by_a_fifo(c):
    d = ok_daemon(c)
    good = json.loads(json.dumps(d.config))
    os.unlink(d.config_path)
    os.mkfifo(d.config_path)
    t0 = time.monotonic()
    a = reload_answer(d)
    expect(time.monotonic() - t0 < 3, "reload blocked on the FIFO")
    expect(a and a.get("ok") is False and "regular file" in a.get("error", ""), f"{a}")
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    expect(d.status(timeout=3).get("ok"), "status after SIGHUP with a FIFO config")
    d.wait_verdict("ok")
    os.unlink(d.config_path)
    restore_config(c, d, good)
    c.finish(d)


@case
def config_deleted_under_the_daemon(c):
    d = ok_daemon(c)
    good = json.loads(json.dumps(d.config))
    os.unlink(d.config_path)
    a = reload_answer(d)
    expect(a and a.get("ok") is False and d.config_path in a.get("error", ""), f"{a}")
    d.wait_verdict("ok")
    restore_config(c, d, good)
    c.finish(d)


def bad_config_case(c, mutate, key_path):
    d = ok_daemon(c)
    good = json.loads(json.dumps(d.config))
    bad = json.loads(json.dumps(d.config))
    mutate(bad)
    d.write_config(bad)
    check_reload_refused(c, d, key_path)
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    d.wait_verdict("ok")  # the previous config still runs
    restore_config(c, d, good)
    c.finish(d)


@case
def config_key_pasted_into_key_env(c):
    bad_config_case(c, lambda cfg: cfg["providers"][4].update(key_env=KEY), "providers[4].key_env")


@case
def config_gemini_key_pasted_into_key_env(c):
    bad_config_case(c, lambda cfg: cfg["providers"][4].update(key_env=GEMINI_KEY), "providers[4].key_env")


@case
def config_key_in_base_url_query(c):
    bad_config_case(c, lambda cfg: cfg["providers"][4].update(
        base_url=cfg["providers"][4]["base_url"] + "?key=" + KEY), "providers[4].base_url")


@case
def config_key_in_echo_url_userinfo(c):
    bad_config_case(c, lambda cfg: cfg.update(echo=[f"https://user:{KEY}@127.0.0.1:9/echo"]), "echo[0]")


@case
def config_key_as_a_route_name(c):
    bad_config_case(c, lambda cfg: cfg.update(routes=[{"name": "default", "proxy": f"http://{KEY}:1"}]),
                    "routes[0].proxy")


@case
def config_error_at_start_exits_2_without_the_value(c):
    cfg_path = os.path.join(c.dir, "config.json")
    with open(cfg_path, "w") as f:
        json.dump({"providers": [{"name": "openai", "key_env": KEY}], "socket": c.dir + "/pw.sock"}, f)
    r = subprocess.run([os.path.join(c.bin_dir, "pathwatchd"), "-c", cfg_path], capture_output=True,
                       timeout=20, env={"PATH": "/usr/bin:/bin"})
    expect(r.returncode == 2, f"exit {r.returncode}")
    err = r.stderr.decode(errors="replace")
    expect(cfg_path in err and "providers[0].key_env" in err, f"error names neither file nor key: {err}")
    c.scan_blobs += [r.stdout, r.stderr]
    c.check_no_key()


@case
def key_file_readable_by_everyone(c):
    """Finding 5: a world-readable key file is refused unread; the key is never sent."""
    ok = c.fake(fakes.provider_ok())
    key_file = os.path.join(c.dir, "secret-key")
    with open(key_file, "w") as f:
        f.write(KEY)
    os.chmod(key_file, 0o644)
    d = c.daemon({}, ok.port)
    d.config["providers"][4].pop("key_env")
    d.config["providers"][4]["key_file"] = key_file
    d.write_config()
    d.start()
    s = d.wait_verdict("key_missing")
    expect(evidence_has(s, "readable") or "world" in json.dumps(route_of(s)), f"no reason given: {route_of(s)}")
    expect(not any(KEY.encode() in h for h in ok.requests), "the key was sent")
    os.chmod(key_file, 0o600)
    expect(reload_answer(d).get("ok") is True, "reload")
    d.wait_verdict("ok")
    expect(wait_until(lambda: any(KEY.encode() in h for h in ok.requests), 10), "a 0600 key is sent")
    settle(c, d)
    c.finish(d)


# ---------------------------------------------------------------- the history


@case
def sigkill_during_history_writes(c):
    ok = c.fake(fakes.provider_ok())
    extra = {"providers": [{"name": n, "enabled": False} for n in ("openai", "anthropic", "gemini", "discord")] +
             [{"name": f"fake{i}", "kind": "openai", "base_url": f"http://127.0.0.1:{ok.port}/v1",
               "key_env": "FAULTS_FAKE_KEY"} for i in range(12)],
             "routes": [{"name": "default"}, {"name": "second"}]}
    d = c.daemon(extra, ok.port).start()
    for rnd in range(3):
        time.sleep(1.5 + 0.37 * rnd)
        c.acknowledge(d)
        w = d.client()
        w.ask({"cmd": "watch"})
        w.line()  # a result event: writes are going on now
        os.killpg(d.pid, signal.SIGKILL)
        d.proc.wait(10)
        w.close()
        expect(d.integrity() == "ok", "the database is damaged after SIGKILL")
        d.start()
        c.check_rows(d)
    expect(len(c.acknowledged) > 20, f"only {len(c.acknowledged)} rows acknowledged")
    c.finish(d)


@case
def history_locked_by_another_process(c):
    d = ok_daemon(c)
    con = sqlite3.connect(d.db, timeout=5, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    w = d.client(20)
    w.ask({"cmd": "watch"})
    seen = []
    t_end = time.monotonic() + 5
    while time.monotonic() < t_end:
        e = w.line()
        if e and e.get("event") == "result":
            seen.append((e["at"], e["provider"], e["route"], e["verdict"]))
        expect(d.status(timeout=3).get("ok"), "status while the history is locked")
    con.execute("COMMIT")
    con.close()
    w.close()
    expect(len(seen) >= 3, f"probing stopped while locked ({len(seen)} results in 5 s)")
    # Rows produced while locked were kept and are written now.
    expect(wait_until(lambda: set(seen) <= d.result_rows(), 15),
           f"rows of the locked time missing: {sorted(set(seen) - d.result_rows())[:3]}")
    c.acknowledged |= set(seen)
    c.finish(d)


# ---------------------------------------------------------------- the alerts


@case
def webhook_that_never_answers(c):
    echo = c.fake(fakes.provider_custom(lambda h: fakes.http_answer(403, b"blocked")))
    hang = c.fake(fakes.silent())
    d = c.daemon({"alerts": {"webhooks": [{"url": f"http://127.0.0.1:{hang.port}/never", "timeout": "1s"}],
                             "reminder": "0s"}}, echo.port).start()
    d.wait_verdict("unexpected")  # a 403 nobody signs
    expect(wait_until(lambda: hang.accepted >= 2, 15), f"{hang.accepted} webhook tries (a retry expected)")
    for _ in range(10):
        expect(d.status(timeout=3).get("ok"), "status while the webhook hangs")
        time.sleep(0.3)
    settle(c, d)
    c.finish(d)


@case
def slack_text_cannot_ping_the_channel(c):
    """Finding 5: a captive page titled with Slack mention syntax reaches Slack as text."""
    page = b"<html><head><title><!channel> Login & <@U024BE7LH> <https://evil.test|click></title></head></html>"
    portal = c.fake(fakes.provider_custom(
        lambda h: fakes.http_answer(403, page, ["Server: captive-portal"]).replace(
            b"application/json", b"text/html")))
    hook = c.fake(fakes.webhook_receiver())
    hook.is_sink = True
    d = c.daemon({"alerts": {"webhooks": [{"url": f"http://127.0.0.1:{hook.port}/slack", "format": "slack"}]}},
                 portal.port).start()
    expect(wait_until(lambda: hook.bodies, 15), "no alert reached the Slack webhook")
    text = json.loads(hook.bodies[0])["text"]
    expect("<!channel>" not in text and "<@U024BE7LH>" not in text and "<https://" not in text,
           f"mention syntax reached Slack: {text}")
    expect("&lt;" in text or "channel" not in text, f"{text}")
    settle(c, d)
    c.finish(d)


@case
def exec_hook_that_ignores_sigterm(c):
    """Finding 5: stopping the daemon while a hook ignores SIGTERM: the hook is
    killed after the grace and the daemon exits."""
    forbidden = c.fake(fakes.provider_custom(lambda h: fakes.http_answer(403, b"nope")))
    pid_file = os.path.join(c.dir, "hook.pid")
    stdin_file = os.path.join(c.dir, "hook-stdin")
    script = os.path.join(c.dir, "stubborn.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\ntrap '' TERM\necho $$ > {pid_file}\nhead -c 65536 > {stdin_file}\nexec sleep 120\n")
    os.chmod(script, 0o755)
    d = c.daemon({"alerts": {"exec": [script]}}, forbidden.port).start()
    expect(wait_until(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file) > 0, 15), "the hook never ran")
    hook_pid = int(open(pid_file).read().strip())
    settle(c, d)
    c.check_serving(d)
    c.check_memory(d)
    c.check_rows(d)
    t0 = time.monotonic()
    rc = d.stop(timeout=20)
    took = time.monotonic() - t0
    expect(rc == 0, f"exit {rc}")
    expect(took < 10, f"stopping took {took:.1f} s")

    def gone():
        try:
            os.kill(hook_pid, 0)
            with open(f"/proc/{hook_pid}/stat") as f:
                return f.read().split()[2] == "Z"
        except OSError:
            return True
    expect(wait_until(gone, 8), "the hook outlived the daemon")
    c.check_no_key()


# ---------------------------------------------------------------- the clock

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def clock_jump(c, offset):
    ok = c.fake(fakes.provider_ok())
    stamp = os.path.join(c.dir, "faketime")
    with open(stamp, "w") as f:
        f.write("+0\n")
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": stamp, "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}
    d = c.daemon({}, ok.port, env=env).start()
    d.wait_verdict("ok")
    settle(c, d)
    w = d.client(20)
    w.ask({"cmd": "watch"})

    def arrivals(seconds):
        times, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            e = w.line()
            if e and e.get("event") == "result":
                times.append(time.monotonic())
        return times
    before = arrivals(5)
    with open(stamp, "w") as f:
        f.write(offset + "\n")
    after = arrivals(6)
    w.close()
    # Timers run on the monotonic clock: the interval (1 s ± 10%) holds across the jump.
    expect(3 <= len(before) <= 7, f"{len(before)} results in 5 s before the jump")
    expect(4 <= len(after) <= 8, f"{len(after)} results in 6 s after a jump of {offset}")
    gaps = [b - a for a, b in zip(after, after[1:])]
    expect(all(g < 2.5 for g in gaps), f"a gap of {max(gaps):.1f} s after the jump")
    st = d.status()
    expect(st.get("ok"), "status")
    c.finish(d)


@case
def clock_jumps_forward_an_hour(c):
    clock_jump(c, "+1h")


@case
def clock_jumps_back_an_hour(c):
    clock_jump(c, "-1h")


# ---------------------------------------------------------------- the echo server


def echo_server(c, *args):
    out = os.path.join(c.dir, "echo.out")
    err = open(os.path.join(c.dir, "echo.err"), "wb")
    p = subprocess.Popen([os.path.join(c.bin_dir, "pathwatch"), "echo-server", "--listen", "127.0.0.1:0", *args],
                         stdout=subprocess.PIPE, stderr=err)
    err.close()
    c.cleanups.append(lambda: (p.kill(), p.wait(5)))
    line = p.stdout.readline().decode()
    expect("listening on" in line, f"echo server: {line}")
    port = int(line.strip().rsplit(":", 1)[1])
    return p, port


def echo_get(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


@case
def echo_server_caps_one_address(c):
    p, port = echo_server(c, "--max-per-address", "4", "--read-timeout", "5s")
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(12)]
    time.sleep(0.5)
    closed = 0
    for s in held:
        s.settimeout(0.2)
        try:
            if s.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
        except OSError:
            closed += 1
    for s in held:
        s.close()
    expect(closed >= 8, f"only {closed} of 12 connections beyond the cap of 4 were closed")
    expect(wait_until(lambda: b'"request_line"' in echo_get(port), 5), "no answer once they left")
    expect(p.poll() is None, "the echo server died")


@case
def echo_server_refuses_tls_renegotiation(c):
    cert = fakes.self_signed_tls(c.dir)
    c.fake(cert)
    key = os.path.join(c.dir, "fake.key")
    p, port = echo_server(c, "--tls-cert", cert.cert, "--tls-key", key)
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-quiet",
                        "-no_ign_eof"], input=b"R\n", capture_output=True, timeout=20)
    text = (r.stdout + r.stderr).decode(errors="replace")
    expect("RENEGOTIATING" in text, f"the client did not try: {text[-500:]}")
    expect("no renegotiation" in text, f"renegotiation was not refused: {text[-500:]}")
    ctx = __import__("ssl").create_default_context(cafile=cert.cert)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while b'"request_line"' not in data:
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    expect(b'"request_line"' in data, f"no answer after the renegotiation attempt: {data[:200]!r}")
    tls.close()
    expect(p.poll() is None, "the echo server died")


# ---------------------------------------------------------------- the disk


@case
def disk_full_then_space_back(c):
    """Finding 4: the history on a 4 MiB tmpfs (a private mount namespace); the
    disk fills, probing and answers go on, failed writes are logged at a
    bounded rate, and once space is back every result of the full time is written."""
    mnt = os.path.join(c.dir, "disk")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True, timeout=10)
    c.cleanups.append(lambda: subprocess.run(["umount", "-l", mnt], timeout=10))
    ok = c.fake(fakes.provider_ok())
    d = c.daemon({"history": {"path": mnt + "/history.db"}}, ok.port).start()
    d.wait_verdict("ok")
    settle(c, d)
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    w = d.client(20)
    w.ask({"cmd": "watch"})
    seen = []
    end = time.monotonic() + 6
    while time.monotonic() < end:
        e = w.line()
        if e and e.get("event") == "result":
            seen.append((e["at"], e["provider"], e["route"], e["verdict"]))
    w.close()
    expect(len(seen) >= 4, f"probing stalled on a full disk ({len(seen)} results in 6 s)")
    expect(d.status(timeout=3).get("ok"), "status on a full disk")
    log = d.stderr(0)
    failures = log.count("history: ")
    expect(failures >= 1, "nothing logged about failed writes")
    expect(failures <= 6, f"{failures} history log lines in 6 s: not rate-bounded")
    os.unlink(filler)
    expect(wait_until(lambda: set(seen) <= d.result_rows(), 20),
           f"results of the full time lost: {sorted(set(seen) - d.result_rows())[:3]}")
    c.acknowledged |= set(seen)
    expect(d.integrity() == "ok", "integrity")
    c.finish(d)


NEEDS_MOUNT_NS = {"disk_full_then_space_back"}
