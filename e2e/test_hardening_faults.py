"""Hardening (issue 5): a misbehaving upstream, seen through an HTTP-aware fault server.

Topology: client -> Portcullis -> FaultServer (portcullis_testkit/faults.py) -> docker-registry.

Contract under test:
- ``--upstream-timeout 2s``: a hanging upstream fails the request within about that time.
- ``--tag-ttl 0s`` re-checks tags every time; while the upstream answers 429/5xx or hangs, a
  cached tag is served for up to ``--stale-limit`` (digests always), uncached content fails
  fast: ``TOOMANYREQUESTS`` (429) for an upstream 429, ``UNAVAILABLE`` (5xx) otherwise.
- A cut, stalled or wrong (digest mismatch) transfer is never cached nor served as complete;
  the spool is left empty and the next pull gets the right bytes.
(test_cache_behaviour.py already covers a plain FIN/RST cut of the 64 MiB blob with one client.)
"""
from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.faults import ANY_REPO, MANIFESTS, blob_path
from portcullis_testkit.hardening import (  # noqa: F401 - fixtures
    blob_leftovers,
    blob_outcome,
    fault_factory,
    guard_args,
    hardened_factory,
    medium_image,
    MEDIUM_REPO,
    stored_blob,
    timed,
)
from portcullis_testkit.oci import error_codes, get_manifest, layout_blobs, skopeo_copy
from portcullis_testkit.util import wait_until

UPSTREAM_TIMEOUT = 2.0
SLACK = 3.0  # "within about the upstream timeout"
FAIL_FAST = UPSTREAM_TIMEOUT + SLACK

FAULTS = {
    "429": dict(action="status", code=429),
    "500": dict(action="status", code=500),
    "503": dict(action="status", code=503),
    "hang": dict(action="hang"),
}


def _assert_upstream_error(r: requests.Response, mode: str, what: str, elapsed: float) -> None:
    assert elapsed < FAIL_FAST, f"{what}: took {elapsed:.1f}s with upstream {mode} (limit {FAIL_FAST}s)"
    codes = error_codes(r)
    if mode == "429":
        assert r.status_code == 429, f"{what}: upstream 429 -> {r.status_code} {r.text[:300]}"
        assert "TOOMANYREQUESTS" in codes, f"{what}: {r.text[:300]}"
    else:
        assert r.status_code in (502, 503, 504), f"{what}: upstream {mode} -> {r.status_code} {r.text[:300]}"
        assert "UNAVAILABLE" in codes, f"{what}: {r.text[:300]}"


# ------------------------------------------------------------------ harness self-check
def test_fault_server_harness(fault_factory, upstream, images):
    """The fault server itself (no Portcullis): every action does what the tests rely on."""
    fault = fault_factory(upstream)
    layer = max(images.three.layer_blobs(), key=lambda b: b.size)
    data = images.three.read_blob(layer.digest)
    s = requests.Session()
    s.auth = (upstream.username, upstream.password)
    url = f"{fault.url}/v2/{catalog.THREE_REPO}/blobs/{layer.digest}"

    assert blob_outcome(s, url) == (200, layer.digest, layer.size)
    assert s.get(f"{fault.url}/v2/", timeout=10).status_code == 200
    for code in (429, 500, 503):
        fault.set(ANY_REPO, "status", code=code)
        r = s.get(url, timeout=10)
        assert r.status_code == code and (code != 429 or r.headers.get("Retry-After")), r.status_code
    fault.set(blob_path(layer.digest), "corrupt")
    r = s.get(url, timeout=10)
    assert r.status_code == 200 and len(r.content) == layer.size and r.content != data
    fault.set(blob_path(layer.digest), "append")
    r = s.get(url, timeout=10)
    assert r.content.startswith(data) and len(r.content) == layer.size + 4096
    for action in ("cut", "chunk-cut"):
        fault.set(blob_path(layer.digest), action, after=100_000)
        o = blob_outcome(s, url, timeout=(5, 10))
        assert o[0] == "error" or (o[2] or 0) < layer.size, (action, o)
    fault.set(blob_path(layer.digest), "hang")
    with pytest.raises(requests.Timeout):
        s.get(url, timeout=(5, 1))
    fault.set(blob_path(layer.digest), "stall", after=100_000)
    with pytest.raises(requests.RequestException):
        r = s.get(url, stream=True, timeout=(5, 1))
        r.content  # noqa: B018 - reads until the stall times out
    fault.set(blob_path(layer.digest), "throttle", rate=400_000)
    t0 = time.monotonic()
    assert blob_outcome(s, url) == (200, layer.digest, layer.size)
    assert time.monotonic() - t0 >= 0.7 * layer.size / 400_000, "throttle did not slow the transfer"
    fault.set(blob_path(layer.digest), "status", code=503, times=1)
    assert s.get(url, timeout=10).status_code == 503
    assert blob_outcome(s, url) == (200, layer.digest, layer.size), "times=1 applied twice"
    fault.clear()
    assert blob_outcome(s, url) == (200, layer.digest, layer.size)
    assert len(fault.seen(blob_path(layer.digest))) >= 10


