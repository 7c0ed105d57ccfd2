"""A proxy cache that manages itself (issue 16): ``serve --cache-max-size`` evicts the least
recently pulled proxied content, never what a client is reading, and fetches evicted content
again on the next pull; ``portcullis gc`` removes vendor blobs no manifest references.

Contract under test:
- ``portcullis cache status -o json`` -> {"bytes", "limitBytes"}.
- With a limit smaller than the working set, concurrent pulls all get the right bytes while
  eviction runs, and once pulls stop the cache settles at or below the limit.
- An evicted layer is fetched from the upstream again (the upstream's log shows a second GET)
  and served byte-identical.
- A bad ``--cache-max-size`` stops ``serve`` with a message naming the option.
"""
from __future__ import annotations

import hashlib
import subprocess
import threading
import time
import uuid

import pytest
import requests

from portcullis_testkit.images import make_big_image
from portcullis_testkit.oci import get_manifest, stream_sha256
from portcullis_testkit.util import wait_until

MIB = 1 << 20
LAYER = 3 * MIB
LIMIT = 8 * MIB


@pytest.fixture(scope="module")
def small_images(tmp_path_factory):
    """Four single-layer images of 3 MiB, each with content of its own."""
    root = tmp_path_factory.mktemp("evict-images")
    return [make_big_image(root / f"i{i}", size=LAYER, seed=f"evict-{i}-{uuid.uuid4().hex[:6]}") for i in range(4)]


def cache_status(srv):
    return srv.cli_json("cache", "status")


def pull_image(srv, tenant, repo_up, image):
    """Manifest then every blob, checking each blob's digest; returns the statuses."""
    s = requests.Session()
    s.auth = tenant.creds
    repo = tenant.repo(repo_up)
    m = get_manifest(s, srv.url, repo, image.tag)
    assert m.status_code == 200, m.text
    for digest, blob in image.all_blobs.items():
        if digest == image.digest:
            continue
        r = s.get(f"{srv.url}/v2/{repo}/blobs/{digest}", stream=True, timeout=(10, 120))
        assert r.status_code == 200, f"{digest}: {r.status_code} {r.text[:200]}"
        assert stream_sha256(r) == (digest, blob.size)


def test_cache_stays_under_its_limit_serving_correct_bytes_and_refetching_what_it_evicted(
        portcullis_factory, upstream_factory, small_images):
    upstream = upstream_factory()
    repos = [f"e2e/evict-{i}" for i in range(len(small_images))]
    for image, repo in zip(small_images, repos):
        upstream.push(image, repo)
    srv = portcullis_factory("--cache-max-size", "8MiB", "--cache-check-interval", "200ms")
    tenant = srv.tenant(upstream)
    assert cache_status(srv) == {"bytes": 0, "limitBytes": LIMIT}

    # Two images fit.
    pull_image(srv, tenant, repos[0], small_images[0])
    time.sleep(0.5)  # recency is as fine as the check interval: the two pulls fall in different passes
    pull_image(srv, tenant, repos[1], small_images[1])
    size_two = cache_status(srv)["bytes"]
    assert 2 * LAYER < size_two < LIMIT, size_two

    # A third does not: the least recently pulled image (the first) goes.
    time.sleep(1)  # two passes, so the first image's recent pull no longer protects it
    pull_image(srv, tenant, repos[2], small_images[2])
    wait_until(lambda: cache_status(srv)["bytes"] <= LIMIT, timeout=20, message="the cache to settle under its limit")
    first_layer = small_images[0].largest_layer()
    blob_path = f"/v2/{repos[0]}/blobs/{first_layer.digest}"
    assert upstream.count_requests("GET", blob_path) == 1

    # Pulled again, the evicted layer comes from the upstream once more, byte-identical.
    pull_image(srv, tenant, repos[0], small_images[0])
    assert upstream.wait_count("GET", blob_path, at_least=2) == 2, "the evicted layer was fetched again"

    # Concurrent pulls of everything while the cache churns: every byte right.
    errors, done = [], threading.Event()

    def puller(order):
        while not done.is_set():
            for i in order:
                try:
                    pull_image(srv, tenant, repos[i], small_images[i])
                except Exception as exc:  # noqa: BLE001 - a broken transfer is a failure too
                    errors.append(f"image {i}: {exc!r}")
                    return

    threads = [threading.Thread(target=puller, args=(order,), daemon=True)
               for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2])]
    for t in threads:
        t.start()
    time.sleep(6)
    done.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    evictions = sum(upstream.count_requests("GET", f"/v2/{repo}/blobs/{image.largest_layer().digest}")
                    for repo, image in zip(repos, small_images))
    assert evictions > 4, "the working set is larger than the cache, so layers were evicted and fetched again"
    wait_until(lambda: cache_status(srv)["bytes"] <= LIMIT, timeout=20, message="the cache to settle under its limit after the load")
    assert "evicted cached content" in srv.log_text()


@pytest.mark.parametrize("value, problem", [("lots", "is not a size"), ("150%", "percentage")])
def test_a_bad_cache_size_stops_serve_with_the_reason(portcullis_binary, tmp_path, value, problem):
    cp = subprocess.run([str(portcullis_binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                         "--cache-max-size", value], capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0
    assert "--cache-max-size" in cp.stderr and problem in cp.stderr, cp.stderr
