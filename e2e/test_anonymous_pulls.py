"""Anonymous pulls of what the vendor made public, and of nothing else.

A registry added with ``--anonymous-pull`` and a vendor repository marked with ``repo public``
are pulled by skopeo with no credentials at all (the anonymous token flow); the same content
elsewhere, pushes, charts, and requests with wrong credentials keep being refused. Anonymous
requests are limited per source address.
"""
from __future__ import annotations

import secrets

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import error_codes, layout_blobs, skopeo
from portcullis_testkit.portcullis import PortcullisServer, random_license


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PortcullisServer(tmp_path_factory.mktemp("anonymous"), extra_args=["--anonymous-rate-limit", "1000"]).start()
    yield srv
    srv.stop()


def _anonymous_copy(server, repo, tag, dest):
    return skopeo("copy", "--src-tls-verify=false", "--retry-times", "0", "--src-no-creds",
                  f"docker://{server.host}/{repo}:{tag}", f"oci:{dest}:{tag}")


def _registry(server, upstream, app, *extra):
    name = "r" + secrets.token_hex(4)
    server.cli_ok("registry", "add", "other", "--endpoint", upstream.url, "--name", name, "--username", upstream.username,
                  "--password-stdin", "--app", app, *extra, input=upstream.password + "\n")
    return name


def test_a_public_registry_is_pulled_without_credentials_and_a_private_one_is_not(server, upstream, images, tmp_path):
    app = server.create_app()["slug"]
    public = _registry(server, upstream, app, "--anonymous-pull")
    private = _registry(server, upstream, app)
    listed = {r["name"]: r for r in server.cli_json("registry", "ls")}
    assert listed[public]["anonymousPull"] and not listed[private]["anonymousPull"]

    cp = _anonymous_copy(server, f"proxy/{app}/{public}/{catalog.THREE_REPO}", catalog.TAG, tmp_path / "public")
    assert cp.returncode == 0, cp.stderr
    assert set(layout_blobs(tmp_path / "public")) == set(images.three.all_blobs)

    refused = _anonymous_copy(server, f"proxy/{app}/{private}/{catalog.THREE_REPO}", catalog.TAG, tmp_path / "private")
    assert refused.returncode != 0 and ("unauthorized" in refused.stderr.lower() or "authentication" in refused.stderr.lower()), \
        refused.stderr
    assert not (tmp_path / "private" / "index.json").exists()


def test_wrong_credentials_on_public_content_are_refused_not_anonymous(server, upstream):
    app = server.create_app()["slug"]
    public = _registry(server, upstream, app, "--anonymous-pull")
    url = f"{server.url}/v2/proxy/{app}/{public}/{catalog.THREE_REPO}/manifests/{catalog.TAG}"
    assert requests.get(url, auth=("any", random_license()), timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 401
    token = requests.get(f"{server.url}/v2/token", auth=("any", random_license()),
                         params={"scope": f"repository:proxy/{app}/{public}/{catalog.THREE_REPO}:pull"}, timeout=30)
    assert token.status_code == 401


def test_a_public_vendor_repository_is_pulled_without_credentials_and_never_pushed(server, images, tmp_path):
    app = server.create_app()["slug"]
    admin = ("admin", server.admin_token)
    for repo in ("open", "closed"):
        pushed = skopeo("copy", "--dest-tls-verify=false", "--retry-times", "0", "--dest-creds", f"{admin[0]}:{admin[1]}",
                        images.three.oci_ref(), f"docker://{server.host}/{app}/{repo}:{catalog.TAG}")
        assert pushed.returncode == 0, pushed.stderr
    server.cli_ok("repo", "public", f"{app}/open")
    assert {r["name"] for r in server.cli_json("repo", "ls")} >= {f"{app}/open"}

    cp = _anonymous_copy(server, f"{app}/open", catalog.TAG, tmp_path / "open")
    assert cp.returncode == 0, cp.stderr
    assert set(layout_blobs(tmp_path / "open")) == set(images.three.all_blobs)
    assert _anonymous_copy(server, f"{app}/closed", catalog.TAG, tmp_path / "closed").returncode != 0

    # An anonymous token never covers a push, and a push without one is challenged.
    token = requests.get(f"{server.url}/v2/token", params={"scope": f"repository:{app}/open:pull,push"}, timeout=30).json()["token"]
    upload = requests.post(f"{server.url}/v2/{app}/open/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert upload.status_code == 401, upload.text
    # Private again: anonymous pulls stop.
    server.cli_ok("repo", "private", f"{app}/open")
    assert _anonymous_copy(server, f"{app}/open", catalog.TAG, tmp_path / "again").returncode != 0
    bad = server.cli("repo", "public", "proxy/x/y/z")
    assert bad.code != 0 and "--anonymous-pull" in bad.err, bad.describe()


def test_anonymous_requests_are_limited_per_address(tmp_path, upstream):
    srv = PortcullisServer(tmp_path / "limited", extra_args=["--anonymous-rate-limit", "5"]).start()
    try:
        app = srv.create_app()["slug"]
        public = _registry(srv, upstream, app, "--anonymous-pull")
        repo = f"proxy/{app}/{public}/{catalog.THREE_REPO}"
        token = requests.get(f"{srv.url}/v2/token", params={"scope": f"repository:{repo}:pull"}, timeout=30).json()["token"]
        statuses = [requests.get(f"{srv.url}/v2/{repo}/manifests/{catalog.TAG}", headers={"Authorization": f"Bearer {token}"},
                                 timeout=30) for _ in range(6)]
        assert [r.status_code for r in statuses[:4]] == [200] * 4, [r.text[:200] for r in statuses]
        limited = statuses[-1]
        assert limited.status_code == 429 and error_codes(limited) == ["TOOMANYREQUESTS"], limited.text
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # A licensed customer from the same address is not limited by it.
        customer = srv.create_customer(app)["licenseId"]
        assert requests.get(f"{srv.url}/v2/{repo}/manifests/{catalog.TAG}", auth=("any", customer), timeout=30).status_code == 200
    finally:
        srv.stop()
