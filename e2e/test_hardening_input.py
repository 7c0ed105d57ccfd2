"""Hardening (issue 5): hostile names and oversized input.

- ``..``, ``%2e%2e``, ``%2f``, upper case and over-long (>255) repository names are
  400 ``NAME_INVALID`` on registry endpoints (404 for paths that are no registry endpoint),
  nothing outside the data dir is touched and no upstream is contacted.
- Manifest PUT > 4 MiB -> 413; request headers > 64 KiB -> 431 or 400 (or the connection is
  closed); admin API JSON > 1 MiB -> 413. Never a 500, never read whole before refusing;
  the server stays healthy.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.hardening import (  # noqa: F401 - fixtures
    basic,
    chunked,
    filler_blocks,
    guard_args,
    hardened_factory,
    raw_request,
    request_head,
    send_until_response,
    wait_ready,
)
from portcullis_testkit.helm import create_token
from portcullis_testkit.images import MT_OCI_MANIFEST

MIB = 1 << 20


def _snapshot(root: Path, skip: set) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p in skip:
                continue
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture
def hostile_setup(hardened_factory, counting_listener):
    srv = hardened_factory(*guard_args())
    app = srv.create_app()["slug"]
    # The only upstream this app may use is the counting listener: any outbound request counts.
    reg = srv.add_registry(f"http://127.0.0.1:{counting_listener.port}", "someone", f"pw-{uuid.uuid4().hex}", apps=[app], verify=False)  # a listener, not a registry: only requests with hostile names are counted
    cust = srv.create_customer(app)
    token = create_token(srv)["token"]
    sibling = srv.workdir / "sibling"
    sibling.mkdir()
    (sibling / "sentinel.txt").write_text("do not touch\n")
    return srv, app, reg, cust, token


def test_hostile_names_are_refused_and_touch_nothing(hostile_setup, counting_listener):
    srv, app, reg, cust, token = hostile_setup
    lic = {"Authorization": basic("x", cust["licenseId"])}
    vendor = {"Authorization": basic("vendor", token)}
    admin = {"Authorization": f"Bearer {srv.admin_token}"}
    marker = f"pwned-{uuid.uuid4().hex[:8]}"
    up = "../" * 12
    long_name = "/".join(["a" * 60] * 5)  # 304 characters, every component valid
    digest = "sha256:" + "0" * 64
    proxy = f"proxy/{app}/{reg}"

    name_invalid = [
        # (method, headers, raw path, body)
        ("GET", lic, f"/v2/{proxy}/{up}sibling/{marker}/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/../../../../sibling/{marker}/blobs/{digest}", None),
        ("GET", lic, f"/v2/{proxy}/%2e%2e/%2e%2e/%2e%2e/sibling/{marker}/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/%2E%2E%2F%2E%2E%2Fsibling/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/x%2f..%2f..%2f..%2fsibling%2f{marker}/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/x%2F{marker}/tags/list", None),
        ("GET", lic, f"/v2/{proxy}/..%5c..%5csibling/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/E2E/Three-Layer/manifests/{catalog.TAG}", None),
        ("GET", lic, f"/v2/PROXY/{app}/{reg}/e2e/x/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/{long_name}/manifests/latest", None),
        ("GET", lic, f"/v2/{proxy}/{long_name}/blobs/{digest}", None),
        ("GET", lic, f"/v2/{proxy}/{long_name}/tags/list", None),
        ("GET", lic, f"/v2/{proxy}/x%00y/manifests/latest", None),
        ("GET", vendor, f"/v2/{app}/{up}sibling/{marker}/manifests/latest", None),
        ("POST", vendor, f"/v2/{app}/../../sibling/{marker}/blobs/uploads/", b""),
        ("POST", vendor, f"/v2/{app}/%2e%2e%2f%2e%2e%2fsibling%2f{marker}/blobs/uploads/", b""),
        ("POST", vendor, f"/v2/{app}/{marker.upper()}/blobs/uploads/", b""),
        ("POST", vendor, f"/v2/{app}/{long_name}/blobs/uploads/", b""),
        ("POST", vendor, f"/v2/{app}/..%2f{marker}/blobs/uploads/?digest={digest}", b""),
        ("PUT", vendor, f"/v2/{app}/..%2f..%2f{marker}/manifests/v1", b"{}"),
        ("PUT", vendor, f"/v2/{app}/../../{marker}/manifests/v1", b"{}"),
        ("PUT", vendor, f"/v2/{app}/Upper/manifests/v1", b"{}"),
        ("DELETE", vendor, f"/v2/{app}/%2e%2e/manifests/{digest}", None),
    ]
    bad_reference = [  # hostile tag/digest/session parts: some 400, never served
        ("GET", lic, f"/v2/{proxy}/x/manifests/..%2f..%2f{marker}", None),
        ("GET", lic, f"/v2/{proxy}/x/manifests/..", None),
        ("GET", lic, f"/v2/{proxy}/x/blobs/sha256:..%2f..%2f{marker}", None),
        ("GET", lic, f"/v2/{proxy}/x/blobs/sha256:../../{marker}", None),
        ("PATCH", vendor, f"/v2/{app}/x/blobs/uploads/..%2f..%2f{marker}", b"data"),
        ("PUT", vendor, f"/v2/{app}/x/blobs/uploads/../../../{marker}?digest={digest}", b""),
    ]
    not_registry = [
        ("GET", lic, "/../../../../etc/passwd", None),
        ("GET", lic, "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", None),
        ("GET", lic, "/v2/../../../../etc/passwd", None),
        ("GET", admin, "/api/v1/customers/..%2f..%2f..%2fetc%2fpasswd", None),
        ("GET", admin, f"/api/v1/customers/{cust['id']}/..%2f..%2f..%2fetc%2fpasswd", None),
        ("DELETE", admin, f"/api/v1/registries/..%2f..%2f{marker}", None),
        ("GET", admin, "/api/v1/apps/..%2f..%2fetc/releases", None),
    ]

    skip = {srv.data_dir, srv.log_path}
    before = _snapshot(srv.workdir, skip)
    problems = []

    def run(cases, check):
        for method, headers, path, body in cases:
            try:
                r = raw_request(srv, method, path, headers=headers, body=body, timeout=15)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{method} {path}: no response ({exc!r})")
                continue
            if b"root:x:0:0" in r.body:
                problems.append(f"{method} {path}: served /etc/passwd!")
            msg = check(r)
            if msg:
                problems.append(f"{method} {path}: {msg} -> {r.status} {r.body[:200]!r}")

    run(name_invalid, lambda r: None if r.status == 400 and "NAME_INVALID" in r.codes() else "expected 400 NAME_INVALID")
    run(bad_reference, lambda r: None if r.status in (400, 404) else "expected 400/404")
    run(not_registry, lambda r: None if r.status in (400, 404) else "expected 404 (or 400)")
    assert not problems, "hostile names not refused as specified:\n" + "\n".join(problems)

    assert counting_listener.count == 0, "a hostile name caused an outbound connection"
    assert _snapshot(srv.workdir, skip) == before, "files outside the data dir changed"
    for k in range(0, 14):
        base = srv.data_dir.joinpath(*([".."] * k)).resolve()
        assert not (base / marker).exists() and not (base / "sibling" / marker).exists(), f"{base / marker} created"
    assert (srv.workdir / "sibling" / "sentinel.txt").read_text() == "do not touch\n"
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
    wait_ready(srv, timeout=5)


# ------------------------------------------------------------------ oversized input
def _manifest_put_head(srv, repo, token, extra):
    headers = {"Authorization": basic("vendor", token), "Content-Type": MT_OCI_MANIFEST}
    headers.update(extra)
    return request_head("PUT", f"/v2/{repo}/manifests/big", srv.host, headers)


def test_oversized_input_is_refused_early_and_server_stays_healthy(hardened_factory):
    srv = hardened_factory(*guard_args())
    app = srv.create_app()["slug"]
    token = create_token(srv)["token"]
    repo = f"{app}/oversized"
    problems = []

    # Manifest PUT > 4 MiB, with a Content-Length ...
    size = 4 * MIB + 1
    o = send_until_response(srv.host, _manifest_put_head(srv, repo, token, {"Content-Length": str(size)}),
                            filler_blocks(size))
    if o.status != 413:
        problems.append(f"manifest PUT of {size} bytes (Content-Length): {o.status} {o.error} {o.body[:200]!r}")
    # ... and chunked (no length announced): refused long before 256 MiB were read.
    o = send_until_response(srv.host, _manifest_put_head(srv, repo, token, {"Transfer-Encoding": "chunked"}),
                            chunked(filler_blocks(256 * MIB)))
    if o.status != 413:
        problems.append(f"chunked 256 MiB manifest PUT: {o.status} {o.error} {o.body[:200]!r}")
    elif o.sent > 32 * MIB:
        problems.append(f"chunked manifest PUT: 413 only after {o.sent} bytes (body read whole?)")

    # Admin API JSON > 1 MiB.
    admin = {"Authorization": f"Bearer {srv.admin_token}", "Content-Type": "application/json"}
    big_slug = f"big-{uuid.uuid4().hex[:8]}"
    doc = json.dumps({"slug": big_slug, "name": "n" * (2 * MIB)}).encode()
    o = send_until_response(srv.host, request_head("POST", "/api/v1/apps", srv.host, {**admin, "Content-Length": str(len(doc))}),
                            [doc[i:i + 65536] for i in range(0, len(doc), 65536)])
    if o.status != 413:
        problems.append(f"admin POST /apps with {len(doc)} bytes: {o.status} {o.error} {o.body[:200]!r}")
    prefix = json.dumps({"slug": big_slug + "c", "name": ""}).encode()[:-2]
    o = send_until_response(srv.host, request_head("POST", "/api/v1/apps", srv.host, {**admin, "Transfer-Encoding": "chunked"}),
                            chunked([prefix, *filler_blocks(128 * MIB, byte=b"n")]))
    if o.status != 413:
        problems.append(f"chunked 128 MiB admin POST: {o.status} {o.error} {o.body[:200]!r}")
    elif o.sent > 16 * MIB:
        problems.append(f"chunked admin POST: 413 only after {o.sent} bytes (body read whole?)")
    o = send_until_response(srv.host, request_head("POST", "/api/v1/customers", srv.host,
                                                   {**admin, "Content-Length": str(2 * MIB)}),
                            filler_blocks(2 * MIB, byte=b" "))
    if o.status != 413:
        problems.append(f"admin POST /customers with 2 MiB of whitespace: {o.status} {o.error} {o.body[:200]!r}")

    # Request headers > 64 KiB: 431 or 400, or the connection is closed; never served, never 500.
    header_cases = {
        "one 80 KiB header": {"X-Big": "a" * (80 * 1024)},
        "200 headers of 1 KiB": {f"X-H{i}": "b" * 1024 for i in range(200)},
        "1 MiB header": {"X-Huge": "c" * MIB},
        "80 KiB Authorization": {"Authorization": "Bearer " + "d" * (80 * 1024)},
    }
    for what, headers in header_cases.items():
        o = send_until_response(srv.host, request_head("GET", "/v2/", srv.host, headers), [])
        if o.status is not None and o.status not in (400, 431):
            problems.append(f"{what}: {o.status} {o.body[:200]!r}")

    assert not problems, "oversized input not refused as specified:\n" + "\n".join(problems)

    # Nothing was created, the server is healthy and still serves normal requests.
    assert srv.alive(), f"server died:\n{srv.proc.log_tail()}"
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
    wait_ready(srv, timeout=5)
    apps = requests.get(f"{srv.url}/api/v1/apps", headers=admin, timeout=10).json()
    assert not [a for a in apps if a.get("slug", "").startswith(big_slug)], "an oversized request created an app"
    assert requests.get(f"{srv.url}/v2/{repo}/manifests/big", auth=("v", token), timeout=10).status_code == 404
    assert srv.create_app()["slug"]
    r = requests.get(f"{srv.url}/v2/", auth=("vendor", token), timeout=10)
    assert r.status_code == 200, r.status_code
