"""Replicas streaming each other's fills (issue 28): a replica whose client asks for a blob another
replica is still fetching streams that fill (spooled, verified, never published by it) instead
of waiting for the object store; one upstream GET between them. The peer route admits only
replicas of the deployment.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time

import requests

from portcullis_testkit import catalog
from portcullis_testkit.faults import blob_path
from portcullis_testkit.hardening import (
    MEDIUM_REPO,
    blob_outcome,
    fault_factory,  # noqa: F401 - fixture
    medium_image,
    scrape,
    spool_bytes,
)
from portcullis_testkit.oci import get_manifest
from portcullis_testkit.replicas import follow
from portcullis_testkit.util import wait_until

MIB = 1 << 20


def test_a_replica_streams_the_fill_another_replica_is_still_fetching(replicas, upstream, fault_factory, tmp_path_factory):
    """The lease holder's fill is streamed to the second replica's client as it arrives: its first
    bytes come long before the holder's fill completes, and the upstream is asked once."""
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    fault = fault_factory(upstream)
    tenant = replicas[0].tenant(upstream, endpoint=fault.url)
    repo = tenant.repo(MEDIUM_REPO)
    filler, follower = replicas[0], replicas[1]
    for srv in (filler, follower):
        assert get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG).status_code == 200
    # About six seconds for the whole 6 MiB layer.
    fault.set(blob_path(blob.digest), "throttle", rate=MIB, methods=["GET"])

    first, second = {}, {}
    first_thread = follow(filler.session(tenant.license_id), f"{filler.url}/v2/{repo}/blobs/{blob.digest}", threading.Event(), first)
    wait_until(lambda: spool_bytes(filler) >= MIB, timeout=20, message="the first replica's fill never reached 1 MiB")
    asked = time.monotonic()
    got_bytes = threading.Event()
    second_thread = follow(follower.session(tenant.license_id), f"{follower.url}/v2/{repo}/blobs/{blob.digest}", got_bytes, second)
    assert got_bytes.wait(timeout=30)
    filling_then = spool_bytes(filler)
    assert "first_byte_at" in second, f"the second replica's client got no bytes: {second}"
    assert not replicas.store.blob_keys(blob.hex), "the blob was already published: nothing was streamed"
    assert filling_then < blob.size, f"the first replica's fill had finished ({filling_then} of {blob.size} bytes)"

    first_thread.join(timeout=60)
    second_thread.join(timeout=60)
    assert first.get("outcome") == (200, blob.digest, blob.size), first
    assert second.get("outcome") == (200, blob.digest, blob.size), second
    # Its first byte came while the holder was still fetching; a wait for the bucket would end after.
    assert second["first_byte_at"] < first["ended_at"] - 1.0, (second, first)
    assert second["first_byte_at"] - asked < 3.0, f"first byte {second['first_byte_at'] - asked:.2f} s after asking"
    gets = [s for s in fault.seen(blob_path(blob.digest)) if s.method == "GET"]
    assert len(gets) == 1, f"expected one upstream GET across the replicas, saw {len(gets)}"
    assert scrape(follower).value("portcullis_peer_fills_total") == 1
    assert scrape(filler).value("portcullis_peer_fills_total") == 0
    keys = wait_until(lambda: replicas.store.blob_keys(blob.hex), timeout=30, message="the blob never reached the bucket")
    assert len(keys) == 1 and replicas.store.moto.sha256(keys[0]) == blob.hex
    # Later pulls on the follower read the published blob.
    assert blob_outcome(follower.session(tenant.license_id), f"{follower.url}/v2/{repo}/blobs/{blob.digest}") == \
        (200, blob.digest, blob.size)
    assert len([s for s in fault.seen(blob_path(blob.digest)) if s.method == "GET"]) == 1


def test_a_ranged_get_on_the_streaming_replica_gets_its_range(replicas, upstream, fault_factory, tmp_path_factory):
    """A client resuming a layer (a `Range` request, as containerd sends after a cut) on the
    replica that streams another's fill gets exactly the bytes it asked for, as they arrive."""
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    content = medium.read_blob(blob.digest)
    fault = fault_factory(upstream)
    tenant = replicas[0].tenant(upstream, endpoint=fault.url)
    repo = tenant.repo(MEDIUM_REPO)
    filler, follower = replicas[0], replicas[1]
    assert get_manifest(filler.session(tenant.license_id), filler.url, repo, catalog.TAG).status_code == 200
    fault.set(blob_path(blob.digest), "throttle", rate=2 * MIB, methods=["GET"])

    first = {}
    first_thread = follow(filler.session(tenant.license_id), f"{filler.url}/v2/{repo}/blobs/{blob.digest}", threading.Event(), first)
    wait_until(lambda: spool_bytes(filler) >= MIB, timeout=20, message="the first replica's fill never reached 1 MiB")
    start = MIB + 12345
    r = follower.session(tenant.license_id).get(f"{follower.url}/v2/{repo}/blobs/{blob.digest}", headers={"Range": f"bytes={start}-"},
                                                timeout=(10, 60))
    assert r.status_code == 206, (r.status_code, r.text[:200])
    assert r.headers["Content-Range"] == f"bytes {start}-{blob.size - 1}/{blob.size}"
    assert r.content == content[start:], "the range's bytes differ from the blob's"
    first_thread.join(timeout=60)
    assert first.get("outcome") == (200, blob.digest, blob.size), first
    # Asked while the first replica was filling (1 of 6 MiB in, 2 MiB/s): streamed from it.
    assert scrape(follower).value("portcullis_peer_fills_total") == 1
    assert len([s for s in fault.seen(blob_path(blob.digest)) if s.method == "GET"]) == 1


