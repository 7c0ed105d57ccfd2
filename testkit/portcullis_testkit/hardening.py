"""Helpers for the hardening suite (issue 5): servers, raw HTTP, metrics, JWTs, crashes.

Fixtures defined here are imported by the ``test_hardening_*`` modules
(``from portcullis_testkit.hardening import hardened_factory``); nothing here changes the
behaviour of the rest of the suite.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import pytest
import requests

from . import catalog
from .faults import FaultServer
from .images import GeneratedImage, make_big_image
from .oci import files_containing, stream_sha256
from .portcullis import PortcullisServer, portcullis_bin
from .proc import run
from .util import wait_until

#: Every Portcullis server the hardening tests started (their logs are grepped at the end).
HARDENING_SERVERS: List[PortcullisServer] = []

MEDIUM_SIZE = 6 * 1024 * 1024
MEDIUM_REPO = "e2e/hardening-medium"


# ------------------------------------------------------------------ binary features
_HELP: Optional[str] = None


def serve_supports(flag: str) -> bool:
    """Whether ``portcullis serve --help`` lists ``flag`` (for optional guard flags only)."""
    global _HELP
    if _HELP is None:
        cp = run([str(portcullis_bin()), "serve", "--help"], timeout=30)
        _HELP = cp.stdout + cp.stderr
    return flag in _HELP


def guard_args() -> List[str]:
    """Keep rate limiting out of the way of tests that are not about it.

    Tests that make many failed logins from 127.0.0.1 on purpose (token attacks,
    hostile names) raise the limit if the binary knows the flag; the rate-limit
    tests themselves pass ``--login-failure-limit`` unconditionally.
    """
    return ["--login-failure-limit", "100000"] if serve_supports("--login-failure-limit") else []


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def hardened_factory(tmp_path_factory, portcullis_binary, backend) -> Iterator[Callable[..., PortcullisServer]]:
    """Like ``portcullis_factory`` but records the servers for the final log grep.

    ``start(*args, start=True, prepare=None)``: ``prepare(server)`` runs before the
    first start (e.g. to mount a tmpfs on ``server.data_dir``).
    """
    started: List[PortcullisServer] = []

    def start(*extra_args: str, start: bool = True, prepare: Optional[Callable[[PortcullisServer], None]] = None):
        srv = PortcullisServer(tmp_path_factory.mktemp("hardened-portcullis"), portcullis_binary, extra_args, store=backend.attach())
        started.append(srv)
        HARDENING_SERVERS.append(srv)
        if prepare is not None:
            prepare(srv)
        return srv.start() if start else srv

    yield start
    for srv in started:
        fast_stop(srv)


def fast_stop(srv: PortcullisServer, grace: float = 1.0) -> None:
    """Stop a server without waiting out a long graceful shutdown (SIGTERM, then SIGKILL).

    Graceful shutdown itself is tested in test_hardening_crash.py.
    """
    if srv.proc is not None:
        srv.proc.stop(timeout=grace)


@pytest.fixture
def fault_factory() -> Iterator[Callable[..., FaultServer]]:
    """``make(upstream)`` -> a :class:`FaultServer` in front of it; all closed at teardown."""
    made: List[FaultServer] = []

    def make(target) -> FaultServer:
        f = FaultServer("127.0.0.1", target.port)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


_MEDIUM: Dict[str, GeneratedImage] = {}
_MEDIUM_LOCK = threading.Lock()


def medium_image(tmp_path_factory, upstream) -> GeneratedImage:
    """A 6 MiB single-layer image, generated and pushed to ``upstream`` once per session."""
    with _MEDIUM_LOCK:
        key = upstream.url
        if key not in _MEDIUM:
            img = _MEDIUM.get("image") or make_big_image(
                tmp_path_factory.mktemp("hardening-medium"), size=MEDIUM_SIZE, tag=catalog.TAG, seed="hardening-medium"
            )
            _MEDIUM["image"] = img
            upstream.push(img, MEDIUM_REPO)
            _MEDIUM[key] = img
        return _MEDIUM[key]


# ------------------------------------------------------------------ data dir checks
def spool_files(server: PortcullisServer) -> List[Path]:
    spool = server.data_dir / "spool"
    if not spool.is_dir():
        return []
    return [p for p in spool.rglob("*") if p.is_file()]


def blob_leftovers(server: PortcullisServer, hexdigest: str) -> List[object]:
    """Stored objects named after the digest that do NOT hash to it, anything in the spool,
    and (on shared storage) upload parts left in the object store."""
    bad: List[object] = []
    for p in files_containing(server.data_dir, hexdigest):
        if p.is_file() and file_sha256_hex(p) != hexdigest:
            bad.append(p)
    if server.store is not None:
        bad += [k for k in server.store.blob_keys(hexdigest) if server.store.moto.sha256(k) != hexdigest]
        bad += [k for k in server.store.blob_keys() if "/uploads/" in k]
    return bad + spool_files(server)


def stored_blob(server: PortcullisServer, hexdigest: str) -> List[object]:
    """Where the blob is stored: files in the data directory, or object keys."""
    if server.store is not None:
        return server.store.blob_keys(hexdigest)
    return [p for p in files_containing(server.data_dir, hexdigest) if p.is_file()]


def file_sha256_hex(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def spool_bytes(server: PortcullisServer) -> int:
    total = 0
    for p in spool_files(server):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


# ------------------------------------------------------------------ process control
def sigkill(server: PortcullisServer) -> None:
    """SIGKILL the server process only (not by name), then reap it."""
    assert server.proc is not None and server.alive(), "server is not running"
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.proc.wait(timeout=10)
    server.proc.stop()  # closes the log handle, sweeps the (dead) group


def restart(server: PortcullisServer) -> PortcullisServer:
    """Start the same server again: same port, same data dir, log appended."""
    server._token = None
    return server.start()


def wait_ready(server: PortcullisServer, timeout: float = 20.0) -> None:
    wait_until(
        lambda: requests.get(server.url + "/readyz", timeout=2).status_code == 200,
        timeout=timeout,
        message=lambda: f"/readyz never returned 200:\n{server.proc.log_tail() if server.proc else ''}",
    )


# ------------------------------------------------------------------ raw HTTP
@dataclass
class RawResponse:
    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def codes(self) -> List[str]:
        try:
            obj = json.loads(self.body)
        except ValueError:
            return []
        if not isinstance(obj, dict):
            return []
        return [e.get("code") for e in obj.get("errors") or [] if isinstance(e, dict)]

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def raw_request(server_or_host, method: str, path: str, headers: Optional[Dict[str, str]] = None,
                body: Optional[bytes] = None, source: Optional[str] = None, timeout: float = 20.0) -> RawResponse:
    """One request with the path sent byte for byte (no normalisation of ``..`` or ``%2e``).

    ``source`` binds the client socket to another loopback address (127.0.0.x).
    """
    host = server_or_host.host if hasattr(server_or_host, "host") else server_or_host
    h, p = host.rsplit(":", 1)
    conn = http.client.HTTPConnection(h, int(p), timeout=timeout, source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, {k: v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


@dataclass
class StreamOutcome:
    status: Optional[int]  # None: the connection ended without a response
    headers: Dict[str, str]
    body: bytes
    sent: int  # body bytes the client managed to send before the response / close
    error: Optional[str]

    def codes(self) -> List[str]:
        return RawResponse(self.status or 0, self.headers, self.body).codes()


def send_until_response(host: str, head: bytes, chunks: Iterable[bytes], timeout: float = 60.0) -> StreamOutcome:
    """Send ``head`` then ``chunks`` while watching for the server's answer.

    Stops sending as soon as the server answers (or closes), so an early 413 is
    read even when the server closes the connection on a half-sent body.
    """
    h, p = host.rsplit(":", 1)
    sock = socket.create_connection((h, int(p)), timeout=10)
    sent = 0
    error = None
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(head)
        sock.setblocking(False)
        it = iter(chunks)
        pending = b""
        more = True
        while time.monotonic() < deadline:
            r, w, _ = select.select([sock], [sock] if more or pending else [], [], 0.5)
            if r:
                break
            if w:
                if not pending:
                    nxt = next(it, None)
                    if nxt is None:
                        more = False
                        continue
                    pending = nxt
                try:
                    n = sock.send(pending)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    error = repr(exc)
                    break
                sent += n
                pending = pending[n:]
            if not more and not pending and not r:
                # everything sent; wait for the answer below
                break
        sock.setblocking(True)
        sock.settimeout(max(1.0, deadline - time.monotonic()))
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                b = sock.recv(65536)
                if not b:
                    break
                data += b
        except OSError as exc:
            error = error or repr(exc)
        if b"\r\n\r\n" not in data:
            return StreamOutcome(None, {}, data, sent, error or "connection closed without a response")
        head_bytes, rest = data.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip()] = v.strip()
        want = int(headers.get("Content-Length") or headers.get("content-length") or 0)
        try:
            while len(rest) < want:
                b = sock.recv(65536)
                if not b:
                    break
                rest += b
        except OSError:
            pass
        return StreamOutcome(status, headers, rest[:want] if want else rest, sent, error)
    finally:
        sock.close()


def chunked(blocks: Iterable[bytes]) -> Iterator[bytes]:
    for b in blocks:
        if b:
            yield b"%x\r\n" % len(b) + b + b"\r\n"
    yield b"0\r\n\r\n"


def filler_blocks(total: int, block: int = 64 * 1024, byte: bytes = b"a") -> Iterator[bytes]:
    chunk = byte * block
    left = total
    while left > 0:
        n = min(block, left)
        yield chunk[:n]
        left -= n


def request_head(method: str, path: str, host: str, headers: Dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ------------------------------------------------------------------ Prometheus text
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


class Metrics:
    def __init__(self, text: str):
        self.text = text
        self.samples: List[Tuple[str, Dict[str, str], float]] = []
        self.types: Dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                continue
            m = _SAMPLE.match(line)
            assert m, f"not Prometheus text format: {line!r}"
            labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(3) or "")}
            self.samples.append((m.group(1), labels, float(m.group(4))))

    def names(self) -> set:
        return {n for n, _, _ in self.samples} | set(self.types)

    def has(self, name: str) -> bool:
        """A metric (or histogram family) is exposed: a TYPE line or a sample."""
        return name in self.types or any(n == name or n.startswith(name + "_") for n, _, _ in self.samples)

    def select(self, name: str, **labels) -> List[Tuple[Dict[str, str], float]]:
        return [(l, v) for n, l, v in self.samples if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def value(self, name: str, **labels) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(v for _, v in self.select(name, **labels))


def scrape(server: PortcullisServer) -> Metrics:
    r = requests.get(server.url + "/metrics", timeout=10)
    assert r.status_code == 200, f"/metrics -> {r.status_code}: {r.text[:300]}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain") or "openmetrics" in ctype, f"/metrics Content-Type {ctype!r}"
    return Metrics(r.text)


# ------------------------------------------------------------------ JWT crafting
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> Tuple[dict, dict, bytes]:
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def _der_to_raw(der: bytes) -> bytes:
    """ECDSA DER signature (SEQUENCE of two INTEGERs) -> JOSE r||s, 32 bytes each."""
    assert der[0] == 0x30, der[:4].hex()
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2 : i + 2 + n].lstrip(b"\x00")
        out += v.rjust(32, b"\x00")
        i += 2 + n
    return out


def es256_sign(key_pem: Path, signing_input: bytes) -> bytes:
    cp = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_pem)], input=signing_input,
                        capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    return _der_to_raw(cp.stdout)


def make_jwt(header: dict, payload: dict, sign: Callable[[bytes], bytes]) -> str:
    si = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{si}.{b64url(sign(si.encode()))}"


def public_key_pem(key_pem: Path) -> bytes:
    cp = subprocess.run(["openssl", "pkey", "-in", str(key_pem), "-pubout"], capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    return cp.stdout


def new_ec_key(path: Path) -> Path:
    cp = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path)],
                        capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    return path


def registry_token(server: PortcullisServer, creds: Tuple[str, str], repo: str, actions: str = "pull",
                   service: Optional[str] = None) -> str:
    r = requests.get(f"{server.url}/v2/token",
                     params={"service": service or server.host, "scope": f"repository:{repo}:{actions}"},
                     auth=creds, timeout=10)
    assert r.status_code == 200, f"token request failed: {r.status_code} {r.text[:300]}"
    return r.json()["token"]


# ------------------------------------------------------------------ tmpfs
@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``path``; FAIL (never skip) when that is impossible."""
    path.mkdir(parents=True, exist_ok=True)
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                        capture_output=True, text=True, timeout=30)
    if cp.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs on {path} in this sandbox (needed to simulate a full disk): "
            f"`mount -t tmpfs` exited {cp.returncode}: {cp.stderr.strip()}",
            pytrace=False,
        )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


# ------------------------------------------------------------------ misc
def timed(fn: Callable[[], requests.Response]) -> Tuple[requests.Response, float]:
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def blob_outcome(session: requests.Session, url: str, timeout=(10, 60), headers=None):
    """(status, sha256 digest, size) of a streamed GET, or ("error", repr, bytes read)."""
    try:
        r = session.get(url, stream=True, timeout=timeout, headers=headers or {})
    except requests.RequestException as exc:
        return ("error", repr(exc), None)
    status = r.status_code
    try:
        digest, size = stream_sha256(r)
        return (status, digest, size)
    except requests.RequestException as exc:
        return ("error", f"{status}: {exc!r}", None)
    finally:
        r.close()


def all_secret_forms(secret: str, usernames: Iterable[str]) -> set:
    forms = {secret}
    for u in usernames:
        forms.add(base64.b64encode(f"{u}:{secret}".encode()).decode())
    return forms
