"""Vendor registry (issue 3): vendors push to ``<app>/<repo>`` with an API token, customers pull.

Contract under test:
- ``portcullis token create --name N [--scope read|push] -o json`` -> {"id","name","scope","token"};
  ``token ls`` never shows the token; ``token rm ID`` revokes it. The admin token works too.
- Push: ``skopeo copy --dest-creds anything:<token> oci:DIR:TAG docker://HOST/<app>/<repo>:TAG``.
- Customers pull ``<app>/<repo>`` with their license, byte-identical; licenses and read tokens
  cannot push; other apps' customers cannot pull.
- Manifest PUT referencing a missing blob -> 400 MANIFEST_BLOB_UNKNOWN; DELETE of a manifest
  by digest -> 202 then 404 MANIFEST_UNKNOWN; tags/list works.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest
import requests

from portcullis_testkit.helm import create_token
from portcullis_testkit.images import MT_LAYER_GZIP, MT_OCI_MANIFEST, canonical_json, make_three_layer_image
from portcullis_testkit.oci import error_codes, get_manifest, layout_blobs, layout_index, skopeo, skopeo_copy
from portcullis_testkit.util import unique, wait_until

TAG = "1.0.0"


@pytest.fixture(scope="module")
def vendor_image(tmp_path_factory):
    """The generated 3-layer image, with a seed of its own (its blobs exist nowhere else)."""
    return make_three_layer_image(tmp_path_factory.mktemp("vendor-image"), tag=TAG, seed="vendor-registry")


# ------------------------------------------------------------------ helpers
def push_image(server, image, repo, creds, tag=TAG):
    """``skopeo copy oci:LAYOUT:TAG docker://HOST/<repo>:TAG`` with ``--dest-creds``."""
    return skopeo(
        "copy", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
        "--dest-creds", f"{creds[0]}:{creds[1]}",
        image.oci_ref(), f"docker://{server.host}/{repo}:{tag}",
    )


def push_ok(server, image, repo, creds, tag=TAG):
    cp = push_image(server, image, repo, creds, tag)
    assert cp.returncode == 0, f"vendor push to {repo}:{tag} failed:\n{cp.stderr}"


def manifest(server, creds, repo, ref, method="GET"):
    s = requests.Session()
    if creds is not None:
        s.auth = creds
    return get_manifest(s, server.url, repo, ref, method=method)


def tags_list(server, creds, repo):
    return requests.get(f"{server.url}/v2/{repo}/tags/list", auth=creds, timeout=30)


def assert_pulled_identical(image, out_dir):
    """The customer's OCI layout holds exactly the pushed manifest and blobs, byte for byte."""
    index = layout_index(out_dir)
    digests = [m["digest"] for m in index.get("manifests", [])]
    assert digests == [image.digest], f"pulled manifest {digests} != pushed {image.digest}"
    got = layout_blobs(out_dir)  # also verifies each file hashes to its name
    missing = set(image.all_blobs) - set(got)
    assert not missing, f"pulled layout lacks blobs {sorted(missing)}"
    for d in image.all_blobs:
        assert got[d].read_bytes() == image.read_blob(d), f"blob {d} differs"


@pytest.fixture
def vendor_app(portcullis):
    """A fresh app, a push token for it, and a licensed customer."""
    app = portcullis.create_app()["slug"]
    token = create_token(portcullis)
    cust = portcullis.create_customer(app)
    return app, token, cust