# ------------------------------------------------------------------ 429 / 5xx / hang
@pytest.mark.parametrize("mode", list(FAULTS))
def test_misbehaving_upstream_cached_content_served_uncached_fails_fast(
    hardened_factory, fault_factory, upstream, images, tmp_path, mode
):
    srv = hardened_factory("--tag-ttl", "0s", "--upstream-timeout", "2s", "--stale-limit", "1h", *guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(catalog.THREE_REPO)

    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{tmp_path / 'warm'}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, f"warm-up pull failed:\n{cp.stderr}"

    fault.set(ANY_REPO, **FAULTS[mode])
    faulted_before = len(fault.seen(MANIFESTS, action=FAULTS[mode]["action"]))

    # Cached tag: served (stale) although the re-check (tag TTL 0s) fails.
    r, dt = timed(lambda: get_manifest(s, srv.url, repo, catalog.TAG, timeout=30))
    assert r.status_code == 200, f"cached tag with upstream {mode}: {r.status_code} {r.text[:300]}"
    assert r.content == images.three.top_bytes()
    assert r.headers.get("Docker-Content-Digest") == images.three.digest
    assert dt < FAIL_FAST, f"cached tag took {dt:.1f}s with upstream {mode}"
    assert len(fault.seen(MANIFESTS, action=FAULTS[mode]["action"])) > faulted_before, (
        "with --tag-ttl 0s the tag was not re-checked upstream (fault server saw no manifest request)"
    )

    # Cached digests: manifest and blobs.
    r = get_manifest(s, srv.url, repo, images.three.digest, timeout=30)
    assert r.status_code == 200 and r.content == images.three.top_bytes(), f"{r.status_code} {r.text[:200]}"
    layer = images.three.layer_blobs()[0]
    b = s.get(f"{srv.url}/v2/{repo}/blobs/{layer.digest}", timeout=30)
    assert b.status_code == 200 and b.content == images.three.read_blob(layer.digest), b.status_code

    # A whole client pull still works from the cache.
    out = tmp_path / "during-fault"
    t0 = time.monotonic()
    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{out}:{catalog.TAG}", tenant.creds, timeout=120)
    assert cp.returncode == 0, f"pull of cached image with upstream {mode} failed after {time.monotonic() - t0:.1f}s:\n{cp.stderr}"
    assert set(layout_blobs(out)) == set(images.three.all_blobs)

    # Uncached content fails fast with a clear OCI error.
    multi = tenant.repo(catalog.MULTI_REPO)
    uncached = {
        "uncached tag": lambda: get_manifest(s, srv.url, tenant.repo(catalog.TAGGED_REPO), "alpha", timeout=30),
        "uncached manifest digest": lambda: get_manifest(s, srv.url, multi, images.multi.digest, timeout=30),
        "uncached blob": lambda: s.get(f"{srv.url}/v2/{multi}/blobs/{images.multi.images[0].layers[0].digest}", timeout=30),
        "tags list": lambda: s.get(f"{srv.url}/v2/{multi}/tags/list", timeout=30),
    }
    for what, call in uncached.items():
        try:
            r, dt = timed(call)
        except requests.Timeout:
            pytest.fail(f"{what}: no answer within 30s with upstream {mode} (request hangs)")
        _assert_upstream_error(r, mode, what, dt)

    assert srv.alive() and requests.get(srv.url + "/healthz", timeout=5).status_code == 200

    # Recovery: the same uncached content works once the upstream behaves.
    fault.clear()
    r = get_manifest(s, srv.url, tenant.repo(catalog.TAGGED_REPO), "alpha", timeout=30)
    assert r.status_code == 200, f"after the upstream recovered: {r.status_code} {r.text[:300]}"
    b = s.get(f"{srv.url}/v2/{multi}/blobs/{images.multi.images[0].layers[0].digest}", timeout=30)
    assert b.status_code == 200 and b.content == images.multi.read_blob(images.multi.images[0].layers[0].digest)


def test_stale_limit_bounds_serving_a_cached_tag(hardened_factory, fault_factory, upstream, images):
    srv = hardened_factory("--tag-ttl", "0s", "--upstream-timeout", "2s", "--stale-limit", "1s", *guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(catalog.THREE_REPO)
    for ref in (catalog.TAG, images.three.digest):
        r = get_manifest(s, srv.url, repo, ref)
        assert r.status_code == 200, r.text[:300]

    fault.set(ANY_REPO, action="status", code=503)

    def refused():
        r = get_manifest(s, srv.url, repo, catalog.TAG, timeout=30)
        return [r] if r.status_code != 200 else None  # (a 5xx Response is falsy)

    [r] = wait_until(refused, timeout=15, interval=0.25,
                     message="a cached tag was served for more than --stale-limit 1s past its TTL")
    assert r.status_code in (502, 503, 504) and "UNAVAILABLE" in error_codes(r), f"{r.status_code} {r.text[:300]}"
    # Digests are immutable: still served.
    r = get_manifest(s, srv.url, repo, images.three.digest, timeout=30)
    assert r.status_code == 200 and r.content == images.three.top_bytes(), f"{r.status_code} {r.text[:200]}"


# ------------------------------------------------------------------ cut / stalled fills
@pytest.mark.parametrize("variant", ["chunked-cut", "shared-fill-cut", "stall"])
def test_broken_fill_leaves_nothing_and_next_pull_is_correct(
    hardened_factory, fault_factory, upstream, images, tmp_path_factory, variant
):
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    srv = hardened_factory("--upstream-timeout", "2s", *guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(MEDIUM_REPO)
    url = f"{srv.url}/v2/{repo}/blobs/{blob.digest}"
    assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200

    one_mib = 1 << 20
    if variant == "chunked-cut":
        fault.set(blob_path(blob.digest), "chunk-cut", after=one_mib, methods=["GET"])
        outcomes = [blob_outcome(s, url, timeout=(10, 30))]
    elif variant == "stall":
        fault.set(blob_path(blob.digest), "stall", after=one_mib, methods=["GET"])
        t0 = time.monotonic()
        outcomes = [blob_outcome(s, url, timeout=(10, 20))]
        elapsed = time.monotonic() - t0
        assert elapsed < UPSTREAM_TIMEOUT + 8, (
            f"a stalled upstream transfer kept the client waiting {elapsed:.1f}s (--upstream-timeout 2s)"
        )
    else:
        # Three clients share one fill that is cut after 2 MiB (paced so all three attach).
        fault.set(blob_path(blob.digest), "cut", after=2 * one_mib, pace=one_mib, methods=["GET"])
        outcomes = [None] * 3

        def fetch(i):
            sess = requests.Session()
            sess.auth = tenant.creds
            outcomes[i] = blob_outcome(sess, url, timeout=(10, 30))

        threads = [threading.Thread(target=fetch, args=(i,), daemon=True) for i in range(3)]
        threads[0].start()
        wait_until(lambda: fault.seen(blob_path(blob.digest)), timeout=10, message="the fill never reached the upstream")
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a client hung on a cut fill"

    assert fault.seen(blob_path(blob.digest)), "the fault never applied"
    for o in outcomes:
        assert o != (200, blob.digest, blob.size), f"{variant}: a client got the complete blob despite the fault"
        assert o[0] == "error" or o[0] >= 500 or (o[2] is not None and o[2] < blob.size), (
            f"{variant}: a client got a complete-looking body: {o}"
        )

    wait_until(lambda: not blob_leftovers(srv, blob.hex), timeout=10,
               message=lambda: f"partial blob left in the data dir / spool: {blob_leftovers(srv, blob.hex)}")
    assert not stored_blob(srv, blob.hex), "a blob file was stored for an incomplete transfer"

    fault.clear()
    assert blob_outcome(s, url) == (200, blob.digest, blob.size)
    assert blob_outcome(s, url) == (200, blob.digest, blob.size)
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200


# ------------------------------------------------------------------ wrong bytes
_MISMATCH_WORDS = re.compile(r"mismatch|match|expected|!=|differ|verif|invalid|corrupt", re.I)


@pytest.mark.parametrize("variant", ["corrupt", "append"])
def test_blob_with_wrong_bytes_is_rejected_and_not_cached(hardened_factory, fault_factory, upstream, images, variant):
    layer = max(images.three.layer_blobs(), key=lambda b: b.size)
    srv = hardened_factory(*guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(catalog.THREE_REPO)
    url = f"{srv.url}/v2/{repo}/blobs/{layer.digest}"
    assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200

    fault.set(blob_path(layer.digest), variant, methods=["GET"])
    for attempt in ("first", "second"):
        o = blob_outcome(s, url, timeout=(10, 30))
        assert o != (200, layer.digest, layer.size)
        assert o[0] == "error" or o[0] >= 400 or (o[2] is not None and o[2] < layer.size), (
            f"{attempt} request: wrong upstream bytes were delivered as a complete blob: {o}"
        )
        if o[0] != "error" and o[0] >= 400:
            assert o[0] != 500 and o[0] >= 500, f"{attempt}: upstream mismatch answered {o[0]}"
        wait_until(lambda: not blob_leftovers(srv, layer.hex), timeout=10,
                   message=lambda: f"mismatched blob left behind: {blob_leftovers(srv, layer.hex)}")
        assert not stored_blob(srv, layer.hex), "a blob whose bytes did not match its digest was stored"
    assert len(fault.seen(blob_path(layer.digest), action=variant)) >= 1

    def logged():
        return [ln for ln in srv.log_text().splitlines() if layer.hex in ln and _MISMATCH_WORDS.search(ln)]

    wait_until(logged, timeout=5, message=lambda: "the server log does not mention the digest mismatch for "
               f"{layer.digest}:\n{srv.proc.log_tail(30)}")

    fault.clear()
    assert blob_outcome(s, url) == (200, layer.digest, layer.size)
    # Published right after the client's last byte (an fsync and rename, or an upload).
    wait_until(lambda: stored_blob(srv, layer.hex), timeout=30, message="the verified blob was not cached")
