"""Pull-through proxy behaviour: skopeo pulls and raw OCI distribution API checks."""
from __future__ import annotations

import json
import re
import secrets

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.images import MT_OCI_INDEX, MT_OCI_MANIFEST
from portcullis_testkit.oci import (
    error_codes,
    get_manifest,
    layout_blobs,
    layout_index,
    skopeo_copy,
    skopeo_inspect_raw,
)
from portcullis_testkit.util import wait_until


def _assert_layout_matches_upstream(out, upstream, repo, image):
    """Every blob skopeo wrote is byte-identical to upstream; the set is complete."""
    got = layout_blobs(out)  # also verifies each file hashes to its name
    assert set(got) == set(image.all_blobs), (
        f"missing: {set(image.all_blobs) - set(got)}, unexpected: {set(got) - set(image.all_blobs)}"
    )
    for digest, path in got.items():
        blob = image.all_blobs[digest]
        if blob.media_type in (MT_OCI_MANIFEST, MT_OCI_INDEX):
            upstream_bytes = upstream.get_manifest(repo, digest)[0]
        else:
            upstream_bytes = upstream.get_blob(repo, digest)
        assert path.read_bytes() == upstream_bytes, f"{digest} differs from upstream"
    top = layout_index(out)["manifests"]
    assert [d["digest"] for d in top] == [image.digest]


# ------------------------------------------------------------------- skopeo pulls
def test_skopeo_pull_three_layer_image_byte_identical(tenant, upstream, images, tmp_path):
    out = tmp_path / "out"
    src = tenant.ref(catalog.THREE_REPO, catalog.TAG)
    cp = skopeo_copy(src, f"oci:{out}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, f"skopeo copy {src} failed:\n{cp.stderr}"
    _assert_layout_matches_upstream(out, upstream, catalog.THREE_REPO, images.three)
    assert len(images.three.layer_blobs()) == 3


def test_skopeo_pull_multiarch_index_all_platforms(tenant, upstream, images, tmp_path):
    out = tmp_path / "out"
    src = tenant.ref(catalog.MULTI_REPO, catalog.TAG)
    cp = skopeo_copy(src, f"oci:{out}:{catalog.TAG}", tenant.creds, all_images=True)
    assert cp.returncode == 0, f"skopeo copy --all {src} failed:\n{cp.stderr}"
    _assert_layout_matches_upstream(out, upstream, catalog.MULTI_REPO, images.multi)
    index = json.loads((out / "blobs" / "sha256" / images.multi.top.hex).read_bytes())
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]


def test_skopeo_pull_by_digest(tenant, upstream, images, tmp_path):
    out = tmp_path / "out"
    child = images.multi.images[1].manifest  # linux/arm64 manifest, pulled by digest
    cp = skopeo_copy(tenant.ref(catalog.MULTI_REPO, child.digest), f"oci:{out}", tenant.creds, all_images=False)
    assert cp.returncode == 0, cp.stderr
    got = layout_blobs(out)
    img = images.multi.images[1]
    assert set(got) == {child.digest, img.config.digest, *[l.digest for l in img.layers]}


@pytest.mark.parametrize("which", ["three", "multi"])
def test_skopeo_inspect_raw_equals_upstream(tenant, upstream, images, which):
    repo = catalog.THREE_REPO if which == "three" else catalog.MULTI_REPO
    image = getattr(images, which)
    cp = skopeo_inspect_raw(tenant.ref(repo, catalog.TAG), tenant.creds)
    assert cp.returncode == 0, cp.stderr
    upstream_bytes = upstream.get_manifest(repo, catalog.TAG)[0]
    assert cp.stdout.encode() == upstream_bytes == image.top_bytes()


# ------------------------------------------------------------- direct HTTP: auth
def _challenge_params(header: str):
    scheme, _, rest = header.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


def test_v2_root_without_credentials_is_401_with_bearer_challenge(portcullis):
    r = requests.get(f"{portcullis.url}/v2/", timeout=10)
    assert r.status_code == 401
    header = r.headers.get("WWW-Authenticate")
    assert header, "401 without WWW-Authenticate"
    scheme, params = _challenge_params(header)
    assert scheme == "Bearer"
    assert params.get("realm") == f"http://{portcullis.host}/v2/token"
    assert params.get("service") == portcullis.host
    assert "UNAUTHORIZED" in error_codes(r)


