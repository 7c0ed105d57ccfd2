"""Cache behaviour: single-flight fills, serving while upstream is down, failed fills."""
from __future__ import annotations

import threading
import uuid

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import (
    files_containing,
    files_with_prefix,
    get_manifest,
    layout_blobs,
    skopeo_copy,
    skopeo_inspect_raw,
    stream_sha256,
)
from portcullis_testkit.util import wait_until

CONCURRENCY = 8


def test_concurrent_cold_big_blob_is_fetched_upstream_once(portcullis_factory, upstream, images):
    srv = portcullis_factory()  # fresh data dir => guaranteed cold cache
    repo_up = f"e2e/big-concurrent-{uuid.uuid4().hex[:8]}"  # isolates the upstream log path
    upstream.push(images.big, repo_up)
    tenant = srv.tenant(upstream)
    big = images.big.largest_layer()
    assert big.size >= catalog.BIG_LAYER_SIZE
    repo = tenant.repo(repo_up)
    blob_path = f"/v2/{repo_up}/blobs/{big.digest}"
    assert upstream.count_requests("GET", blob_path) == 0

    m = get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG)
    assert m.status_code == 200, m.text

    barrier = threading.Barrier(CONCURRENCY)
    results = [None] * CONCURRENCY

    def fetch(i: int) -> None:
        s = requests.Session()
        s.auth = tenant.creds
        try:
            barrier.wait(timeout=30)
            r = s.get(f"{srv.url}/v2/{repo}/blobs/{big.digest}", stream=True, timeout=(10, 180))
            status = r.status_code
            digest, size = stream_sha256(r)
            results[i] = (status, digest, size)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = ("error", repr(exc), None)

    threads = [threading.Thread(target=fetch, args=(i,), daemon=True) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "blob downloads hung"
    assert results == [(200, big.digest, big.size)] * CONCURRENCY, results

    assert upstream.wait_count("GET", blob_path, at_least=1) == 1, (
        "expected exactly one upstream GET for the blob, log shows "
        f"{upstream.count_requests('GET', blob_path)}"
    )

    # A warm read afterwards is served from the cache.
    r = requests.get(f"{srv.url}/v2/{repo}/blobs/{big.digest}", auth=tenant.creds, stream=True, timeout=(10, 180))
    assert r.status_code == 200 and stream_sha256(r) == (big.digest, big.size)
    assert upstream.wait_count("GET", blob_path, at_least=1) == 1


def test_warm_pull_survives_upstream_outage(portcullis, upstream_factory, images, tmp_path):
    private = upstream_factory()
    private.push(images.three, catalog.THREE_REPO)
    private.push(images.multi, catalog.MULTI_REPO)
    tenant = portcullis.tenant(private)

    pulls = [(catalog.THREE_REPO, images.three), (catalog.MULTI_REPO, images.multi)]
    for repo, image in pulls:
        cp = skopeo_copy(tenant.ref(repo, catalog.TAG), f"oci:{tmp_path / ('warm-' + image.layout.name)}:{catalog.TAG}", tenant.creds)
        assert cp.returncode == 0, f"warm-up pull failed:\n{cp.stderr}"

    private.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{private.url}/v2/", timeout=5)

    for repo, image in pulls:
        out = tmp_path / ("offline-" + image.layout.name)
        cp = skopeo_copy(tenant.ref(repo, catalog.TAG), f"oci:{out}:{catalog.TAG}", tenant.creds)
        assert cp.returncode == 0, f"pull with upstream down failed:\n{cp.stderr}"
        assert set(layout_blobs(out)) == set(image.all_blobs)
        raw = skopeo_inspect_raw(tenant.ref(repo, catalog.TAG), tenant.creds)
        assert raw.returncode == 0, raw.stderr
        assert raw.stdout.encode() == image.top_bytes()


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_interrupted_fill_leaves_no_partial_blob(portcullis_factory, upstream, images, relay_factory, reset):
    srv = portcullis_factory()  # cold cache, own data dir to inspect
    relay = relay_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=relay.url)
    big = images.big.largest_layer()
    with open(images.big.blob_path(big.digest), "rb") as f:
        prefix = f.read(64 * 1024)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(catalog.BIG_REPO)
    url = f"{srv.url}/v2/{repo}/blobs/{big.digest}"

    m = get_manifest(s, srv.url, repo, catalog.TAG)
    assert m.status_code == 200, m.text

    relay.cut_after(1 << 20, reset=reset)
    outcome = None
    try:
        r = s.get(url, stream=True, timeout=(10, 60))
        status = r.status_code
        try:
            digest, size = stream_sha256(r)
            outcome = (status, digest, size)
        finally:
            r.close()
    except requests.RequestException as exc:
        outcome = ("error", repr(exc), None)
    assert relay.stats()["cuts"] >= 1, "the relay never cut the upstream transfer"
    assert outcome != (200, big.digest, big.size), "client got the complete blob despite the upstream cut"

    def leftovers():
        stored = srv.store.blob_keys(big.hex) if srv.store else []
        return files_containing(srv.data_dir, big.hex) + files_with_prefix(srv.data_dir, prefix) + stored

    wait_until(
        lambda: not leftovers(),
        timeout=10,
        message=lambda: f"partial blob data left in the data dir: {leftovers()}",
    )

    relay.passthrough()
    r = s.get(url, stream=True, timeout=(10, 120))
    assert r.status_code == 200, r.text[:300]
    assert stream_sha256(r) == (big.digest, big.size)
    # A second read is consistent (served from what the successful fill stored).
    r = s.get(url, stream=True, timeout=(10, 120))
    assert r.status_code == 200 and stream_sha256(r) == (big.digest, big.size)
