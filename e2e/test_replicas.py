"""Stateless replicas: three Portcullis processes on one PostgreSQL database and one bucket.

What replicas must share (and nothing else): pulls are byte-identical through each, a cold
blob is fetched upstream once whichever replicas ask, tokens and license changes travel,
chunked pushes may hop between replicas, and a replica dying mid-fill leaves nothing partial
behind. Also: clear start-up errors for unusable storage, and 503 (never 500) while the
database or the object store is away, with recovery once it returns.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import List

import requests

from portcullis_testkit import catalog
from portcullis_testkit.backends import BUCKET
from portcullis_testkit.hardening import (
    blob_outcome,
    fast_stop,
    fault_factory,  # noqa: F401 - fixture
    guard_args,
    registry_token,
    sigkill,
)
from portcullis_testkit.oci import error_codes, get_manifest, layout_blobs, skopeo_copy, stream_sha256
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.proc import run
from portcullis_testkit.relay import FaultRelay
from portcullis_testkit.replicas import Replicas, start_fill
from portcullis_testkit.tokenserver import TokenService
from portcullis_testkit.upstream import TokenAuthUpstream
from portcullis_testkit.util import free_port, wait_until


MIB = 1 << 20


def _vendor(group: Replicas):
    return ("vendor", group.store.admin_token)


# ------------------------------------------------------------------ pulls
def test_pulls_through_each_replica_are_byte_identical(replicas, upstream, images, tmp_path):
    tenant = replicas[0].tenant(upstream)
    layouts = []
    for i, srv in enumerate(replicas.servers):
        ref = f"{srv.host}/{tenant.repo(catalog.MULTI_REPO)}:{catalog.TAG}"
        out = tmp_path / f"pull-{i}"
        cp = skopeo_copy(ref, f"oci:{out}:{catalog.TAG}", tenant.creds)
        assert cp.returncode == 0, f"pull through replica {i} failed:\n{cp.stderr}"
        layouts.append(layout_blobs(out))
    assert set(layouts[0]) == set(images.multi.all_blobs)
    for other in layouts[1:]:
        assert {d: p.read_bytes() for d, p in other.items()} == {d: p.read_bytes() for d, p in layouts[0].items()}


def test_concurrent_cold_gets_across_replicas_fetch_upstream_once(replicas, upstream, images):
    repo_up = f"e2e/replica-cold-{uuid.uuid4().hex[:8]}"
    upstream.push(images.big, repo_up)
    tenant = replicas[0].tenant(upstream)
    big = images.big.largest_layer()
    path = f"/v2/{repo_up}/blobs/{big.digest}"
    repo = tenant.repo(repo_up)
    for srv in replicas.servers:
        assert get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG).status_code == 200

    count = 8
    barrier = threading.Barrier(count)
    results = [None] * count

    def fetch(i: int) -> None:
        srv = replicas[i % len(replicas)]
        try:
            barrier.wait(timeout=30)
            r = requests.get(f"{srv.url}/v2/{repo}/blobs/{big.digest}", auth=tenant.creds, stream=True, timeout=(10, 180))
            results[i] = (r.status_code, *stream_sha256(r))
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = ("error", repr(exc), None)

    threads = [threading.Thread(target=fetch, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert results == [(200, big.digest, big.size)] * count, results
    assert upstream.wait_count("GET", path, at_least=1) == 1, \
        f"expected one upstream GET across three replicas, the upstream log shows {upstream.count_requests('GET', path)}"
    wait_until(lambda: replicas.store.blob_keys(big.hex), timeout=30, message="the blob never reached the shared object store")


# ------------------------------------------------------------------ tokens and licenses
def test_token_from_one_replica_works_on_the_others(replicas, upstream):
    tenant = replicas[0].tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    token = registry_token(replicas[0], tenant.creds, repo)
    for srv in replicas.servers:
        # Behind a load balancer every replica sees the one public Host the token was issued for.
        r = requests.get(f"{srv.url}/v2/{repo}/manifests/{catalog.TAG}", headers={
            "Host": replicas[0].host, "Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"},
            timeout=30)
        assert r.status_code == 200, f"{srv.host}: {r.status_code} {r.text[:200]}"


def test_rotated_signing_key_keeps_old_tokens_and_travels(replicas, upstream):
    tenant = replicas[0].tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    # Issued by replica 1 for the public name every replica answers to.
    r = requests.get(f"{replicas[1].url}/v2/token", params={"service": replicas[0].host, "scope": f"repository:{repo}:pull"},
                     headers={"Host": replicas[0].host}, auth=tenant.creds, timeout=10)
    assert r.status_code == 200, r.text
    old = r.json()["token"]
    before = replicas[0].cli_json("signing-key", "ls")
    rotated = replicas[0].cli_json("signing-key", "rotate")
    assert rotated["signing"] and rotated["keyID"] not in {k["keyID"] for k in before}
    new = registry_token(replicas[0], tenant.creds, repo)
    for name, token in (("old", old), ("new", new)):
        for i, srv in enumerate(replicas.servers):
            r = requests.get(f"{srv.url}/v2/{repo}/tags/list", headers={"Host": replicas[0].host, "Authorization": f"Bearer {token}"},
                             timeout=30)
            assert r.status_code == 200, f"{name} token on replica {i}: {r.status_code} {r.text[:200]}"
    keys = replicas[2].cli_json("signing-key", "ls")
    assert [k["keyID"] for k in keys][:1] == [rotated["keyID"]] and len(keys) == len(before) + 1


def test_replaced_registry_credentials_stop_every_replicas_cached_upstream_tokens(replicas, images, tmp_path_factory):
    """A vendor replaces a registry's credentials on one replica: the others stop sending upstream
    tokens they got with the old credentials as soon as they read the change (2 s), rather than
    until those tokens expire (five minutes here)."""
    tokens = TokenService(tmp_path_factory.mktemp("creds-tokens"), accounts={"robot": "first-password"}).start()
    registry = TokenAuthUpstream(tmp_path_factory.mktemp("creds-upstream"), tokens, "robot", "first-password").start()
    try:
        registry.push(images.three, "e2e/creds")
        vendor_side, other = replicas[0], replicas[1]
        tenant = vendor_side.tenant(registry)
        repo = tenant.repo("e2e/creds")
        # The other replica logs in upstream for the repository and keeps the token.
        assert get_manifest(other.session(tenant.license_id), other.url, repo, catalog.TAG).status_code == 200
        # Credentials the token service refuses (as after the vendor revoked the robot's access).
        vendor_side.cli_ok("registry", "update", tenant.registry, "--password-stdin", "--no-verify", input="revoked\n")
        time.sleep(3)
        layer = images.three.images[0].layers[0]
        r = other.session(tenant.license_id).get(f"{other.url}/v2/{repo}/blobs/{layer.digest}", timeout=30)
        assert r.status_code == 502 and "UNAVAILABLE" in r.text and "credentials" in r.text, \
            f"a token of the replaced credentials was still used: {r.status_code} {r.text[:200]}"
        # Credentials that work again are picked up the same way.
        vendor_side.cli_ok("registry", "update", tenant.registry, "--password-stdin", input="first-password\n")
        time.sleep(3)
        assert blob_outcome(other.session(tenant.license_id), f"{other.url}/v2/{repo}/blobs/{layer.digest}") == \
            (200, layer.digest, layer.size)
    finally:
        registry.stop()
        tokens.stop()


def test_archived_license_is_refused_on_every_replica_within_5s(replicas, upstream):
    tenant = replicas[0].tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    for srv in replicas.servers:  # every replica has the license in its cache now
        assert get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG).status_code == 200
    replicas[0].cli_ok("customer", "archive", tenant.customer_id)
    archived = time.monotonic()
    pending = set(range(1, len(replicas)))
    refused_after = {}
    while pending and time.monotonic() - archived < 10:
        for i in sorted(pending):
            srv = replicas[i]
            if get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG).status_code in (401, 403):
                refused_after[i] = time.monotonic() - archived
                pending.discard(i)
        time.sleep(0.1)
    assert not pending, f"replicas {sorted(pending)} still served the archived license after 10 s"
    assert max(refused_after.values()) <= 5.0, f"refusal took {refused_after} s"


def test_login_throttling_counts_across_replicas(shared_backend, portcullis_binary, tmp_path, upstream):
    group = Replicas(portcullis_binary, tmp_path, shared_backend.attach(), 2, args=["--login-failure-limit", "4"]).start()
    try:
        wrong = ("someone", "lic-" + "0" * 32)
        statuses = [requests.get(f"{group[i % 2].url}/v2/", auth=wrong, timeout=10).status_code for i in range(6)]
        assert statuses[:4] == [401] * 4, statuses
        assert 429 in statuses[4:], f"failures spread over two replicas were not counted together: {statuses}"
    finally:
        group.stop()


# ------------------------------------------------------------------ pushes
def test_chunked_push_hops_between_replicas(replicas):
    app = replicas[0].create_app()["slug"]
    vendor = _vendor(replicas)
    data = os.urandom(3 * MIB + 12345)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    name = f"{app}/hop"
    r = requests.post(f"{replicas[0].url}/v2/{name}/blobs/uploads/", auth=vendor, timeout=30)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    pieces = [data[: MIB], data[MIB: 2 * MIB + 7], data[2 * MIB + 7:]]
    offset = 0
    for i, piece in enumerate(pieces[:2]):
        srv = replicas[1 + i]
        r = requests.patch(srv.url + location, data=piece, auth=vendor, timeout=60, headers={
            "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(piece) - 1}"})
        assert r.status_code == 202, f"PATCH {i} on replica {1 + i}: {r.status_code} {r.text}"
        offset += len(piece)
        assert r.headers["Range"] == f"0-{offset - 1}"
        location = r.headers["Location"]
    # A chunk for an offset already written is out of order, on whichever replica.
    stale = requests.patch(replicas[0].url + location, data=b"x", auth=vendor, timeout=30, headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-0"})
    assert stale.status_code == 416, stale.text
    status = requests.get(replicas[2].url + location, auth=vendor, timeout=30)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{offset - 1}"
    sep = "&" if "?" in location else "?"
    r = requests.put(f"{replicas[0].url}{location}{sep}digest={digest}", data=pieces[2], auth=vendor, timeout=60,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    for srv in replicas.servers:
        got = requests.get(f"{srv.url}/v2/{name}/blobs/{digest}", auth=vendor, timeout=60)
        assert got.status_code == 200 and got.content == data, f"{srv.host}: {got.status_code}"
    wait_until(lambda: not [k for k in replicas.store.blob_keys() if "/uploads/" in k], timeout=10,
               message="upload parts were left in the bucket")


# ------------------------------------------------------------------ a replica dies
def test_replica_killed_mid_cold_pull_leaves_nothing_partial(replicas, upstream, fault_factory, tmp_path_factory):
    fill = start_fill(replicas, upstream, fault_factory, tmp_path_factory, "throttle", rate=MIB)
    blob, fault, tenant, repo = fill.blob, fill.fault, fill.tenant, fill.repo
    victim, survivor = fill.filler, fill.follower
    # A client of the survivor streams the victim's fill when the victim dies.
    streamed = fill.pull(survivor)
    assert streamed.got_bytes(), f"the survivor's client got nothing: {streamed.result}"
    sigkill(victim)
    assert fill.first.join(timeout=30) != (200, blob.digest, blob.size)
    outcome = streamed.join(timeout=30)
    assert outcome is not None and outcome[0] == "error", \
        f"the survivor's client must see its answer cut, not a whole blob: {outcome}"
    assert not replicas.store.blob_keys(blob.hex), "a blob object appeared for a fill that never finished"

    fault.clear()
    started = time.monotonic()
    outcome = blob_outcome(survivor.session(tenant.license_id), f"{survivor.url}/v2/{repo}/blobs/{blob.digest}", timeout=(30, 60))
    assert outcome == (200, blob.digest, blob.size)
    # The dead replica's lease ran out (10 s) and the survivor took the fill over.
    assert time.monotonic() - started < 40
    keys = wait_until(lambda: replicas.store.blob_keys(blob.hex), timeout=30, message="the blob never reached the bucket")
    assert len(keys) == 1 and replicas.store.moto.sha256(keys[0]) == blob.hex


def test_nothing_blob_shaped_stays_on_a_replicas_disk(replicas, upstream, images, tmp_path):
    tenant = replicas[0].tenant(upstream)
    for i, srv in enumerate(replicas.servers):
        cp = skopeo_copy(f"{srv.host}/{tenant.repo(catalog.BIG_REPO)}:{catalog.TAG}", f"oci:{tmp_path / str(i)}:{catalog.TAG}", tenant.creds)
        assert cp.returncode == 0, cp.stderr
    big = images.big.largest_layer()
    wait_until(lambda: replicas.store.blob_keys(big.hex), timeout=30, message="the blob never reached the bucket")
    for srv in replicas.servers:
        files = [p for p in srv.data_dir.rglob("*") if p.is_file()]
        large = [(p, p.stat().st_size) for p in files if p.stat().st_size > 16 * 1024]
        assert not large, f"{srv.host} keeps blob-sized files on its disk: {large}"
        assert not [p for p in files if big.hex in p.name]


# ------------------------------------------------------------------ storage away
def _serve_expecting_failure(binary: Path, workdir: Path, args: List[str], env: dict) -> str:
    cp = run([str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(workdir), *args], env=env, timeout=60)
    assert cp.returncode not in (0, -9), cp
    assert "Fatal error" not in cp.stderr and "Stack dump" not in cp.stderr, cp.stderr
    return cp.stderr


def test_unusable_storage_at_start_is_a_clear_error(shared_backend, portcullis_binary, tmp_path):
    store = shared_backend.attach()
    env = store.env()
    dead_port = free_port()  # nothing listens there
    err = _serve_expecting_failure(portcullis_binary, tmp_path / "a", [
        "--database", f"postgres://portcullis:x@127.0.0.1:{dead_port}/nothing", "--blob-store", f"s3://{BUCKET}/x"], env)
    assert "PostgreSQL" in err and str(dead_port) in err and "x@" not in err, err
    assert "connection was refused" in err and "Generic description" not in err, err

    err = _serve_expecting_failure(portcullis_binary, tmp_path / "b", [
        "--database", shared_backend.postgres.url(store.database), "--blob-store", f"s3://{BUCKET}/x"],
        {**env, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{dead_port}"})
    assert "blob store" in err and "unreachable" in err, err

    err = _serve_expecting_failure(portcullis_binary, tmp_path / "c", [
        "--database", shared_backend.postgres.url(store.database), "--blob-store", f"s3://{BUCKET}/x"],
        {**env, "AWS_SECRET_ACCESS_KEY": "wrong" + env["AWS_SECRET_ACCESS_KEY"]})
    assert "blob store" in err and "403" in err, err
    assert env["AWS_SECRET_ACCESS_KEY"] not in err

    err = _serve_expecting_failure(portcullis_binary, tmp_path / "d", [
        "--database", shared_backend.postgres.url(store.database), "--blob-store", f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}"], env)
    assert "does not exist" in err, err

    no_key = {k: v for k, v in env.items() if k != "PORTCULLIS_SECRET_KEY"}
    err = _serve_expecting_failure(portcullis_binary, tmp_path / "e", store.args(), no_key)
    assert "PORTCULLIS_SECRET_KEY" in err, err


def test_storage_going_away_is_503_and_recovers(shared_backend, portcullis_binary, tmp_path, upstream, images):
    store = shared_backend.attach()
    pg = shared_backend.postgres
    db_relay = FaultRelay("127.0.0.1", pg.port)
    s3_relay = FaultRelay("127.0.0.1", shared_backend.moto.port)
    # Both reached through relays that can be closed (refusing connections, cutting the open
    # ones) and opened again on the same port.
    store.database_url = f"postgres://portcullis:{pg.password}@127.0.0.1:{db_relay.port}/{store.database}?sslmode=disable"
    srv = PortcullisServer(tmp_path / "srv", portcullis_binary, guard_args(), store=store, env={
        "PORTCULLIS_ADMIN_TOKEN": store.admin_token, "AWS_ENDPOINT_URL_S3": s3_relay.url})
    try:
        srv.start()
        tenant = srv.tenant(upstream)
        repo = tenant.repo(catalog.THREE_REPO)
        s = srv.session(tenant.license_id)
        layer = images.three.largest_layer()
        blob_url = f"{srv.url}/v2/{repo}/blobs/{layer.digest}"
        assert blob_outcome(s, blob_url)[0] == 200
        # The client has its bytes before the upload to the bucket ends; wait for that.
        wait_until(lambda: store.blob_keys(layer.hex), timeout=30, message="the blob never reached the bucket")

        for relay_name in ("object store", "database"):
            relay = s3_relay if relay_name == "object store" else db_relay
            relay.close()
            if relay_name == "database":
                time.sleep(2.5)  # past the replica's 2 s cache of the license
            r = s.get(blob_url, timeout=60)
            assert r.status_code == 503, f"with the {relay_name} away: {r.status_code} {r.text[:300]}"
            assert "UNAVAILABLE" in error_codes(r), r.text
            started = time.monotonic()
            ready = requests.get(srv.url + "/readyz", timeout=30)
            took = time.monotonic() - started
            assert ready.status_code == 503, ready.text
            # Within a kubelet's default 1 s probe timeout, with the reason (an object store
            # refusing connections is retried for its 10 s connect timeout otherwise).
            assert took < 2.5, f"/readyz took {took:.1f} s with the {relay_name} away"
            assert "unavailable" in ready.text, ready.text
            if relay_name == "database":
                # A sign-in says the service is away, not that a good license is invalid.
                browser = requests.Session()
                token = re.search(r'name="csrf" value="([^"]+)"', browser.get(srv.url + "/account", timeout=30).text).group(1)
                signin = browser.post(srv.url + "/account/login", data={"csrf": token, "license": tenant.license_id},
                                      allow_redirects=False, timeout=60)
                assert signin.status_code == 503 and "Not available just now" in signin.text, f"{signin.status_code}: {signin.text[:500]}"
                assert "not valid" not in signin.text
            relay = FaultRelay("127.0.0.1", relay.target[1], port=relay.port)
            if relay_name == "object store":
                s3_relay = relay
            else:
                db_relay = relay
            wait_until(lambda: blob_outcome(s, blob_url) == (200, layer.digest, layer.size), timeout=30,
                       message=f"no recovery after the {relay_name} came back")
        assert "Fatal error" not in srv.log_text()

        # A database that stops answering (frozen, or packets dropped) rather than refusing: no
        # request waits on it without end; each is a 503 once a statement has gone unanswered.
        db_relay.freeze()
        time.sleep(2.5)  # past the replica's 2 s cache of the license
        answers: dict = {}

        def ask(name: str, call) -> None:
            started = time.monotonic()
            try:
                answers[name] = (call().status_code, time.monotonic() - started)
            except requests.RequestException as error:
                answers[name] = (repr(error), time.monotonic() - started)

        admin = {"Authorization": f"Bearer {store.admin_token}"}
        calls = {"readyz": lambda: requests.get(srv.url + "/readyz", timeout=60),
                 "admin": lambda: requests.get(srv.url + "/api/v1/customers", headers=admin, timeout=60),
                 "manifest": lambda: s.get(f"{srv.url}/v2/{repo}/manifests/{catalog.TAG}", timeout=60)}
        threads = [threading.Thread(target=ask, args=(name, call)) for name, call in calls.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        for name, (status, took) in answers.items():
            assert status == 503 and took < 30, f"{name} with the database frozen: {status} after {took:.1f} s"
        assert answers["readyz"][1] < 2.5, f"/readyz took {answers['readyz'][1]:.1f} s with the database frozen"
        assert set(answers) == set(calls), answers
        db_relay.thaw()
        wait_until(lambda: requests.get(srv.url + "/readyz", timeout=30).status_code == 200, timeout=60,
                   message="no recovery after the database answered again")
    finally:
        fast_stop(srv)
        s3_relay.close()
        db_relay.close()
