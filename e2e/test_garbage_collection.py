"""``portcullis gc`` (issue 16): blobs of vendor repositories that no manifest references are
removed, on SQLite and PostgreSQL alike, safely against pushes running at the same time.

Contract under test:
- ``portcullis gc [--dry-run] [--grace 1h] -o json`` -> {"dryRun", "unreferenced": [{"repository",
  "digest"}], "deletedBlobs", "freedBytes", "keptInGrace"}.
- A dry run removes nothing; within the grace period an unreferenced blob survives (a push
  uploads blobs before the manifest naming them); referenced content always survives.
- After a collection, images still referenced pull byte-identical with skopeo; the removed
  blobs answer 404 BLOB_UNKNOWN.
- ``--charts-unused-for 30d`` (the default): a customer's delivered chart not pulled for that long
  is forgotten with its own blobs (``forgottenCharts``); the next Helm pull builds it again under
  the same digest.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading

import pytest
import requests

from portcullis_testkit.helm import CHART_NAME, Vendor, create_token, helm_client_factory, package_chart
from portcullis_testkit.images import make_three_layer_image
from portcullis_testkit.oci import error_codes, get_manifest, layout_blobs, skopeo, skopeo_copy
from portcullis_testkit.util import unique


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("gc-images")
    return (make_three_layer_image(root / "keep", tag="keep", seed=unique("gc-keep")),
            make_three_layer_image(root / "drop", tag="drop", seed=unique("gc-drop")))


def push(server, image, repo, token, tag):
    cp = skopeo("copy", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
                "--dest-creds", f"vendor:{token}", image.oci_ref(), f"docker://{server.host}/{repo}:{tag}")
    assert cp.returncode == 0, f"push {repo}:{tag} failed:\n{cp.stderr}"


def upload_blob(server, repo, token, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{server.url}/v2/{repo}/blobs/uploads/?digest={digest}", data=data, auth=("vendor", token),
                      headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 201, r.text
    return digest


def test_gc_removes_only_unreferenced_vendor_blobs(portcullis, two_images, tmp_path):
    keep, drop = two_images
    app = portcullis.create_app()["slug"]
    token = create_token(portcullis, scope="push")["token"]
    customer = portcullis.create_customer(app)
    repo = f"{app}/{unique('api')}"
    push(portcullis, keep, repo, token, "keep")
    push(portcullis, drop, repo, token, "drop")
    orphan = upload_blob(portcullis, repo, token, unique("pushed-but-never-named").encode())

    r = requests.delete(f"{portcullis.url}/v2/{repo}/manifests/{drop.digest}", auth=("vendor", token), timeout=30)
    assert r.status_code == 202, r.text
    dropped = set(drop.all_blobs) | {orphan}

    young = portcullis.cli_json("gc")
    assert young["unreferenced"] == [] and young["keptInGrace"] >= len(dropped), young

    dry = portcullis.cli_json("gc", "--dry-run", "--grace", "0s")
    assert dry["dryRun"] is True
    mine = {c["digest"] for c in dry["unreferenced"] if c["repository"] == repo}
    assert mine == dropped, f"expected exactly the deleted image's blobs and the orphan, got {mine ^ dropped}"
    assert dropped <= set(dry["deletedBlobs"])
    blob = requests.get(f"{portcullis.url}/v2/{repo}/blobs/{orphan}", auth=("vendor", token), timeout=30)
    assert blob.status_code == 200, "a dry run removes nothing"

    real = portcullis.cli_json("gc", "--grace", "0s")
    assert {c["digest"] for c in real["unreferenced"] if c["repository"] == repo} == dropped
    assert dropped <= set(real["deletedBlobs"]) and real["freedBytes"] >= sum(b.size for b in drop.all_blobs.values())
    for digest in dropped:
        gone = requests.get(f"{portcullis.url}/v2/{repo}/blobs/{digest}", auth=("vendor", token), timeout=30)
        assert gone.status_code == 404 and "BLOB_UNKNOWN" in error_codes(gone), (digest, gone.status_code)

    # What is still referenced pulls byte-identical, by a licensed customer.
    out = tmp_path / "pulled"
    cp = skopeo_copy(f"{portcullis.host}/{repo}:keep", f"oci:{out}:keep", ("c", customer["licenseId"]))
    assert cp.returncode == 0, cp.stderr
    got = layout_blobs(out)
    assert set(keep.all_blobs) <= set(got)

    again = portcullis.cli_json("gc", "--grace", "0s")
    assert not [c for c in again["unreferenced"] if c["repository"] == repo], "a second run finds nothing more"

    text = portcullis.cli_ok("gc", "--dry-run").out
    assert "dry run:" in text and "kept within the grace period" in text


def test_gc_running_during_pushes_never_breaks_an_image(portcullis, tmp_path):
    """Pushes and collections at once: every push succeeds and every pushed image pulls whole."""
    app = portcullis.create_app()["slug"]
    token = create_token(portcullis, scope="push")["token"]
    customer = portcullis.create_customer(app)
    repo = f"{app}/{unique('busy')}"
    images = [make_three_layer_image(tmp_path / f"i{i}", tag=f"t{i}", seed=unique(f"gc-busy-{i}")) for i in range(4)]
    stop, errors, runs = threading.Event(), [], []

    def collect():
        while not stop.is_set():
            res = portcullis.cli("gc", "--grace", "5s", "-o", "json")
            if res.code != 0:
                errors.append(res.describe())
                return
            runs.append(res.out)

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    try:
        for image in images:
            push(portcullis, image, repo, token, image.tag)
    finally:
        stop.set()
        collector.join(timeout=60)
    assert not errors, errors
    assert runs, "gc ran while the pushes did"
    for image in images:
        m = get_manifest(requests.Session(), portcullis.url, repo, image.tag, auth=("c", customer["licenseId"]))
        assert m.status_code == 200 and m.headers["Docker-Content-Digest"] == image.digest
        out = tmp_path / f"pulled-{image.tag}"
        cp = skopeo_copy(f"{portcullis.host}/{repo}:{image.tag}", f"oci:{out}:{image.tag}", ("c", customer["licenseId"]))
        assert cp.returncode == 0, cp.stderr


# ------------------------------------------------------------ delivered charts
@pytest.fixture
def helm_clients(tmp_path):
    yield from helm_client_factory(tmp_path)


def age_delivered_charts(server, days: int) -> None:
    """Moves every delivered chart's last pull `days` into the past, in the server's database."""
    sql = f"UPDATE delivered_charts SET used_at = used_at - {days * 86400 * 1000}"
    if server.store is None:
        db = sqlite3.connect(str(server.data_dir / "metadata.sqlite"), timeout=30)
        try:
            assert db.execute(sql).rowcount >= 1
            db.commit()
        finally:
            db.close()
    else:
        cp = server.store.postgres.psql(sql, database=server.store.database)
        assert cp.returncode == 0 and cp.stdout.strip() != "UPDATE 0", cp.stdout + cp.stderr


def test_gc_forgets_customer_charts_nobody_pulls_and_helm_gets_them_back(portcullis_factory, helm_clients, tmp_path):
    server = portcullis_factory()
    app = server.create_app()["slug"]
    Vendor(server, app).release(package_chart(tmp_path / "dist", "0.5.0"), "0.5.0")
    customer = server.create_customer(app, email="ops@example.com")
    creds = ("ops@example.com", customer["licenseId"])
    path = f"{app}/{CHART_NAME}"
    client = helm_clients(server.host)
    client.login(*creds)
    first = client.pull(path, "0.5.0").read_bytes()

    session = requests.Session()
    session.auth = creds
    manifest = get_manifest(session, server.url, path, "0.5.0")
    assert manifest.status_code == 200, manifest.text
    layer = manifest.json()["layers"][0]["digest"]
    own = {manifest.headers["Docker-Content-Digest"], layer}

    kept = server.cli_json("gc")
    assert kept["forgottenCharts"] == 0 and not own & set(kept["deletedBlobs"]), kept
    refused = server.cli("gc", "--charts-unused-for", "10m")
    assert refused.code != 0 and "at least 1h" in refused.err, refused.describe()
    r = requests.post(f"{server.url}/api/v1/gc", json={"dryRun": False, "chartsUnusedForSeconds": 600},
                      headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30)
    assert r.status_code == 400 and "at least 3600" in r.text, r.text
    for absurd in ({"graceSeconds": 9 * 10**18}, {"chartsUnusedForSeconds": 9 * 10**18}, {"graceSeconds": -1}):
        r = requests.post(f"{server.url}/api/v1/gc", json={"dryRun": True, **absurd},
                          headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30)
        assert r.status_code == 400, f"{absurd}: {r.status_code} {r.text}"
    assert server.alive()

    age_delivered_charts(server, 31)
    dry = server.cli_json("gc", "--dry-run")
    assert dry["dryRun"] and dry["forgottenCharts"] == 1 and own <= set(dry["deletedBlobs"]), dry
    assert session.get(f"{server.url}/v2/{path}/blobs/{layer}", timeout=30).status_code == 200, "a dry run deletes nothing"

    report = server.cli_json("gc")
    assert report["forgottenCharts"] == 1 and own <= set(report["deletedBlobs"]) and report["freedBytes"] > 0, report
    gone = session.get(f"{server.url}/v2/{path}/blobs/{layer}", timeout=30)
    assert gone.status_code == 404 and "BLOB_UNKNOWN" in error_codes(gone), gone.text

    # A fresh process (no memory of the recipe): Helm's next pull builds the same artifact.
    server.stop()
    server.start()
    again = helm_clients(server.host)
    again.login(*creds)
    assert again.pull(path, "0.5.0").read_bytes() == first
    rebuilt = get_manifest(session, server.url, path, "0.5.0")
    assert rebuilt.headers["Docker-Content-Digest"] == manifest.headers["Docker-Content-Digest"]
    assert session.get(f"{server.url}/v2/{path}/blobs/{layer}", timeout=30).status_code == 200