def test_a_fill_of_unknown_length_streams_across_replicas_too(replicas, upstream, fault_factory, tmp_path_factory):
    """An upstream that sends the blob chunked (no Content-Length): the holder streams it to the
    other replica chunked as well, and both clients get the whole, verified blob."""
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    fault = fault_factory(upstream)
    tenant = replicas[0].tenant(upstream, endpoint=fault.url)
    repo = tenant.repo(MEDIUM_REPO)
    filler, follower = replicas[0], replicas[1]
    assert get_manifest(filler.session(tenant.license_id), filler.url, repo, catalog.TAG).status_code == 200
    fault.set(blob_path(blob.digest), "chunked", pace=2 * MIB, methods=["GET"])

    first, second = {}, {}
    first_thread = follow(filler.session(tenant.license_id), f"{filler.url}/v2/{repo}/blobs/{blob.digest}", threading.Event(), first)
    wait_until(lambda: spool_bytes(filler) >= MIB, timeout=20, message="the first replica's fill never reached 1 MiB")
    got_bytes = threading.Event()
    second_thread = follow(follower.session(tenant.license_id), f"{follower.url}/v2/{repo}/blobs/{blob.digest}", got_bytes, second)
    assert got_bytes.wait(timeout=30) and "first_byte_at" in second, second
    assert not replicas.store.blob_keys(blob.hex), "published before the second replica's first byte: nothing was streamed"
    first_thread.join(timeout=60)
    second_thread.join(timeout=60)
    assert first.get("outcome") == (200, blob.digest, blob.size), first
    assert second.get("outcome") == (200, blob.digest, blob.size), second
    assert scrape(follower).value("portcullis_peer_fills_total") == 1
    assert len([s for s in fault.seen(blob_path(blob.digest)) if s.method == "GET"]) == 1


def test_content_failing_verification_fails_on_the_streaming_replica_too(replicas, upstream, fault_factory, tmp_path_factory):
    """The streaming replica verifies what it relays: corrupted upstream bytes reach neither
    replica's client whole, and nothing is published."""
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    fault = fault_factory(upstream)
    tenant = replicas[0].tenant(upstream, endpoint=fault.url)
    repo = tenant.repo(MEDIUM_REPO)
    filler, follower = replicas[0], replicas[1]
    assert get_manifest(filler.session(tenant.license_id), filler.url, repo, catalog.TAG).status_code == 200
    fault.set(blob_path(blob.digest), "corrupt", pace=2 * MIB, methods=["GET"])

    first, second = {}, {}
    first_thread = follow(filler.session(tenant.license_id), f"{filler.url}/v2/{repo}/blobs/{blob.digest}", threading.Event(), first)
    wait_until(lambda: spool_bytes(filler) >= MIB, timeout=20, message="the first replica's fill never reached 1 MiB")
    got_bytes = threading.Event()
    second_thread = follow(follower.session(tenant.license_id), f"{follower.url}/v2/{repo}/blobs/{blob.digest}", got_bytes, second)
    first_thread.join(timeout=60)
    second_thread.join(timeout=60)
    for name, result in (("first", first), ("second", second)):
        outcome = result.get("outcome")
        assert outcome is not None and outcome[1] != blob.digest, f"the {name} replica's client got the blob: {outcome}"
        # Nothing whole: either the answer was cut before its end, or refused outright.
        assert outcome[0] == "error" or outcome[0] >= 500 or (outcome[2] or 0) < blob.size, (name, outcome)
    assert scrape(follower).value("portcullis_peer_fills_total") == 1, "the second replica did not stream the first's fill"
    time.sleep(1)
    assert not replicas.store.blob_keys(blob.hex), "content that failed verification was published"


def test_the_peer_route_admits_only_replicas_of_the_deployment(replicas, upstream, images):
    """`/internal/peer/fills/` serves replicas holding the deployment's secret key: no pass, a
    forged pass, an expired pass and another digest's pass are all refused."""
    srv = replicas[0]
    digest = images.big.largest_layer().digest
    url = f"{srv.url}/internal/peer/fills/{digest}"

    def status(**headers) -> int:
        return requests.get(url, headers=headers, timeout=10).status_code

    assert status() == 403
    assert status(**{"Portcullis-Peer": f"{int(time.time()) + 30}.{'0' * 64}"}) == 403
    assert status(**{"Portcullis-Peer": "not a pass"}) == 403
    r = requests.get(url, headers={"Portcullis-Peer": "x"}, timeout=10)
    assert r.headers.get("Content-Type", "").startswith("application/json") and "DENIED" in r.text
    # Passes made as a replica makes them (HKDF-SHA256 of the secret key, then HMAC-SHA256).
    key = base64.b64decode(replicas.store.secret_key)
    assert status(**{"Portcullis-Peer": _peer_pass(key, digest, int(time.time()) + 30)}) == 404, \
        "a good pass for a blob no fill is running for is 404"
    assert status(**{"Portcullis-Peer": _peer_pass(key, digest, int(time.time()) - 5)}) == 403, "an expired pass"
    other = "sha256:" + hashlib.sha256(b"another blob").hexdigest()
    assert status(**{"Portcullis-Peer": _peer_pass(key, other, int(time.time()) + 30)}) == 403, "another digest's pass"
    assert status(**{"Portcullis-Peer": _peer_pass(os.urandom(32), digest, int(time.time()) + 30)}) == 403, "another key's pass"


def _peer_pass(secret_key: bytes, digest: str, expiry: int) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portcullis peer fills v1").derive(secret_key)
    return f"{expiry}.{hmac.new(derived, f'{expiry} {digest}'.encode(), hashlib.sha256).hexdigest()}"