# ------------------------------------------------------------------- pushing
def test_vendor_push_then_customer_pull_is_byte_identical(portcullis, vendor_app, vendor_image, tmp_path):
    app, token, cust = vendor_app
    repo = f"{app}/{unique('api')}"
    vendor = ("anything", token["token"])
    push_ok(portcullis, vendor_image, repo, vendor)

    # The manifest comes back exactly as pushed, to the vendor and to a licensed customer.
    for creds in (vendor, ("someone", cust["licenseId"])):
        r = manifest(portcullis, creds, repo, TAG)
        assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
        assert r.headers.get("Docker-Content-Digest") == vendor_image.digest
        assert r.content == vendor_image.top_bytes()

    out = tmp_path / "pulled"
    cp = skopeo_copy(f"{portcullis.host}/{repo}:{TAG}", f"oci:{out}:{TAG}", ("e2e-client", cust["licenseId"]))
    assert cp.returncode == 0, f"customer pull failed:\n{cp.stderr}"
    assert_pulled_identical(vendor_image, out)

    # Every blob also by plain HTTP with the license.
    for d, blob in vendor_image.all_blobs.items():
        b = requests.get(f"{portcullis.url}/v2/{repo}/blobs/{d}", auth=("x", cust["licenseId"]), timeout=60)
        assert b.status_code == 200, f"blob {d}: {b.status_code}"
        assert hashlib.sha256(b.content).hexdigest() == blob.hex


def test_vendor_repositories_are_not_under_proxy(portcullis, vendor_app, vendor_image):
    app, token, cust = vendor_app
    repo = f"{app}/{unique('web')}"
    push_ok(portcullis, vendor_image, repo, ("anything", token["token"]))
    r = manifest(portcullis, ("x", cust["licenseId"]), f"proxy/{repo}", TAG)
    assert r.status_code in (403, 404), f"{r.status_code}: {r.text[:300]}"


def test_admin_token_can_push_like_a_vendor_token(portcullis, vendor_image, tmp_path):
    app = portcullis.create_app()["slug"]
    cust = portcullis.create_customer(app)
    repo = f"{app}/{unique('admin-pushed')}"
    push_ok(portcullis, vendor_image, repo, ("admin", portcullis.admin_token))
    cp = skopeo_copy(f"{portcullis.host}/{repo}:{TAG}", f"oci:{tmp_path / 'out'}:{TAG}", ("c", cust["licenseId"]))
    assert cp.returncode == 0, cp.stderr
    assert_pulled_identical(vendor_image, tmp_path / "out")


def test_tags_list_and_manifest_put_by_tag(portcullis, vendor_app, vendor_image):
    app, token, cust = vendor_app
    repo = f"{app}/{unique('tags')}"
    vendor = ("anything", token["token"])
    push_ok(portcullis, vendor_image, repo, vendor)

    # Tag the same manifest again with a plain manifest PUT (all blobs present -> 201).
    r = requests.put(
        f"{portcullis.url}/v2/{repo}/manifests/latest",
        data=vendor_image.top_bytes(),
        headers={"Content-Type": vendor_image.media_type},
        auth=vendor,
        timeout=30,
    )
    assert r.status_code == 201, f"{r.status_code}: {r.text[:300]}"
    assert r.headers.get("Docker-Content-Digest") == vendor_image.digest

    for creds in (vendor, ("x", cust["licenseId"])):
        t = tags_list(portcullis, creds, repo)
        assert t.status_code == 200, f"{t.status_code}: {t.text[:300]}"
        body = t.json()
        assert body.get("name") == repo, body
        assert sorted(body.get("tags") or []) == sorted([TAG, "latest"]), body


# -------------------------------------------------------------- refusals
def test_read_scoped_token_cannot_push_but_can_read(portcullis, vendor_app, vendor_image):
    app, push_token, _cust = vendor_app
    read_token = create_token(portcullis, scope="read")
    assert read_token.get("scope") == "read", read_token
    assert push_token.get("scope") == "push", f"default scope should be push: {push_token}"

    repo = f"{app}/{unique('ro')}"
    cp = push_image(portcullis, vendor_image, repo, ("anything", read_token["token"]))
    assert cp.returncode != 0, "a read-scoped token pushed an image"
    r = manifest(portcullis, ("anything", push_token["token"]), repo, TAG)
    assert r.status_code == 404, f"refused push left a manifest behind: {r.status_code} {r.text[:200]}"

    push_ok(portcullis, vendor_image, repo, ("anything", push_token["token"]))
    r = manifest(portcullis, ("anything", read_token["token"]), repo, TAG)
    assert r.status_code == 200, f"read token cannot read: {r.status_code} {r.text[:300]}"


