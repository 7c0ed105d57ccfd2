"""Hardening (issue 5): crashes, a full disk and graceful shutdown, with real processes.

- SIGKILL during a cache fill and during a vendor push (mid-PATCH): after a restart on the
  same data dir ``/readyz`` is 200, nothing half-written is served, the blob is absent or
  complete, pulling works and the interrupted push succeeds when run again.
- A full disk (tmpfs data dir) while filling: the pull is refused before its first byte (503
  UNAVAILABLE with Retry-After, never a 200 cut off or a stored partial blob) and works once
  space is freed.
- SIGTERM with ``--shutdown-grace 30s``: an in-flight download completes with the right
  bytes, new connections are refused once shutdown begins (TCP refusal, closed unanswered,
  or 503 -- /readyz must say 503 while shutting down, so answering 503 counts as refusing),
  the process exits 0.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import threading
import time
from urllib.parse import urljoin

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.faults import blob_path
from portcullis_testkit.hardening import (  # noqa: F401 - fixtures
    MEDIUM_REPO,
    basic,
    blob_leftovers,
    blob_outcome,
    fault_factory,
    guard_args,
    hardened_factory,
    medium_image,
    raw_request,
    restart,
    sigkill,
    spool_bytes,
    spool_files,
    stored_blob,
    tmpfs,
    wait_ready,
)
from portcullis_testkit.helm import create_token
from portcullis_testkit.images import make_big_image
from portcullis_testkit.oci import error_codes, get_manifest, layout_blobs, skopeo, skopeo_copy
from portcullis_testkit.util import unique, wait_until

MIB = 1 << 20


def _push(server, image, repo, creds, tag):
    return skopeo(
        "copy", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
        "--dest-creds", f"{creds[0]}:{creds[1]}", image.oci_ref(), f"docker://{server.host}/{repo}:{tag}",
    )


def _assert_no_partial(srv, hexdigest):
    wait_until(lambda: not blob_leftovers(srv, hexdigest), timeout=10,
               message=lambda: f"partial data left behind: {blob_leftovers(srv, hexdigest)}")


# ------------------------------------------------------------------ SIGKILL mid-fill
def test_sigkill_during_fill_then_restart(hardened_factory, fault_factory, upstream, tmp_path_factory, tmp_path):
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    srv = hardened_factory(*guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(MEDIUM_REPO)
    url = f"{srv.url}/v2/{repo}/blobs/{blob.digest}"
    assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200

    fault.set(blob_path(blob.digest), "throttle", rate=MIB, methods=["GET"])
    result = {}
    client = threading.Thread(target=lambda: result.update(o=blob_outcome(s, url, timeout=(10, 30))), daemon=True)
    client.start()
    wait_until(lambda: spool_bytes(srv) >= MIB, timeout=20,
               message=lambda: f"the fill never reached 1 MiB in the spool ({spool_bytes(srv)} bytes)")
    sigkill(srv)
    client.join(timeout=30)
    assert result.get("o") != (200, blob.digest, blob.size), "the download completed although the server was killed"

    fault.clear()
    restart(srv)
    wait_ready(srv)
    assert not spool_files(srv), f"spool not emptied at start: {spool_files(srv)}"
    # Absent or complete, never a partial file under the digest's name.
    assert not blob_leftovers(srv, blob.hex), f"partial blob after restart: {blob_leftovers(srv, blob.hex)}"
    h = s.head(url, timeout=30)
    assert h.status_code in (200, 404) and h.status_code != 500, h.status_code
    if h.status_code == 200:
        assert int(h.headers.get("Content-Length", -1)) == blob.size, "a partial blob is advertised"

    assert blob_outcome(s, url, timeout=(10, 60)) == (200, blob.digest, blob.size)
    out = tmp_path / "after-restart"
    cp = skopeo_copy(tenant.ref(MEDIUM_REPO, catalog.TAG), f"oci:{out}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, f"pull after restart failed:\n{cp.stderr}"
    assert set(layout_blobs(out)) == set(medium.all_blobs)
    wait_until(lambda: stored_blob(srv, blob.hex), timeout=30, message="the blob was not cached after the restart")


# ------------------------------------------------------------------ SIGKILL mid-PATCH
def test_sigkill_during_vendor_push_then_restart(hardened_factory, tmp_path):
    image = make_big_image(tmp_path / "push-image", size=4 * MIB, tag="1.0.0", seed="hardening-push")
    layer = image.largest_layer()
    data = image.read_blob(layer.digest)
    srv = hardened_factory(*guard_args())
    app = srv.create_app()["slug"]
    vendor = ("vendor", create_token(srv)["token"])
    cust = srv.create_customer(app)
    repo = f"{app}/{unique('crash')}"

    r = requests.post(f"{srv.url}/v2/{repo}/blobs/uploads/", auth=vendor, timeout=30)
    assert r.status_code == 202, f"upload start: {r.status_code} {r.text[:300]}"
    location = urljoin(srv.url + "/", r.headers["Location"])

    stop = threading.Event()

    def slow_body():
        # 3/4 of the layer, 64 KiB every 20 ms, then hold the request open until killed.
        for off in range(0, len(data) * 3 // 4, 64 * 1024):
            if stop.is_set():
                return
            yield data[off:off + 64 * 1024]
            time.sleep(0.02)
        stop.wait(60)

    result = {}

    def patch():
        try:
            p = requests.patch(location, data=slow_body(), auth=vendor, timeout=(10, 60),
                               headers={"Content-Type": "application/octet-stream"})
            result["status"] = p.status_code
        except requests.RequestException as exc:
            result["error"] = repr(exc)

    t = threading.Thread(target=patch, daemon=True)
    t.start()
    wait_until(lambda: spool_bytes(srv) >= 512 * 1024, timeout=20,
               message=lambda: f"the PATCH body never reached the spool ({spool_bytes(srv)} bytes); {result}")
    sigkill(srv)
    stop.set()
    t.join(timeout=30)
    assert "status" not in result or result["status"] >= 400, f"the interrupted PATCH succeeded: {result}"

    restart(srv)
    wait_ready(srv)
    assert not spool_files(srv), f"spool not emptied at start: {spool_files(srv)}"
    assert not blob_leftovers(srv, layer.hex), f"partial upload stored: {blob_leftovers(srv, layer.hex)}"

    blob_url = f"{srv.url}/v2/{repo}/blobs/{layer.digest}"
    for creds in (vendor, ("c", cust["licenseId"])):
        h = requests.head(blob_url, auth=creds, timeout=30)
        assert h.status_code == 404, f"half-uploaded blob visible after the crash: HEAD {h.status_code}"
        g = requests.get(blob_url, auth=creds, timeout=30)
        assert g.status_code == 404, f"half-uploaded blob served after the crash: GET {g.status_code}"
    # Finishing the dead session must not publish the partial bytes.
    fin = requests.put(location, params={"digest": layer.digest}, auth=vendor, timeout=30)
    assert not (200 <= fin.status_code < 300), f"the crashed upload session was completed: {fin.status_code}"
    assert fin.status_code != 500, fin.text[:300]
    assert requests.head(blob_url, auth=vendor, timeout=30).status_code == 404

    # Re-running the interrupted push succeeds, and customers get exactly what was pushed.
    cp = _push(srv, image, repo, vendor, "1.0.0")
    assert cp.returncode == 0, f"re-running the push after the crash failed:\n{cp.stderr}"
    out = tmp_path / "pulled"
    cp = skopeo_copy(f"{srv.host}/{repo}:1.0.0", f"oci:{out}:1.0.0", ("c", cust["licenseId"]))
    assert cp.returncode == 0, f"customer pull after the crash failed:\n{cp.stderr}"
    got = layout_blobs(out)
    assert set(got) == set(image.all_blobs)
    assert got[layer.digest].read_bytes() == data


# ------------------------------------------------------------------ disk full
def test_disk_full_while_filling_fails_cleanly_and_recovers(hardened_factory, upstream, tmp_path_factory, tmp_path):
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    srv = hardened_factory(*guard_args(), start=False)
    with tmpfs(srv.data_dir, "24m"):
        try:
            srv.start()
            tenant = srv.tenant(upstream)
            s = srv.session(tenant.license_id)
            repo = tenant.repo(MEDIUM_REPO)
            url = f"{srv.url}/v2/{repo}/blobs/{blob.digest}"
            assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200

            st = os.statvfs(srv.data_dir)
            free = st.f_bavail * st.f_frsize
            assert free > blob.size + 2 * MIB, f"tmpfs too small for the test: {free} bytes free"
            filler = srv.data_dir / "e2e-filler.bin"
            with open(filler, "wb") as f:
                left = free - 2 * MIB  # leave 2 MiB: less than the 6 MiB blob
                block = b"\0" * MIB
                while left > 0:
                    f.write(block[:min(MIB, left)])
                    left -= MIB

            # Refused before its first byte (not a 200 cut off where the disk ends), with a time to retry.
            r = s.get(url, timeout=30)
            assert r.status_code == 503 and "UNAVAILABLE" in error_codes(r) and r.headers.get("Retry-After"), (
                f"disk full: expected 503 UNAVAILABLE with Retry-After, got {r.status_code} {dict(r.headers)} {r.text[:300]}"
            )
            assert srv.alive(), f"the server died on a full disk:\n{srv.proc.log_tail()}"
            assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
            _assert_no_partial(srv, blob.hex)
            assert not stored_blob(srv, blob.hex)

            filler.unlink()

            def pulls():
                return blob_outcome(s, url, timeout=(10, 60)) == (200, blob.digest, blob.size)

            wait_until(pulls, timeout=15, interval=0.5, message="the blob cannot be pulled after space was freed")
            wait_ready(srv)
            cp = skopeo_copy(tenant.ref(MEDIUM_REPO, catalog.TAG), f"oci:{tmp_path / 'out'}:{catalog.TAG}", tenant.creds)
            assert cp.returncode == 0, f"pull after freeing space failed:\n{cp.stderr}"
            assert set(layout_blobs(tmp_path / "out")) == set(medium.all_blobs)
        finally:
            if srv.proc is not None:
                srv.proc.stop(timeout=2)


# ------------------------------------------------------------------ graceful shutdown
def test_sigterm_finishes_in_flight_download_and_exits_zero(hardened_factory, fault_factory, upstream, tmp_path_factory):
    medium = medium_image(tmp_path_factory, upstream)
    blob = medium.largest_layer()
    srv = hardened_factory("--shutdown-grace", "30s", *guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(MEDIUM_REPO)
    assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200
    probe = requests.Session()  # a kept-alive connection opened before shutdown
    assert probe.get(srv.url + "/readyz", timeout=5).status_code == 200

    # ~6 MiB at 1.5 MiB/s: the download lasts about 4 s.
    fault.set(blob_path(blob.digest), "throttle", rate=3 * MIB // 2, methods=["GET"])
    progress = {"bytes": 0}
    result = {}

    def download():
        h = hashlib.sha256()
        try:
            r = s.get(f"{srv.url}/v2/{repo}/blobs/{blob.digest}", stream=True, timeout=(10, 60))
            result["status"] = r.status_code
            for chunk in r.iter_content(64 * 1024):
                h.update(chunk)
                progress["bytes"] += len(chunk)
            result["outcome"] = (r.status_code, "sha256:" + h.hexdigest(), progress["bytes"])
        except requests.RequestException as exc:
            result["outcome"] = ("error", repr(exc), progress["bytes"])

    t = threading.Thread(target=download, daemon=True)
    t.start()
    wait_until(lambda: progress["bytes"] >= 512 * 1024, timeout=20, message="the download never started")

    os.kill(srv.proc.pid, signal.SIGTERM)

    def not_ready():
        try:
            return probe.get(srv.url + "/readyz", timeout=5).status_code != 200
        except requests.RequestException:
            return True  # the kept-alive connection was closed: fine too

    wait_until(not_ready, timeout=5, message="/readyz kept answering 200 after SIGTERM")

    def refused():
        """A new connection is refused, closed unanswered, or its request answered 503."""
        try:
            r = raw_request(srv, "GET", "/v2/", headers={"Authorization": basic(*tenant.creds), "Connection": "close"},
                            timeout=2)
        except ConnectionRefusedError:
            return "refused"
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
            return "closed"
        except OSError as exc:  # a timeout: the request hangs instead of being refused
            raise AssertionError(f"a new request during shutdown got no answer: {exc!r}")
        return f"HTTP {r.status}" if r.status == 503 else None

    how = wait_until(refused, timeout=5, interval=0.05,
                     message="new requests are still served after SIGTERM (neither refused nor 503)")
    in_flight = t.is_alive()

    t.join(timeout=60)
    assert not t.is_alive(), "the in-flight download hung during shutdown"
    assert result.get("outcome") == (200, blob.digest, blob.size), f"in-flight download during shutdown: {result}"
    assert in_flight, f"the download had already finished when new requests were first refused ({how}; test too fast)"
    s.close()  # the client lets go of its keep-alive connections: nothing is open any more
    probe.close()
    # Nothing is in flight any more: the process exits 0 well before the 30 s grace ends.
    try:
        code = srv.proc.proc.wait(timeout=10)
    except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
        code = None
    assert code == 0, (
        f"portcullis did not exit 0 within 10 s of its last request finishing (exit={code}); "
        f"the grace period is an upper bound, not a wait:\n{srv.proc.log_tail(20)}"
    )


@pytest.mark.embedded_only("stored blobs are sent with sendfile(2) from the local blob directory")
def test_a_client_that_leaves_mid_blob_is_logged(hardened_factory):
    """The access log line goes with the response head, so a blob whose client left midway is
    said in a line of its own, with how far it got."""
    srv = hardened_factory(*guard_args())
    app = srv.create_app()["slug"]
    vendor = ("vendor", create_token(srv)["token"])
    data = os.urandom(16 * MIB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{srv.url}/v2/{app}/left/blobs/uploads/?digest={digest}", data=data, auth=vendor, timeout=60)
    assert r.status_code == 201, f"{r.status_code} {r.text[:300]}"
    token = requests.get(f"{srv.url}/v2/token", params={"service": srv.host, "scope": f"repository:{app}/left:pull"},
                         auth=vendor, timeout=30).json()["token"]
    host, port = srv.host.rsplit(":", 1)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.connect((host, int(port)))
        sock.sendall(f"GET /v2/{app}/left/blobs/{digest} HTTP/1.1\r\nHost: {srv.host}\r\n"
                     f"Authorization: Bearer {token}\r\n\r\n".encode())
        got = 0
        while got < MIB:
            chunk = sock.recv(65536)
            assert chunk, "the server closed before 1 MiB"
            got += len(chunk)
    wait_until(lambda: "blob response cut short" in srv.proc.log_tail(200), timeout=15,
               message=lambda: f"no line for the download cut short:\n{srv.proc.log_tail(20)}")


def test_sigterm_lets_a_cached_blob_download_finish(hardened_factory, upstream, tmp_path_factory):
    """A cached blob goes out with sendfile(2) below the HTTP codec, so the request is over for the
    server long before the bytes are: shutdown must still wait for them (it cut them at once)."""
    from requests.adapters import HTTPAdapter

    image = make_big_image(tmp_path_factory.mktemp("sigterm-cached"), size=24 * MIB, tag=catalog.TAG, seed="sigterm-cached")
    upstream.push(image, "hardening/sigterm-cached")
    blob = image.largest_layer()
    srv = hardened_factory("--shutdown-grace", "30s", *guard_args())
    tenant = srv.tenant(upstream)
    s = srv.session(tenant.license_id)
    repo = tenant.repo("hardening/sigterm-cached")
    assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200
    assert blob_outcome(s, f"{srv.url}/v2/{repo}/blobs/{blob.digest}")[:2] == (200, blob.digest), "the blob was not cached first"
    # A restart, so the blob is served from the store and not from the fill that cached it.
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.proc.wait(timeout=30) == 0, srv.proc.log_tail(20)
    restart(srv)
    wait_ready(srv)

    class SmallWindow(HTTPAdapter):
        """A 32 KiB receive buffer: the kernel cannot take the whole blob off the server's hands."""

        def init_poolmanager(self, *args, **kwargs):
            kwargs["socket_options"] = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)]
            super().init_poolmanager(*args, **kwargs)

    s.mount("http://", SmallWindow())
    progress, result = {"bytes": 0}, {}

    def download():
        h = hashlib.sha256()
        try:
            r = s.get(f"{srv.url}/v2/{repo}/blobs/{blob.digest}", stream=True, timeout=(10, 60))
            for chunk in r.iter_content(64 * 1024):
                h.update(chunk)
                progress["bytes"] += len(chunk)
                time.sleep(0.01)  # about 6 MiB/s: the download lasts about 4 s
            result["outcome"] = (r.status_code, "sha256:" + h.hexdigest(), progress["bytes"])
        except Exception as exc:  # noqa: BLE001 - whatever ends the download is the outcome
            result["outcome"] = ("error", repr(exc), progress["bytes"])

    t = threading.Thread(target=download, daemon=True)
    t.start()
    wait_until(lambda: progress["bytes"] >= MIB or "outcome" in result, timeout=20,
               message=f"the download never started\n{srv.proc.log_tail(20)}")
    assert "outcome" not in result, f"the download ended before SIGTERM: {result}"
    os.kill(srv.proc.pid, signal.SIGTERM)
    t.join(timeout=60)
    assert not t.is_alive(), "the in-flight download hung during shutdown"
    assert result.get("outcome") == (200, blob.digest, blob.size), \
        f"a cached blob's download was cut by SIGTERM: {result}\n{srv.proc.log_tail(20)}"
    s.close()
    assert srv.proc.proc.wait(timeout=10) == 0, srv.proc.log_tail(20)