def test_manifest_without_credentials_challenges_with_scope(portcullis, tenant):
    repo = tenant.repo(catalog.THREE_REPO)
    r = get_manifest(requests.Session(), portcullis.url, repo, catalog.TAG)
    assert r.status_code == 401
    scheme, params = _challenge_params(r.headers.get("WWW-Authenticate", ""))
    assert scheme == "Bearer"
    assert params.get("realm") == f"http://{portcullis.host}/v2/token"
    if "scope" in params:
        assert params["scope"] == f"repository:{repo}:pull"
    assert error_codes(r) == ["UNAUTHORIZED"]


def test_v2_root_with_basic_license_is_200(portcullis, tenant):
    r = requests.get(f"{portcullis.url}/v2/", auth=tenant.creds, timeout=10)
    assert r.status_code == 200, r.text


def test_token_flow(portcullis, tenant, upstream, images):
    repo = tenant.repo(catalog.THREE_REPO)
    r = requests.get(f"{portcullis.url}/v2/", timeout=10)
    _, params = _challenge_params(r.headers["WWW-Authenticate"])
    tr = requests.get(
        params["realm"],
        params={"service": params["service"], "scope": f"repository:{repo}:pull"},
        auth=tenant.creds,
        timeout=10,
    )
    assert tr.status_code == 200, tr.text
    body = tr.json()
    for key in ("token", "access_token", "expires_in", "issued_at"):
        assert key in body, f"token response lacks {key}: {body}"
    assert isinstance(body["token"], str) and body["token"]
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", body["issued_at"]), body["issued_at"]

    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert requests.get(f"{portcullis.url}/v2/", headers=bearer, timeout=10).status_code == 200
    m = get_manifest(requests.Session(), portcullis.url, repo, catalog.TAG, headers=bearer)
    assert m.status_code == 200, m.text
    assert m.content == upstream.get_manifest(catalog.THREE_REPO, catalog.TAG)[0]

    # A forged token is refused.
    bad = {"Authorization": f"Bearer {body['token'][:-4]}AAAA"}
    m = get_manifest(requests.Session(), portcullis.url, repo, catalog.TAG, headers=bad)
    assert m.status_code == 401


def test_token_endpoint_rejects_unknown_license(portcullis, tenant):
    repo = tenant.repo(catalog.THREE_REPO)
    tr = requests.get(
        f"{portcullis.url}/v2/token",
        params={"service": portcullis.host, "scope": f"repository:{repo}:pull"},
        auth=("someone", "lic-" + secrets.token_hex(16)),
        timeout=10,
    )
    assert tr.status_code == 401


# ---------------------------------------------------------- direct HTTP: content
@pytest.mark.parametrize("which", ["three", "multi"])
def test_manifest_get_and_head_headers(portcullis, tenant, upstream, images, which):
    repo_up = catalog.THREE_REPO if which == "three" else catalog.MULTI_REPO
    image = getattr(images, which)
    up_bytes, up_type, up_digest = upstream.get_manifest(repo_up, catalog.TAG)
    s = portcullis.session(tenant.license_id)
    repo = tenant.repo(repo_up)

    for ref in (catalog.TAG, image.digest):
        g = get_manifest(s, portcullis.url, repo, ref)
        assert g.status_code == 200, g.text
        assert g.content == up_bytes
        assert g.headers.get("Docker-Content-Digest") == up_digest == image.digest
        assert g.headers.get("Content-Type") == up_type == image.media_type
        assert int(g.headers.get("Content-Length", -1)) == len(up_bytes)

        h = get_manifest(s, portcullis.url, repo, ref, method="HEAD")
        assert h.status_code == 200
        assert h.content == b""
        assert h.headers.get("Docker-Content-Digest") == up_digest
        assert h.headers.get("Content-Type") == up_type
        assert int(h.headers.get("Content-Length", -1)) == len(up_bytes)


