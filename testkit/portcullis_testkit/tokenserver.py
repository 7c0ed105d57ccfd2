"""A Docker/OCI token server in front of ``docker-registry``, shaped like the real services.

CNCF distribution configured with ``auth: token: {realm, service, issuer, rootcertbundle}``
accepts a JWT when its signature verifies against a certificate in the bundle. This server
generates an EC P-256 key and a self-signed certificate at start, and signs ES256 JWTs whose
header carries that certificate in ``x5c``.

What it reproduces of the services vendors use (a :class:`TokenPolicy` says which):

* Basic credentials at the realm (GAR's ``_json_key`` with the JSON key as password, GHCR's
  user and token, Quay's ``org+robot``), ``GET`` with query or the OAuth2 ``POST`` form;
* anonymous tokens granting pull on public repositories only, and a token with no access for
  the rest (Docker Hub, GHCR, Quay);
* a login rate limit: the next N token requests answered ``429`` with ``Retry-After``.

Every token request is recorded (account or anonymous, scopes) for assertions.

Run in-process with :class:`TokenService` (the e2e suite), or as a separate process so the
caller's threads do not compete for its GIL (the benchmark):
``python -m portcullis_testkit.tokenserver --port P --cert CERT.pem --user U --password-file F``
"""
from __future__ import annotations

import argparse
import base64
import datetime
import hmac
import json
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

GRANTABLE = {"pull", "push"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key_and_cert(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


class Issuer:
    def __init__(self, key, cert, issuer: str, ttl: int) -> None:
        self.key = key
        self.issuer = issuer
        self.ttl = ttl
        der = cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        self._header = b64url(json.dumps(header, separators=(",", ":")).encode())
        self.issued = 0
        self._lock = threading.Lock()

    def token(self, subject: str, service: str, access: list) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": service,
            "exp": now + self.ttl,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": access,
        }
        signing_input = self._header + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        der_sig = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_sig)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        tok = signing_input + "." + b64url(sig)
        with self._lock:
            self.issued += 1
        issued_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": tok, "access_token": tok, "expires_in": self.ttl, "issued_at": issued_at}


def parse_scopes(scopes: list) -> list:
    access = []
    for raw in scopes:
        for scope in raw.split(" "):
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name = ":".join(parts[1:-1])
            actions = sorted({a for a in parts[-1].split(",") if a in GRANTABLE})
            if actions:
                access.append({"type": "repository", "name": name, "actions": actions})
    return access


@dataclass
class TokenRequest:
    account: Optional[str]  # None: anonymous
    scopes: List[str]
    status: int


@dataclass
class TokenPolicy:
    """Who may log in, what anonymous callers get, and what the server has seen."""

    accounts: Dict[str, str]
    public: Set[str] = field(default_factory=set)
    throttle_next: int = 0
    retry_after: int = 7
    requests: List[TokenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grant(self, account: Optional[str], scopes: list) -> list:
        access = parse_scopes(scopes)
        if account is None:
            # Anonymous callers may pull public repositories, nothing else.
            access = [dict(a, actions=["pull"]) for a in access if a["name"] in self.public and "pull" in a["actions"]]
        return access

    def record(self, account: Optional[str], scopes: List[str], status: int) -> None:
        with self.lock:
            self.requests.append(TokenRequest(account, scopes, status))

    def take_throttle(self) -> bool:
        with self.lock:
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return True
            return False


def make_handler(issuer: Issuer, policy: TokenPolicy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "testkit-token/1"
        # One write per response and no Nagle: otherwise headers and body go out as two
        # segments and every keep-alive request waits out a delayed ACK (~40 ms).
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # quiet: one line per request would be noise
            pass

        def _send(self, status: int, body: dict, extra=None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _basic(self):
            h = self.headers.get("Authorization", "")
            if not h.lower().startswith("basic "):
                return None
            try:
                u, _, p = base64.b64decode(h[6:].strip()).decode().partition(":")
            except Exception:  # noqa: BLE001
                return None
            return u, p

        def _issue(self, user: str, password: str, service: str, scopes: List[str]) -> None:
            if policy.take_throttle():
                policy.record(user or None, scopes, 429)
                return self._send(429, {"errors": [{"code": "TOOMANYREQUESTS", "message": "login rate limit"}]},
                                  {"Retry-After": str(policy.retry_after)})
            if user:
                expected = policy.accounts.get(user)
                if expected is None or not hmac.compare_digest(expected, password):
                    policy.record(user, scopes, 401)
                    return self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                                      {"WWW-Authenticate": 'Basic realm="testkit-token"'})
            account = user or None
            policy.record(account, scopes, 200)
            self._send(200, issuer.token(user or "anonymous", service, policy.grant(account, scopes)))

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/healthz":
                return self._send(200, {"issued": issuer.issued})
            if url.path != "/token":
                return self._send(404, {"error": "not found"})
            q = parse_qs(url.query)
            user, password = self._basic() or ("", "")
            self._issue(user, password, (q.get("service") or [""])[0], q.get("scope", []))

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path != "/token":
                return self._send(404, {"error": "not found"})
            n = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(n).decode()) if n else {}
            user = (form.get("username") or [""])[0]
            password = (form.get("password") or [""])[0]
            if not user:
                user, password = self._basic() or ("", "")
            self._issue(user, password, (form.get("service") or [""])[0], form.get("scope", []))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def _start(cert_path: str, port: int, policy: TokenPolicy, ttl: int, issuer_name: str) -> Tuple[_Server, Issuer]:
    key, cert = make_key_and_cert("testkit-token-signer")
    tmp = cert_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, cert_path)
    issuer = Issuer(key, cert, issuer_name, ttl)
    return _Server(("127.0.0.1", port), make_handler(issuer, policy)), issuer


class TokenService:
    """The token server in a thread of this process, with its policy open to the test."""

    ISSUER = "testkit-token-issuer"

    def __init__(self, workdir: Path, accounts: Dict[str, str], public: Iterable[str] = (), ttl: int = 300) -> None:
        from .util import free_port

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.policy = TokenPolicy(accounts=dict(accounts), public=set(public))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.realm = self.url + "/token"
        self.cert = self.workdir / "token-cert.pem"
        self.ttl = ttl
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "TokenService":
        self._server, _ = _start(str(self.cert), self.port, self.policy, self.ttl, self.ISSUER)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def requests(self) -> List[TokenRequest]:
        with self.policy.lock:
            return list(self.policy.requests)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True, help="where to write the PEM certificate (root bundle)")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--issuer", default="bench-token-issuer")
    ap.add_argument("--ttl", type=int, default=300)
    a = ap.parse_args(argv)
    password = open(a.password_file).read().strip()
    srv, _ = _start(a.cert, a.port, TokenPolicy(accounts={a.user: password}), a.ttl, a.issuer)
    print(f"token server on 127.0.0.1:{a.port}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
