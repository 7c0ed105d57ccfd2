"""A minimal Docker/OCI token server for the benchmark's upstream registry.

CNCF distribution 2.8 configured with ``auth: token: {realm, service, issuer,
rootcertbundle}`` accepts a JWT when its signature verifies against a
certificate in the bundle.  This server generates an EC P-256 key and a
self-signed certificate at start (written to ``--cert``), and signs ES256 JWTs
whose header carries that certificate in ``x5c``.

Clients authenticate with HTTP Basic (one fixed user and password) on
``GET /token?service=S&scope=repository:NAME:pull,push`` or the OAuth2
``POST /token`` form (grant_type=password).  Every requested ``pull``/``push``
action on a ``repository`` scope is granted.

Run as a separate process (so the harness's own threads do not compete for its
GIL):  python -m harness.tokenserver --port P --cert CERT.pem --user U --password PW
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def make_handler(issuer: Issuer, user: str, password: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "bench-token/1"
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

        def _check(self, u, p) -> bool:
            return hmac.compare_digest(u, user) and hmac.compare_digest(p, password)

        def _deny(self):
            self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                       {"WWW-Authenticate": 'Basic realm="bench-token"'})

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/healthz":
                return self._send(200, {"issued": issuer.issued})
            if url.path != "/token":
                return self._send(404, {"error": "not found"})
            q = parse_qs(url.query)
            creds = self._basic()
            if creds is None or not self._check(*creds):
                return self._deny()
            service = (q.get("service") or [""])[0]
            self._send(200, issuer.token(creds[0], service, parse_scopes(q.get("scope", []))))

        def do_POST(self):
            url = urlsplit(self.path)
            if url.path != "/token":
                return self._send(404, {"error": "not found"})
            n = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(n).decode()) if n else {}
            u = (form.get("username") or [""])[0]
            p = (form.get("password") or [""])[0]
            if not u:
                creds = self._basic()
                if creds:
                    u, p = creds
            if not self._check(u, p):
                return self._deny()
            service = (form.get("service") or [""])[0]
            body = issuer.token(u, service, parse_scopes(form.get("scope", [])))
            self._send(200, body)

    return Handler


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
    key, cert = make_key_and_cert("bench-token-signer")
    tmp = a.cert + ".tmp"
    with open(tmp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, a.cert)
    issuer = Issuer(key, cert, a.issuer, a.ttl)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    srv = Server(("127.0.0.1", a.port), make_handler(issuer, a.user, password))
    print(f"token server on 127.0.0.1:{a.port}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
