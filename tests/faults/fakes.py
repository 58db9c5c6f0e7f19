"""Loopback fakes for the fault suite: each listens on 127.0.0.1 port 0, serves
every connection on its own thread with a bounded life, and records what it saw.
stop() closes the listener and every connection it still holds."""

import os
import socket
import ssl
import struct
import subprocess
import threading
import time

MAX_CONN_SECONDS = 120  # no fake keeps a connection longer than this


class TcpFake:
    """Accepts on 127.0.0.1:0; handle(conn, fake) serves one connection."""

    def __init__(self, handle):
        self.handle = handle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.accepted = 0
        self.requests = []  # raw request heads, as bytes
        self.bodies = []    # request bodies (webhooks)
        self.sent = 0       # bytes written to clients
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(MAX_CONN_SECONDS)
        try:
            self.handle(conn, self)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def sleep(self, seconds):
        """Sleeps unless the fake is stopping; False when it is."""
        return not self.stopping.wait(seconds)

    def send(self, conn, data):
        conn.sendall(data)
        with self.lock:
            self.sent += len(data)

    def stop(self):
        self.stopping.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(timeout=5)


def read_head(conn, limit=64 * 1024):
    """Reads an HTTP request head (up to the blank line); b'' on EOF."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def read_request(conn, fake):
    """Reads one request (head and Content-Length body) and records both."""
    data = read_head(conn)
    if not data:
        return None
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    with fake.lock:
        fake.requests.append(head)
        fake.bodies.append(rest[:length])
    return head


def http_answer(code, body, headers=()):
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests",
              500: "Internal Server Error", 502: "Bad Gateway"}.get(code, "Status")
    lines = [f"HTTP/1.1 {code} {reason}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


MODELS = b'{"object":"list","data":[{"id":"gpt-4o","object":"model","owned_by":"system"}]}'


def provider_ok():
    """An OpenAI-compatible endpoint that answers the models list."""
    def handle(conn, fake):
        if read_request(conn, fake) is not None:
            fake.send(conn, http_answer(200, MODELS, ["x-request-id: req_fault"]))
    return TcpFake(handle)


def provider_echoing_key():
    """An endpoint that refuses the key and quotes it back whole, like a careless
    gateway: the daemon must fingerprint it wherever the message goes."""
    def handle(conn, fake):
        head = read_request(conn, fake)
        if head is None:
            return
        auth = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"authorization:"):
                auth = line.split(b":", 1)[1].strip()
        key = auth.split(b" ", 1)[-1].decode(errors="replace")
        body = ('{"error":{"message":"Incorrect API key provided: %s. Key %s is not valid.",'
                '"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}' % (key, key))
        fake.send(conn, http_answer(401, body.encode(), ["x-request-id: req_fault", f"x-echo-key: {key}",
                                                          f"x-ratelimit-limit-requests: {key}"]))
    return TcpFake(handle)


def provider_custom(answer):
    """answer(head) -> bytes to send, then close."""
    def handle(conn, fake):
        head = read_request(conn, fake)
        if head is not None:
            fake.send(conn, answer(head))
    return TcpFake(handle)


def huge_answer(total_bytes):
    """A 200 whose body is total_bytes long, sent as fast as the client takes it."""
    def handle(conn, fake):
        if read_request(conn, fake) is None:
            return
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {total_bytes}\r\n\r\n").encode()
        fake.send(conn, head)
        chunk = b'{"object":"list","data":[' + b" " * (1024 * 1024 - 26)
        left = total_bytes
        deadline = time.monotonic() + 60
        while left > 0 and time.monotonic() < deadline and not fake.stopping.is_set():
            piece = chunk[:min(len(chunk), left)]
            fake.send(conn, piece)
            left -= len(piece)
    return TcpFake(handle)


def one_byte_a_second():
    """Reads the request, then trickles a valid answer one byte a second."""
    def handle(conn, fake):
        if read_request(conn, fake) is None:
            return
        answer = http_answer(200, MODELS)
        for i in range(min(len(answer), 60)):
            fake.send(conn, answer[i:i + 1])
            if not fake.sleep(1.0):
                return
    return TcpFake(handle)


def silent():
    """Completes TCP handshakes, reads whatever comes, never answers (a TLS
    handshake that stalls, a webhook that never answers)."""
    def handle(conn, fake):
        deadline = time.monotonic() + MAX_CONN_SECONDS
        conn.settimeout(0.5)
        while time.monotonic() < deadline and not fake.stopping.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            with fake.lock:
                fake.requests.append(data)
    return TcpFake(handle)


def garbage_http():
    """Answers any request with bytes that are not HTTP."""
    def handle(conn, fake):
        if read_request(conn, fake) is not None:
            fake.send(conn, b"\x00\xff\xfeSSH-2.0-notHTTP\r\n\x16\x03\x01" + os.urandom(512))
    return TcpFake(handle)


def reset_mid_body():
    """Sends the head and half the body, then resets the connection."""
    def handle(conn, fake):
        if read_request(conn, fake) is None:
            return
        answer = http_answer(200, MODELS)
        fake.send(conn, answer[:len(answer) - 20])
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return TcpFake(handle)


def proxy_closing_mid_connect():
    """An HTTP proxy that reads the CONNECT request and hangs up."""
    def handle(conn, fake):
        head = read_head(conn)
        with fake.lock:
            fake.requests.append(head)
    return TcpFake(handle)


def proxy_half_answer():
    """An HTTP proxy that starts its CONNECT answer and hangs up mid-line."""
    def handle(conn, fake):
        head = read_head(conn)
        with fake.lock:
            fake.requests.append(head)
        if head:
            fake.send(conn, b"HTTP/1.1 200 Conn")
    return TcpFake(handle)


def webhook_receiver(code=200):
    def handle(conn, fake):
        if read_request(conn, fake) is not None:
            fake.send(conn, http_answer(code, b"{}"))
    return TcpFake(handle)


def self_signed_tls(dir_path):
    """A TLS server with a self-signed certificate that answers the models list
    (the daemon refuses the chain, but the handshake completes first)."""
    cert = os.path.join(dir_path, "fake.crt")
    key = os.path.join(dir_path, "fake.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handle(conn, fake):
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            with fake.lock:
                fake.requests.append(b"handshake")
            return
        with fake.lock:
            fake.requests.append(b"handshake")
        if read_request(tls, fake) is not None:
            tls.sendall(http_answer(200, MODELS))
    fake = TcpFake(handle)
    fake.cert = cert
    return fake


class FakeDns:
    """UDP on 127.0.0.1:0 answering every query with mode(query) bytes (None: no answer)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            answer = self.mode(data)
            if answer is not None:
                try:
                    self.sock.sendto(answer, peer)
                except OSError:
                    pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


def dns_random(query):
    return os.urandom(8 + len(query) % 200)


def dns_same_id_garbage(query):
    """The query's ID and flags of an answer, then a header that promises
    records it does not carry and a compression pointer that points at itself."""
    qid = query[:2]
    return (qid + b"\x81\x80" + b"\x00\x01\x00\x05\x00\x00\x00\x00" + query[12:] +
            b"\xc0\x2a\xc0\x2a\x00\x01\x00\x01\xff\xff\xff\xff\xff\xff" + os.urandom(64))