def test_license_cannot_push(portcullis, vendor_app, vendor_image):
    app, token, cust = vendor_app
    repo = f"{app}/{unique('nopush')}"
    lic = ("anything", cust["licenseId"])
    cp = push_image(portcullis, vendor_image, repo, lic)
    assert cp.returncode != 0, "a customer license pushed an image"

    # Nor by raw manifest PUT on an existing repository.
    push_ok(portcullis, vendor_image, repo, ("anything", token["token"]))
    r = requests.put(
        f"{portcullis.url}/v2/{repo}/manifests/hijack",
        data=vendor_image.top_bytes(),
        headers={"Content-Type": vendor_image.media_type},
        auth=lic,
        timeout=30,
    )
    assert r.status_code in (401, 403), f"license manifest PUT: {r.status_code} {r.text[:300]}"
    assert manifest(portcullis, ("anything", token["token"]), repo, "hijack").status_code == 404


def test_customer_of_other_app_cannot_pull(portcullis, vendor_app, vendor_image):
    app, token, _cust = vendor_app
    repo = f"{app}/{unique('private')}"
    push_ok(portcullis, vendor_image, repo, ("anything", token["token"]))

    other_app = portcullis.create_app()["slug"]
    stranger = portcullis.create_customer(other_app)
    creds = ("anything", stranger["licenseId"])
    r = manifest(portcullis, creds, repo, TAG)
    assert r.status_code in (401, 403), f"{r.status_code}: {r.text[:300]}"
    assert set(error_codes(r)) & {"UNAUTHORIZED", "DENIED"}, r.text
    layer = vendor_image.layer_blobs()[0].digest
    b = requests.get(f"{portcullis.url}/v2/{repo}/blobs/{layer}", auth=creds, timeout=30)
    assert b.status_code in (401, 403), f"blob served to another app's customer: {b.status_code}"
    cp = skopeo("inspect", "--raw", "--tls-verify=false", "--retry-times", "0",
                "--creds", f"{creds[0]}:{creds[1]}", f"docker://{portcullis.host}/{repo}:{TAG}")
    assert cp.returncode != 0, "skopeo read another app's repository"


def test_anonymous_cannot_pull_or_push(portcullis, vendor_app, vendor_image):
    app, token, _cust = vendor_app
    repo = f"{app}/{unique('anon')}"
    push_ok(portcullis, vendor_image, repo, ("anything", token["token"]))
    r = manifest(portcullis, None, repo, TAG)
    assert r.status_code == 401 and "UNAUTHORIZED" in error_codes(r), f"{r.status_code}: {r.text[:300]}"
    r = requests.put(f"{portcullis.url}/v2/{repo}/manifests/anon", data=vendor_image.top_bytes(),
                     headers={"Content-Type": vendor_image.media_type}, timeout=30)
    assert r.status_code == 401, f"{r.status_code}: {r.text[:300]}"


def test_manifest_referencing_missing_blob_is_rejected(portcullis, vendor_app, vendor_image):
    app, token, _cust = vendor_app
    repo = f"{app}/{unique('broken')}"
    vendor = ("anything", token["token"])
    push_ok(portcullis, vendor_image, repo, vendor)  # the config blob exists; the layer below never did

    never_uploaded = "sha256:" + hashlib.sha256(os.urandom(64)).hexdigest()
    body = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": vendor_image.images[0].config.descriptor(),
        "layers": [{"mediaType": MT_LAYER_GZIP, "digest": never_uploaded, "size": 4321}],
    }
    r = requests.put(
        f"{portcullis.url}/v2/{repo}/manifests/broken",
        data=canonical_json(body),
        headers={"Content-Type": MT_OCI_MANIFEST},
        auth=vendor,
        timeout=30,
    )
    assert r.status_code == 400, f"{r.status_code}: {r.text[:300]}"
    assert "MANIFEST_BLOB_UNKNOWN" in error_codes(r), r.text
    assert manifest(portcullis, vendor, repo, "broken").status_code == 404
    t = tags_list(portcullis, vendor, repo)
    assert t.status_code == 200 and "broken" not in (t.json().get("tags") or []), t.text


