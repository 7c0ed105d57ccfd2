"""HTTP-aware fault injection between Portcullis and a real upstream registry.

:class:`FaultServer` is a small threaded HTTP/1.1 reverse proxy on 127.0.0.1.
Register an upstream with ``endpoint=fault.url`` and every request Portcullis
makes to that upstream passes through it. Rules, matched in order against the
method and the path, decide what happens to a request:

=============  ================================================================
``status``     answer ``code`` (429/500/503/...) with an OCI error body
               (``Retry-After`` for 429) without contacting the upstream
``hang``       read the request, never answer (until :meth:`FaultServer.close`)
``corrupt``    forward, but flip the bytes of the body (same length)
``append``     forward, with ``extra`` bytes added (Content-Length adjusted)
``cut``        forward the head and ``after`` body bytes, then close (FIN or RST)
``chunk-cut``  re-frame as chunked (no length), stop before the last chunk
``chunked``    re-frame as chunked (no length), whole (with ``pace``: at that many bytes per second)
``stall``      forward the head and ``after`` body bytes, then go silent
``throttle``   forward the body at ``rate`` bytes per second
=============  ================================================================

Nothing is ever held in memory whole: bodies are copied in 64 KiB blocks.
Every request is recorded (method, path, action) for assertions.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Sequence

from .util import free_port

_BLOCK = 64 * 1024
_FLIP = bytes(255 - i for i in range(256))  # x -> x ^ 0xFF
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"}

MANIFESTS = r"/manifests/"
BLOBS = r"/blobs/sha256:"
TAGS = r"/tags/list"
ANY_REPO = r"^/v2/.+"  # everything but the /v2/ ping


def blob_path(digest: str) -> str:
    """A rule pattern matching GET/HEAD of one blob by digest."""
    return re.escape(f"/blobs/{digest}")


@dataclass
class Rule:
    pattern: str
    action: str
    methods: Optional[Sequence[str]] = None  # None: any method
    code: int = 503
    after: int = 0  # cut/stall/chunk-cut: body bytes forwarded first
    reset: bool = False  # cut: RST instead of FIN
    extra: bytes = b"\x00" * 4096  # append
    rate: int = 1 << 20  # throttle: bytes per second
    pace: Optional[int] = None  # any forwarding action: also limit to this many bytes per second
    times: Optional[int] = None  # apply to the first N matching requests only
    hits: int = 0
    _re: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._re = re.compile(self.pattern)

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return bool(self._re.search(path))


@dataclass
class Seen:
    method: str
    path: str
    action: str
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, owner: "FaultServer"):
        self.owner = owner
        super().__init__(addr, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    # every method goes through one dispatcher
    def do_GET(self):
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        rule = owner._match(self.command, path)
        action = rule.action if rule else "pass"
        owner._record(self.command, self.path, action)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if action == "status":
                self._answer_status(rule.code)
            elif action == "hang":
                self.close_connection = True
                owner._stop.wait(600)
            else:
                self._forward(rule, body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True

    def _answer_status(self, code: int) -> None:
        oci = {429: "TOOMANYREQUESTS", 401: "UNAUTHORIZED", 404: "NAME_UNKNOWN"}.get(code, "UNAVAILABLE")
        payload = json.dumps({"errors": [{"code": oci, "message": f"injected fault {code}"}]}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if code == 429:
            self.send_header("Retry-After", "30")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, rule: Optional[Rule], body: bytes) -> None:
        owner = self.server.owner
        conn = http.client.HTTPConnection(owner.target[0], owner.target[1], timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            action = rule.action if rule else "pass"
            has_body = self.command != "HEAD" and resp.status not in (204, 304)
            declared = resp.getheader("Content-Length")
            if not has_body:
                self._send_head(resp, declared)
                return
            if declared is None:
                # Small bodies (JSON) without a length: re-send with one.
                data = resp.read()
                if action == "corrupt":
                    data = data.translate(_FLIP)
                self._send_head(resp, str(len(data)))
                self.wfile.write(data)
                return
            total = int(declared)
            pace = rule.pace if rule else None
            if action == "append":
                self._send_head(resp, str(total + len(rule.extra)))
                self._copy(resp, total, lambda b: b, rate=pace)
                self.wfile.write(rule.extra)
            elif action == "corrupt":
                self._send_head(resp, declared)
                self._copy(resp, total, lambda b: b.translate(_FLIP), rate=pace)
            elif action in ("cut", "stall"):
                self._send_head(resp, declared)
                self._copy(resp, min(rule.after, total), lambda b: b, rate=pace)
                self.wfile.flush()
                self.close_connection = True
                if action == "stall":
                    owner._stop.wait(600)
                else:
                    owner._cut(self.connection, rule.reset)
            elif action == "chunked":
                self._send_head(resp, None, chunked=True)
                started, sent = time.monotonic(), 0
                while sent < total:
                    b = resp.read(min(_BLOCK, total - sent))
                    if not b:
                        break
                    self.wfile.write(b"%x\r\n" % len(b) + b + b"\r\n")
                    sent += len(b)
                    if rule.pace:
                        ahead = sent / rule.pace - (time.monotonic() - started)
                        if ahead > 0:
                            owner._stop.wait(ahead)
                self.wfile.write(b"0\r\n\r\n")
            elif action == "chunk-cut":
                self._send_head(resp, None, chunked=True)
                sent = 0
                while sent < min(rule.after, total):
                    b = resp.read(min(_BLOCK, rule.after - sent))
                    if not b:
                        break
                    self.wfile.write(b"%x\r\n" % len(b) + b + b"\r\n")
                    sent += len(b)
                self.wfile.flush()
                self.close_connection = True
                owner._cut(self.connection, False)
            elif action == "throttle":
                self._send_head(resp, declared)
                self._copy(resp, total, lambda b: b, rate=rule.rate)
            else:
                self._send_head(resp, declared)
                self._copy(resp, total, lambda b: b)
        finally:
            conn.close()

    def _send_head(self, resp, length: Optional[str], chunked: bool = False) -> None:
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in _HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()

    def _copy(self, resp, n: int, transform, rate: Optional[int] = None) -> None:
        started = time.monotonic()
        done = 0
        while done < n:
            if self.server.owner._stop.is_set():
                raise ConnectionResetError("fault server closing")
            b = resp.read(min(_BLOCK, n - done))
            if not b:
                break
            self.wfile.write(transform(b))
            done += len(b)
            if rate:
                ahead = done / rate - (time.monotonic() - started)
                if ahead > 0:
                    self.server.owner._stop.wait(ahead)


class FaultServer:
    """HTTP reverse proxy to ``target`` with switchable per-path faults."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._lock = threading.Lock()
        self._rules: List[Rule] = []
        self._seen: List[Seen] = []
        self._stop = threading.Event()
        self._httpd = _Server(("127.0.0.1", self.port), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"faults-{self.port}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ controls
    def set(self, pattern: str, action: str, **kw) -> Rule:
        """Replace all rules by one."""
        rule = Rule(pattern, action, **kw)
        with self._lock:
            self._rules = [rule]
        return rule

    def add(self, pattern: str, action: str, **kw) -> Rule:
        rule = Rule(pattern, action, **kw)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def seen(self, pattern: str = "", action: Optional[str] = None, method: Optional[str] = None) -> List[Seen]:
        rx = re.compile(pattern)
        with self._lock:
            return [s for s in self._seen if rx.search(s.path) and (action is None or s.action == action)
                    and (method is None or s.method == method)]

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ----------------------------------------------------------- internals
    def _match(self, method: str, path: str) -> Optional[Rule]:
        with self._lock:
            for r in self._rules:
                if r.matches(method, path):
                    r.hits += 1
                    return r
        return None

    def _record(self, method: str, path: str, action: str) -> None:
        with self._lock:
            self._seen.append(Seen(method, path, action, time.monotonic()))

    @staticmethod
    def _cut(sock: socket.socket, reset: bool) -> None:
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
