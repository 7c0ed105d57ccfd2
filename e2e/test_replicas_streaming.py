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
import time

import requests

from portcullis_testkit import catalog
from portcullis_testkit.hardening import (
    blob_outcome,
    fault_factory,  # noqa: F401 - fixture
    scrape,
    spool_bytes,
)
from portcullis_testkit.oci import get_manifest
from portcullis_testkit.replicas import MIB, start_fill
from portcullis_testkit.util import wait_until


def test_a_replica_streams_the_fill_another_replica_is_still_fetching(replicas, upstream, fault_factory, tmp_path_factory):
    """The lease holder's fill is streamed to the second replica's client as it arrives: its first
    bytes come long before the holder's fill completes, and the upstream is asked once."""
    # About six seconds for the whole 6 MiB layer.
    fill = start_fill(replicas, upstream, fault_factory, tmp_path_factory, "throttle", rate=MIB)
    blob, filler, follower = fill.blob, fill.filler, fill.follower
    assert get_manifest(follower.session(fill.tenant.license_id), follower.url, fill.repo, catalog.TAG).status_code == 200
    asked = time.monotonic()
    second = fill.pull(follower)
    assert second.first_bytes.wait(timeout=30)
    filling_then = spool_bytes(filler)
    assert "first_byte_at" in second.result, f"the second replica's client got no bytes: {second.result}"
    assert not replicas.store.blob_keys(blob.hex), "the blob was already published: nothing was streamed"
    assert filling_then < blob.size, f"the first replica's fill had finished ({filling_then} of {blob.size} bytes)"

    assert fill.first.join() == (200, blob.digest, blob.size), fill.first.result
    assert second.join() == (200, blob.digest, blob.size), second.result
    # Its first byte came while the holder was still fetching; a wait for the bucket would end after.
    first_byte_at = second.result["first_byte_at"]
    assert first_byte_at < fill.first.result["ended_at"] - 1.0, (second.result, fill.first.result)
    assert first_byte_at - asked < 3.0, f"first byte {first_byte_at - asked:.2f} s after asking"
    assert fill.upstream_gets() == 1, f"expected one upstream GET across the replicas, saw {fill.upstream_gets()}"
    assert scrape(follower).value("portcullis_peer_fills_total") == 1
    assert scrape(filler).value("portcullis_peer_fills_total") == 0
    keys = wait_until(lambda: replicas.store.blob_keys(blob.hex), timeout=30, message="the blob never reached the bucket")
    assert len(keys) == 1 and replicas.store.moto.sha256(keys[0]) == blob.hex
    # Later pulls on the follower read the published blob.
    assert blob_outcome(follower.session(fill.tenant.license_id), fill.url(follower)) == (200, blob.digest, blob.size)
    assert fill.upstream_gets() == 1


def test_a_ranged_get_on_the_streaming_replica_gets_its_range(replicas, upstream, fault_factory, tmp_path_factory):
    """A client resuming a layer (a `Range` request, as containerd sends after a cut) on the
    replica that streams another's fill gets exactly the bytes it asked for, as they arrive."""
    fill = start_fill(replicas, upstream, fault_factory, tmp_path_factory, "throttle", rate=2 * MIB)
    blob, follower = fill.blob, fill.follower
    content = fill.image.read_blob(blob.digest)
    start = MIB + 12345
    r = follower.session(fill.tenant.license_id).get(fill.url(follower), headers={"Range": f"bytes={start}-"}, timeout=(10, 60))
    assert r.status_code == 206, (r.status_code, r.text[:200])
    assert r.headers["Content-Range"] == f"bytes {start}-{blob.size - 1}/{blob.size}"
    assert r.content == content[start:], "the range's bytes differ from the blob's"
    assert fill.first.join() == (200, blob.digest, blob.size), fill.first.result
    # Asked while the first replica was filling (1 of 6 MiB in, 2 MiB/s): streamed from it.
    assert scrape(follower).value("portcullis_peer_fills_total") == 1
    assert fill.upstream_gets() == 1


def test_a_fill_of_unknown_length_streams_across_replicas_too(replicas, upstream, fault_factory, tmp_path_factory):
    """An upstream that sends the blob chunked (no Content-Length): the holder streams it to the
    other replica chunked as well, and both clients get the whole, verified blob."""
    fill = start_fill(replicas, upstream, fault_factory, tmp_path_factory, "chunked", pace=2 * MIB)
    blob = fill.blob
    second = fill.pull(fill.follower)
    assert second.got_bytes(), second.result
    assert not replicas.store.blob_keys(blob.hex), "published before the second replica's first byte: nothing was streamed"
    assert fill.first.join() == (200, blob.digest, blob.size), fill.first.result
    assert second.join() == (200, blob.digest, blob.size), second.result
    assert scrape(fill.follower).value("portcullis_peer_fills_total") == 1
    assert fill.upstream_gets() == 1


def test_content_failing_verification_fails_on_the_streaming_replica_too(replicas, upstream, fault_factory, tmp_path_factory):
    """The streaming replica verifies what it relays: corrupted upstream bytes reach neither
    replica's client whole, and nothing is published."""
    fill = start_fill(replicas, upstream, fault_factory, tmp_path_factory, "corrupt", pace=2 * MIB)
    blob = fill.blob
    second = fill.pull(fill.follower)
    for name, pull in (("first", fill.first), ("second", second)):
        outcome = pull.join()
        assert outcome is not None and outcome[1] != blob.digest, f"the {name} replica's client got the blob: {outcome}"
        # Nothing whole: either the answer was cut before its end, or refused outright.
        assert outcome[0] == "error" or outcome[0] >= 500 or (outcome[2] or 0) < blob.size, (name, outcome)
    assert scrape(fill.follower).value("portcullis_peer_fills_total") == 1, "the second replica did not stream the first's fill"
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