# ------------------------------------------------------------------ delete
def test_delete_manifest_by_digest(portcullis, vendor_app, vendor_image):
    app, token, cust = vendor_app
    repo = f"{app}/{unique('del')}"
    vendor = ("anything", token["token"])
    push_ok(portcullis, vendor_image, repo, vendor)
    url = f"{portcullis.url}/v2/{repo}/manifests/{vendor_image.digest}"

    # Customers and read-only tokens may not delete.
    read_token = create_token(portcullis, scope="read")
    for creds in (("x", cust["licenseId"]), ("x", read_token["token"])):
        r = requests.delete(url, auth=creds, timeout=30)
        assert r.status_code in (401, 403), f"delete allowed: {r.status_code} {r.text[:200]}"
    assert manifest(portcullis, vendor, repo, vendor_image.digest).status_code == 200

    r = requests.delete(url, auth=vendor, timeout=30)
    assert r.status_code == 202, f"{r.status_code}: {r.text[:300]}"
    for creds in (vendor, ("x", cust["licenseId"])):
        g = manifest(portcullis, creds, repo, vendor_image.digest)
        assert g.status_code == 404, f"{g.status_code}: {g.text[:300]}"
        assert "MANIFEST_UNKNOWN" in error_codes(g), g.text
    g = manifest(portcullis, vendor, repo, TAG)
    assert g.status_code == 404, f"tag still resolves after its manifest was deleted: {g.status_code}"
    t = tags_list(portcullis, vendor, repo)
    assert t.status_code == 404 or TAG not in (t.json().get("tags") or []), t.text


def test_delete_tag_keeps_other_tags(portcullis, vendor_app, vendor_image):
    app, token, _cust = vendor_app
    repo = f"{app}/{unique('deltag')}"
    vendor = ("anything", token["token"])
    push_ok(portcullis, vendor_image, repo, vendor, tag=TAG)
    push_ok(portcullis, vendor_image, repo, vendor, tag="old")

    r = requests.delete(f"{portcullis.url}/v2/{repo}/manifests/old", auth=vendor, timeout=30)
    assert r.status_code == 202, f"{r.status_code}: {r.text[:300]}"
    assert manifest(portcullis, vendor, repo, "old").status_code == 404
    assert manifest(portcullis, vendor, repo, TAG).status_code == 200
    t = tags_list(portcullis, vendor, repo)
    assert t.status_code == 200 and (t.json().get("tags") or []) == [TAG], t.text


# ------------------------------------------------------------------ tokens
def test_token_ls_hides_secret_and_rm_revokes(portcullis, vendor_image):
    app = portcullis.create_app()["slug"]
    tok = create_token(portcullis)
    secret = tok["token"]

    table = portcullis.cli_ok("token", "ls")
    assert tok["name"] in table.out and tok["id"] in table.out, table.describe()
    listed = portcullis.cli_json("token", "ls")
    assert isinstance(listed, list), listed
    mine = [t for t in listed if t.get("id") == tok["id"]]
    assert len(mine) == 1 and mine[0].get("name") == tok["name"], listed
    for out in (table.out + table.err, json.dumps(listed)):
        assert secret not in out, "token ls shows the token"

    repo = f"{app}/{unique('revoked')}"
    push_ok(portcullis, vendor_image, repo, ("anything", secret))
    portcullis.cli_ok("token", "rm", tok["id"])
    assert tok["id"] not in json.dumps(portcullis.cli_json("token", "ls"))

    wait_until(
        lambda: requests.get(f"{portcullis.url}/v2/", auth=("anything", secret), timeout=10).status_code == 401,
        timeout=10,
        message="a removed token is still accepted at /v2/",
    )
    cp = push_image(portcullis, vendor_image, repo, ("anything", secret), tag="after-rm")
    assert cp.returncode != 0, "a removed token still pushes"
    r = manifest(portcullis, ("anything", secret), repo, TAG)
    assert r.status_code == 401, f"removed token still reads: {r.status_code}"