def test_blob_get_head_and_range(portcullis, tenant, upstream, images):
    s = portcullis.session(tenant.license_id)
    repo = tenant.repo(catalog.THREE_REPO)
    # Manifest first, like a real client.
    assert get_manifest(s, portcullis.url, repo, catalog.TAG).status_code == 200
    layer = max(images.three.layer_blobs(), key=lambda b: b.size)
    data = upstream.get_blob(catalog.THREE_REPO, layer.digest)
    url = f"{portcullis.url}/v2/{repo}/blobs/{layer.digest}"

    # Range on the first (possibly cold) access, then again once warm.
    for attempt in ("first", "second"):
        r = s.get(url, headers={"Range": "bytes=100-1099"}, timeout=60)
        assert r.status_code == 206, f"{attempt}: {r.status_code} {r.text[:200]}"
        assert r.content == data[100:1100], attempt
        assert r.headers.get("Content-Range") == f"bytes 100-1099/{len(data)}"
        assert int(r.headers.get("Content-Length", -1)) == 1000

    r = s.get(url, headers={"Range": f"bytes={len(data) - 500}-"}, timeout=60)
    assert r.status_code == 206
    assert r.content == data[-500:]
    assert r.headers.get("Content-Range") == f"bytes {len(data) - 500}-{len(data) - 1}/{len(data)}"

    full = s.get(url, timeout=60)
    assert full.status_code == 200
    assert full.content == data
    assert int(full.headers.get("Content-Length", -1)) == len(data)

    h = s.head(url, timeout=60)
    assert h.status_code == 200
    assert int(h.headers.get("Content-Length", -1)) == len(data)

    cfg = images.three.images[0].config
    c = s.get(f"{portcullis.url}/v2/{repo}/blobs/{cfg.digest}", timeout=60)
    assert c.status_code == 200 and c.content == upstream.get_blob(catalog.THREE_REPO, cfg.digest)


def test_tags_list_matches_upstream(portcullis, tenant, upstream):
    s = portcullis.session(tenant.license_id)
    repo = tenant.repo(catalog.TAGGED_REPO)
    expected = upstream.tags(catalog.TAGGED_REPO)
    assert len(expected) == len(catalog.TAGGED_TAGS)

    r = s.get(f"{portcullis.url}/v2/{repo}/tags/list", timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body.get("name") == repo
    tags = body.get("tags") or []
    assert len(tags) == len(set(tags))
    assert sorted(tags) == expected


def test_tags_list_pagination(portcullis, tenant, upstream):
    """``n``/``last`` pagination; OCI requires lexical order (upstream distribution
    2.8 returns directory order and ignores ``n``, so Portcullis must sort/page)."""
    s = portcullis.session(tenant.license_id)
    repo = tenant.repo(catalog.TAGGED_REPO)
    expected = upstream.tags(catalog.TAGGED_REPO)  # lexically sorted

    first = s.get(f"{portcullis.url}/v2/{repo}/tags/list", params={"n": 3}, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["tags"] == expected[:3]

    collected, last = [], None
    for _ in range(len(expected) + 2):
        params = {"n": 3}
        if last is not None:
            params["last"] = last
        page = s.get(f"{portcullis.url}/v2/{repo}/tags/list", params=params, timeout=30)
        assert page.status_code == 200, page.text
        tags = page.json().get("tags") or []
        assert len(tags) <= 3
        collected += tags
        if len(tags) < 3:
            break
        last = tags[-1]
    assert collected == expected

    tail = s.get(f"{portcullis.url}/v2/{repo}/tags/list", params={"n": 2, "last": expected[-2]}, timeout=30)
    assert tail.status_code == 200
    assert (tail.json().get("tags") or []) == expected[-1:]


def test_missing_tag_is_manifest_unknown(portcullis, tenant):
    s = portcullis.session(tenant.license_id)
    r = get_manifest(s, portcullis.url, tenant.repo(catalog.THREE_REPO), "no-such-tag")
    assert r.status_code == 404
    assert "MANIFEST_UNKNOWN" in error_codes(r)


def test_missing_blob_is_blob_unknown(portcullis, tenant):
    s = portcullis.session(tenant.license_id)
    digest = "sha256:" + secrets.token_hex(32)
    r = s.get(f"{portcullis.url}/v2/{tenant.repo(catalog.THREE_REPO)}/blobs/{digest}", timeout=30)
    assert r.status_code == 404
    assert "BLOB_UNKNOWN" in error_codes(r)
    h = s.head(f"{portcullis.url}/v2/{tenant.repo(catalog.THREE_REPO)}/blobs/{digest}", timeout=30)
    assert h.status_code == 404


def test_pulls_are_recorded_per_customer(portcullis, tenant, tmp_path):
    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{tmp_path / 'out'}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, cp.stderr

    def recorded():
        pulls = portcullis.cli_json("customer", "pulls", tenant.customer_id)
        assert isinstance(pulls, list)
        return [p for p in pulls if catalog.THREE_REPO in str(p.get("repository", ""))] or None

    records = wait_until(recorded, timeout=10, message="pull was not recorded for the customer")
    for rec in records:
        for key in ("repository", "action", "status"):
            assert key in rec, rec
