"""Self-checks of the test harness (no Portcullis needed).

If these fail, the environment (docker-registry, skopeo, ...) is broken and
the Portcullis results below are meaningless.
"""
from __future__ import annotations

import hashlib
import json

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.images import MT_OCI_INDEX, MT_OCI_MANIFEST, make_three_layer_image
from portcullis_testkit.oci import layout_blobs, skopeo_copy, skopeo_inspect_raw, stream_sha256


def test_images_are_deterministic(images, tmp_path):
    again = make_three_layer_image(tmp_path / "again", tag=catalog.TAG)
    assert again.digest == images.three.digest
    assert set(again.all_blobs) == set(images.three.all_blobs)


def test_generated_images_are_valid(images):
    m = json.loads(images.three.top_bytes())
    assert m["mediaType"] == MT_OCI_MANIFEST and len(m["layers"]) == 3
    cfg = json.loads(images.three.read_blob(m["config"]["digest"]))
    assert len(cfg["rootfs"]["diff_ids"]) == 3
    idx = json.loads(images.multi.top_bytes())
    assert idx["mediaType"] == MT_OCI_INDEX
    assert sorted(d["platform"]["architecture"] for d in idx["manifests"]) == ["amd64", "arm64"]
    assert images.big.largest_layer().size >= catalog.BIG_LAYER_SIZE
    layout_blobs(images.big.layout)  # every blob hashes to its name


def test_upstream_serves_pushed_content_byte_identical(upstream, images):
    for img, repo in ((images.three, catalog.THREE_REPO), (images.multi, catalog.MULTI_REPO)):
        body, ctype, digest = upstream.get_manifest(repo, catalog.TAG)
        assert body == img.top_bytes()
        assert ctype == img.media_type and digest == img.digest
    layer = images.three.layer_blobs()[0]
    assert upstream.get_blob(catalog.THREE_REPO, layer.digest) == images.three.read_blob(layer.digest)
    assert upstream.tags(catalog.TAGGED_REPO) == sorted(catalog.TAGGED_TAGS)


def test_upstream_requires_auth(upstream):
    assert requests.get(f"{upstream.url}/v2/", timeout=5).status_code == 401
    assert requests.get(f"{upstream.url}/v2/", auth=(upstream.username, "wrong"), timeout=5).status_code == 401


def test_upstream_log_counting(upstream, images):
    layer = images.three.layer_blobs()[1]
    path = f"/v2/{catalog.THREE_REPO}/blobs/{layer.digest}"
    before = upstream.count_requests("GET", path)
    upstream.get_blob(catalog.THREE_REPO, layer.digest)
    upstream.get_blob(catalog.THREE_REPO, layer.digest)
    assert upstream.wait_count("GET", path, at_least=before + 2) == before + 2


def test_skopeo_direct_from_upstream(upstream, images, tmp_path):
    cp = skopeo_inspect_raw(f"{upstream.host}/{catalog.MULTI_REPO}:{catalog.TAG}", (upstream.username, upstream.password))
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.encode() == images.multi.top_bytes()
    out = tmp_path / "out"
    cp = skopeo_copy(f"{upstream.host}/{catalog.MULTI_REPO}:{catalog.TAG}", f"oci:{out}:{catalog.TAG}",
                     (upstream.username, upstream.password))
    assert cp.returncode == 0, cp.stderr
    assert set(layout_blobs(out)) == set(images.multi.all_blobs)


def test_private_upstream_start_stop(upstream_factory):
    reg = upstream_factory()
    assert requests.get(f"{reg.url}/v2/", timeout=5).status_code == 401
    reg.stop()
    assert not reg.alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{reg.url}/v2/", timeout=5)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_fault_relay(upstream, images, relay_factory, reset):
    relay = relay_factory(upstream)
    big = images.big.largest_layer()
    s = requests.Session()
    s.auth = (upstream.username, upstream.password)
    url = f"{relay.url}/v2/{catalog.BIG_REPO}/blobs/{big.digest}"
    relay.cut_after(1 << 20, reset=reset)
    # Small responses pass untouched even in cut mode.
    assert s.get(f"{relay.url}/v2/", timeout=10).status_code == 200
    with pytest.raises(requests.RequestException):
        r = s.get(url, stream=True, timeout=30)
        stream_sha256(r)
    assert relay.stats()["cuts"] >= 1
    relay.passthrough()
    r = s.get(url, stream=True, timeout=60)
    assert r.status_code == 200
    assert stream_sha256(r) == (big.digest, big.size)


def test_counting_listener(counting_listener):
    assert counting_listener.count == 0
    with pytest.raises(requests.RequestException):
        requests.get(f"http://{counting_listener.host}/v2/", timeout=5)
    assert counting_listener.count == 1


def test_big_blob_digest_streaming(images):
    big = images.big.largest_layer()
    h = hashlib.sha256()
    with open(images.big.blob_path(big.digest), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert "sha256:" + h.hexdigest() == big.digest
