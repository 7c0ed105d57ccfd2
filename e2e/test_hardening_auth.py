"""Hardening (issue 5): forged registry tokens and rate-limited failed logins.

Tokens come from ``GET /v2/token?service=HOST&scope=repository:NAME:pull`` (Basic any:LICENSE)
and are ES256 JWTs. Expired, wrongly signed, ``alg: none``, HS256 signed with the public key,
wrong-audience, other-app and garbage tokens are all 401.

Failed logins (unknown license / wrong password at /v2/token or Basic on /v2/...) beyond
``--login-failure-limit N`` per source address or per license within 60 s -> 429
``TOOMANYREQUESTS`` with ``Retry-After``; valid credentials are never rate limited.
Different source addresses are real: clients bind to 127.0.0.x.
"""
from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlencode

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.hardening import (  # noqa: F401 - fixtures
    b64url,
    basic,
    es256_sign,
    guard_args,
    hardened_factory,
    jwt_parts,
    make_jwt,
    new_ec_key,
    public_key_pem,
    raw_request,
    registry_token,
)
from portcullis_testkit.oci import error_codes, get_manifest


# ------------------------------------------------------------------ token attacks
def _bearer_get(srv, path, token):
    return requests.get(f"{srv.url}{path}", headers={"Authorization": f"Bearer {token}",
                                                     "Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=15)


@pytest.mark.embedded_only("forges tokens with the data directory's signing key")
def test_forged_tokens_are_refused(hardened_factory, upstream, tmp_path):
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    other = srv.tenant(upstream)  # another app, same upstream
    repo = tenant.repo(catalog.THREE_REPO)
    manifest_path = f"/v2/{repo}/manifests/{catalog.TAG}"
    key = srv.data_dir / "signing-key.pem"
    assert key.is_file(), "no signing-key.pem in the data dir"

    real = registry_token(srv, tenant.creds, repo)
    header, payload, _sig = jwt_parts(real)
    assert header.get("alg") == "ES256" and header.get("kid"), header
    kid = header["kid"]

    def es256(h, p, k=key):
        return make_jwt(h, p, lambda si: es256_sign(k, si))

    # Controls: the real token and an identical re-signed one are accepted, so the
    # refusals below are about the tampering, not about how the tests sign.
    for what, tok in (("issued token", real), ("re-signed copy", es256(header, payload))):
        r = _bearer_get(srv, manifest_path, tok)
        assert r.status_code == 200, f"{what} refused: {r.status_code} {r.text[:300]}"

    now = int(time.time())
    pub = public_key_pem(key)
    other_key = new_ec_key(tmp_path / "other.pem")
    hs = dict(header, alg="HS256")

    def hs256(secret: bytes, h=hs, p=payload):
        return make_jwt(h, p, lambda si: hmac.new(secret, si, hashlib.sha256).digest())

    h_part, p_part, s_part = real.split(".")
    granted_elsewhere = dict(payload, access=[{"type": "repository", "name": other.repo(catalog.THREE_REPO),
                                               "actions": ["pull"]}])
    attacks = {
        "expired": es256(header, dict(payload, exp=now - 120, iat=now - 600, nbf=now - 600)),
        "not yet valid": es256(header, dict(payload, nbf=now + 3600, iat=now + 3600, exp=now + 7200)),
        "wrong signature (bit flipped)": f"{h_part}.{p_part}.{s_part[:-6]}{'AAAAAA' if s_part[-6:] != 'AAAAAA' else 'BBBBBB'}",
        "signed by another key, same kid": es256(header, payload, other_key),
        "payload tampered, original signature": f"{h_part}.{b64url(json.dumps(granted_elsewhere).encode())}.{s_part}",
        "alg none": make_jwt(dict(header, alg="none"), payload, lambda si: b""),
        "alg None, signature kept": f"{b64url(json.dumps({'alg': 'None', 'kid': kid}).encode())}.{p_part}.{s_part}",
        "alg none, no kid": make_jwt({"alg": "none", "typ": "JWT"}, payload, lambda si: b""),
        "HS256 with the public key PEM": hs256(pub),
        "HS256 with the public key PEM (trimmed)": hs256(pub.strip()),
        "HS256 with the kid": hs256(kid.encode()),
        "HS256 with the private key file": hs256(key.read_bytes()),
        "wrong audience": es256(header, dict(payload, aud=["registry.evil.example"])),
        "wrong audience (string)": es256(header, dict(payload, aud="registry.evil.example")),
        "wrong issuer": es256(header, dict(payload, iss="someone-else")),
        "garbage": "garbage",
        "three dots": "...",
        "random segments": f"{b64url(secrets.token_bytes(30))}.{b64url(secrets.token_bytes(60))}.{b64url(secrets.token_bytes(64))}",
        "header only": h_part,
        "long random": b64url(secrets.token_bytes(6000)),
        "non-JSON payload": f"{h_part}.{b64url(b'not json')}.{s_part}",
        "license ID as bearer": tenant.license_id,
    }

    # ... and a token issued by another Portcullis (another signing key) for the same name.
    foreign = hardened_factory(*guard_args())
    foreign_tenant = foreign.tenant(upstream)
    attacks["another server's token"] = registry_token(foreign, foreign_tenant.creds, foreign_tenant.repo(catalog.THREE_REPO))
    fh, fp, _ = jwt_parts(attacks["another server's token"])
    attacks["another server's key, our claims"] = make_jwt(
        fh, payload, lambda si: es256_sign(foreign.data_dir / "signing-key.pem", si))

    problems = []
    for what, tok in attacks.items():
        for path in (manifest_path, "/v2/"):
            r = _bearer_get(srv, path, tok)
            if r.status_code != 401:
                problems.append(f"{what}: GET {path} -> {r.status_code} {r.text[:150]}")
            elif "UNAUTHORIZED" not in error_codes(r) or not r.headers.get("WWW-Authenticate"):
                problems.append(f"{what}: 401 without UNAUTHORIZED + challenge: {r.text[:150]}")
            if tok and len(tok) > 12 and tok in r.text:
                problems.append(f"{what}: the token is echoed in the error body")
    assert not problems, "forged/foreign tokens not refused with 401:\n" + "\n".join(problems)

    # Blobs too, and the real token still works afterwards.
    r = _bearer_get(srv, manifest_path, real)
    assert r.status_code == 200, r.status_code
    layer = json.loads(r.content)["layers"][0]["digest"]
    for what in ("expired", "alg none", "HS256 with the public key PEM", "wrong audience"):
        b = _bearer_get(srv, f"/v2/{repo}/blobs/{layer}", attacks[what])
        assert b.status_code == 401, f"{what}: blob GET -> {b.status_code}"
    assert _bearer_get(srv, f"/v2/{repo}/blobs/{layer}", real).status_code == 200


def test_other_apps_token_is_refused(hardened_factory, upstream):
    """Tokens genuinely issued to another app's customer do not open this app's repositories.

    The caller is authenticated (a valid token) but not entitled, so the answer is 403 DENIED,
    the same as for a repository of that app that does not exist."""
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    other = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    tokens = {
        "other app's token (for its own repo)": registry_token(srv, other.creds, other.repo(catalog.THREE_REPO)),
        "other app's token (asked for this repo)": registry_token(srv, other.creds, repo),
    }
    _h, p, _s = jwt_parts(tokens["other app's token (asked for this repo)"])
    assert not [a for a in p.get("access") or [] if a.get("name") == repo], f"a token granted another app's repo: {p}"
    layer = json.loads(get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG).content)["layers"][0]["digest"]
    problems = []
    for what, tok in tokens.items():
        for path in (f"/v2/{repo}/manifests/{catalog.TAG}", f"/v2/{repo}/blobs/{layer}", f"/v2/{repo}/tags/list"):
            r = _bearer_get(srv, path, tok)
            if r.status_code != 403 or "DENIED" not in error_codes(r):
                problems.append(f"{what}: GET {path} -> {r.status_code} {r.text[:150]}")
    assert not problems, "another app's token was not refused with 403 DENIED:\n" + "\n".join(problems)


def test_token_scopes_are_merged_and_bounded(hardened_factory, upstream):
    """A scope asked 300 times is one entry of the token (each was one: 1,000 made a 206 KB token
    the server's own header limit then refused); more than 100 repositories is a 400, checked
    before any of them is looked up."""
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    query = urlencode([("service", srv.host)] + [("scope", f"repository:{repo}:pull")] * 300)
    r = requests.get(f"{srv.url}/v2/token?{query}", auth=tenant.creds, timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
    _h, p, _s = jwt_parts(r.json()["token"])
    assert p.get("access") == [{"type": "repository", "name": repo, "actions": ["pull"]}], p.get("access")
    many = urlencode([("service", srv.host)] + [("scope", f"repository:{repo}-{i}:pull") for i in range(101)])
    r = requests.get(f"{srv.url}/v2/token?{many}", auth=tenant.creds, timeout=30)
    assert r.status_code == 400 and "at most 100 repositories" in r.text, f"{r.status_code} {r.text[:300]}"
    r = requests.get(f"{srv.url}/v2/token?{many}", timeout=30)
    assert r.status_code == 400, f"anonymous, 101 repositories: {r.status_code} {r.text[:300]}"


def test_expired_token_from_short_token_ttl_is_refused(hardened_factory, upstream):
    """A genuinely issued token stops working once ``--token-ttl`` has passed."""
    srv = hardened_factory("--token-ttl", "1s", *guard_args())
    tenant = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    tok = registry_token(srv, tenant.creds, repo)
    _h, payload, _s = jwt_parts(tok)
    assert payload["exp"] - payload["iat"] <= 2, payload
    from portcullis_testkit.util import wait_until

    r = wait_until(lambda: (lambda x: [x] if x.status_code != 200 else None)(
        _bearer_get(srv, f"/v2/{repo}/manifests/{catalog.TAG}", tok)), timeout=10, interval=0.25,
        message="a token issued with --token-ttl 1s was still accepted after 10 s")[0]
    assert r.status_code == 401 and "UNAUTHORIZED" in error_codes(r), f"{r.status_code} {r.text[:200]}"


# ------------------------------------------------------------------ rate limiting
LIMIT = 3


def _token_as(srv, source, license_id, repo, user="e2e-client"):
    q = urlencode({"service": srv.host, "scope": f"repository:{repo}:pull"})
    return raw_request(srv, "GET", f"/v2/token?{q}", headers={"Authorization": basic(user, license_id)}, source=source)


def _manifest_as(srv, source, license_id, repo):
    return raw_request(srv, "GET", f"/v2/{repo}/manifests/{catalog.TAG}", source=source,
                       headers={"Authorization": basic("e2e-client", license_id),
                                "Accept": "application/vnd.oci.image.manifest.v1+json"})


def _assert_429(r, what):
    assert r.status == 429, f"{what}: expected 429, got {r.status} {r.body[:200]!r}"
    assert "TOOMANYREQUESTS" in r.codes(), f"{what}: {r.body[:200]!r}"
    ra = r.header("Retry-After")
    assert ra, f"{what}: 429 without Retry-After"
    if ra.isdigit():
        assert 1 <= int(ra) <= 3600, f"{what}: Retry-After {ra}"
    else:
        assert email.utils.parsedate_to_datetime(ra), f"{what}: Retry-After {ra!r}"


def _unknown_license():
    return secrets.token_hex(20)  # the shape of a real license ID


@pytest.fixture
def limited(hardened_factory, upstream):
    srv = hardened_factory("--login-failure-limit", str(LIMIT))
    tenant = srv.tenant(upstream)
    return srv, tenant


def test_failed_logins_are_rate_limited_per_address(limited):
    srv, tenant = limited
    repo = tenant.repo(catalog.THREE_REPO)
    addr = "127.0.0.21"
    # Three kinds of failed login, all counted against the address:
    failures = [
        ("unknown license at /v2/token", lambda: _token_as(srv, addr, _unknown_license(), repo)),
        ("wrong vendor token at /v2/token", lambda: _token_as(srv, addr, "pcv_" + secrets.token_hex(24), repo)),
        ("unknown license as Basic on /v2/...", lambda: _manifest_as(srv, addr, _unknown_license(), repo)),
    ]
    assert len(failures) == LIMIT
    for what, attempt in failures:
        r = attempt()
        assert r.status == 401, f"{what}: {r.status} {r.body[:200]!r}"
    _assert_429(_token_as(srv, addr, _unknown_license(), repo), f"token request after {LIMIT} failures")
    _assert_429(_manifest_as(srv, addr, _unknown_license(), repo), "Basic on /v2/... from the blocked address")
    _assert_429(_token_as(srv, addr, "short", repo), "malformed license from the blocked address")

    # Valid credentials from the same address are never rate limited.
    r = _token_as(srv, addr, tenant.license_id, repo)
    assert r.status == 200 and r.json().get("token"), f"valid license from a limited address: {r.status}"
    r = _manifest_as(srv, addr, tenant.license_id, repo)
    assert r.status == 200, f"valid Basic pull from a limited address: {r.status} {r.body[:200]!r}"
    bearer = raw_request(srv, "GET", f"/v2/{repo}/manifests/{catalog.TAG}", source=addr,
                         headers={"Authorization": f"Bearer {_token_as(srv, addr, tenant.license_id, repo).json()['token']}",
                                  "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert bearer.status == 200, bearer.status

    # The limit is per address: another address is not affected.
    r = _token_as(srv, "127.0.0.22", _unknown_license(), repo)
    assert r.status == 401, f"another address was limited too: {r.status}"


def test_failed_logins_are_rate_limited_per_license(limited):
    srv, tenant = limited
    repo = tenant.repo(catalog.THREE_REPO)
    target = _unknown_license()
    for i in range(LIMIT):  # one failure from each of several addresses: the per-address limit never trips
        r = _token_as(srv, f"127.0.0.{31 + i}", target, repo)
        assert r.status == 401, f"failure {i + 1} of {LIMIT}: {r.status} {r.body[:200]!r}"
    _assert_429(_token_as(srv, "127.0.0.41", target, repo), f"the same license from a fresh address after {LIMIT} failures")
    _assert_429(_manifest_as(srv, "127.0.0.42", target, repo), "the same license as Basic on /v2/... from a fresh address")

    # Other credentials are unaffected: another unknown license is a plain 401, a valid one works.
    r = _token_as(srv, "127.0.0.43", _unknown_license(), repo)
    assert r.status == 401, f"an unrelated failed login was limited: {r.status}"
    r = _manifest_as(srv, "127.0.0.41", tenant.license_id, repo)
    assert r.status == 200, f"valid license refused: {r.status} {r.body[:200]!r}"


def test_default_login_failure_limit_is_10(hardened_factory, upstream):
    srv = hardened_factory()  # no --login-failure-limit
    tenant = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    addr = "127.0.0.61"
    for i in range(10):
        r = _token_as(srv, addr, _unknown_license(), repo)
        assert r.status == 401, f"failed login {i + 1} of 10: {r.status} {r.body[:200]!r}"
    _assert_429(_token_as(srv, addr, _unknown_license(), repo), "the 11th failed login within a minute")
    assert _manifest_as(srv, addr, tenant.license_id, repo).status == 200


def test_valid_credentials_are_never_rate_limited(limited):
    srv, tenant = limited
    repo = tenant.repo(catalog.THREE_REPO)
    addr = "127.0.0.51"
    s = requests.Session()
    for i in range(4 * LIMIT):
        r = _manifest_as(srv, addr, tenant.license_id, repo)
        assert r.status == 200, f"valid request {i + 1}: {r.status} {r.body[:200]!r}"
        t = _token_as(srv, addr, tenant.license_id, repo)
        assert t.status == 200, f"valid token request {i + 1}: {t.status}"
    s.close()
    r = get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG)
    assert r.status_code == 200
