"""Resource exhaustion: a full disk, descriptors, upload sessions and trickling bodies.

Fixes for what a probe of Portcullis under resource exhaustion found:

- A vendor push (chunked PATCH or monolithic POST) bigger than the free space on the data
  directory gets 503 ``UNAVAILABLE`` "storage is full" with ``Retry-After``, not 400
  ``BLOB_UPLOAD_INVALID``; nothing partial is visible; the log has an error-level line;
  once space is freed the same chunked session resumes and the blob is right.
- A monolithic ``POST .../blobs/uploads/?digest=`` whose body is cut off leaves no spool
  file (the session and its open file used to stay for an hour).
- At most 1000 upload sessions are open: the 1001st POST gets 429 ``TOOMANYREQUESTS`` with
  ``Retry-After``, a DELETE makes room again, and cached pulls work meanwhile.
- At its descriptor limit the server fails requests, never the process (it used to abort
  with "unacceptable errno 9 Bad file descriptor in sendfile" serving a stored blob).
- Request bodies trickling in (twenty sign-in forms, 1 byte every 5 s) have their
  connections closed after the 30 s grace, while other requests are answered, and the
  server lives on afterwards.
- At start the server raises its descriptor soft limit to the hard one, and warns when the
  hard limit is low.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import resource
import select
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.hardening import (  # noqa: F401 - fixtures
    basic,
    blob_outcome,
    guard_args,
    hardened_factory,
    request_head,
    send_until_response,
    spool_files,
    stored_blob,
    tmpfs,
)
from portcullis_testkit.helm import create_token
from portcullis_testkit.oci import error_codes, get_manifest
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.util import free_port, tail, unique, wait_until

MIB = 1 << 20
KIB = 1 << 10
#: LocalUploadSessions' bound on open upload sessions.
SESSION_LIMIT = 1000
#: Error-level lines of the text log: "<timestamp> error portcullis: ...".
ERROR_LINE = re.compile(r"^\S+ (?:error|critical) portcullis: .*$", re.M)


# ------------------------------------------------------------------ helpers
def _log(srv: PortcullisServer) -> str:
    return srv.proc.log_tail(80) if srv.proc is not None else "(not started)"


def _payload(size: int, seed: str) -> Tuple[bytes, str]:
    data = random.Random(seed).randbytes(size)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def _vendor(srv: PortcullisServer) -> Tuple[str, Tuple[str, str]]:
    """A fresh app and a push token for it: (app slug, basic-auth credentials)."""
    app = srv.create_app()["slug"]
    return app, ("vendor", create_token(srv, scope="push")["token"])


def _start_upload(s: requests.Session, srv: PortcullisServer, repo: str) -> str:
    r = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert r.status_code == 202, f"upload start: {r.status_code} {r.text[:300]}\n{_log(srv)}"
    return urljoin(srv.url + "/", r.headers["Location"])


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + f"digest={digest}"


def _blocks(data: bytes, block: int = 64 * KIB):
    for off in range(0, len(data), block):
        yield data[off:off + block]


def _fill_disk(path: Path, leave: int) -> Path:
    """Write a filler file so that only ``leave`` bytes stay free on ``path``'s filesystem."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    filler = path / "e2e-filler.bin"
    with open(filler, "wb") as f:
        left = free - leave
        block = b"\0" * MIB
        while left > 0:
            f.write(block[:min(MIB, left)])
            left -= MIB
    return filler


def _assert_storage_full(outcome, what: str, srv: PortcullisServer) -> None:
    assert outcome.status == 503, (
        f"{what} bigger than the free space: expected 503, got {outcome.status} {outcome.body[:300]!r} "
        f"({outcome.error})\n{_log(srv)}"
    )
    assert outcome.codes() == ["UNAVAILABLE"], f"{what}: error codes {outcome.codes()} in {outcome.body[:300]!r}"
    assert b"storage is full" in outcome.body, f"{what}: the message does not say storage is full: {outcome.body[:300]!r}"
    retry = {k.lower(): v for k, v in outcome.headers.items()}.get("retry-after")
    assert retry and retry.strip().isdigit(), f"{what}: no Retry-After seconds in {outcome.headers}"


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _assert_no_abort(srv: PortcullisServer) -> None:
    """The process is running and its log shows no trap (a Swift precondition or fatal error)."""
    returncode = srv.proc.proc.poll() if srv.proc is not None else "not started"
    text = srv.log_text()
    for sign in ("Precondition failed", "Fatal error", "*** Signal"):
        lines = [ln for ln in text.splitlines() if sign in ln]
        assert not lines, f"the server aborted (returncode {returncode}): {lines[0]!r}\n{_log(srv)}"
    assert returncode is None, f"the server died (returncode {returncode}):\n{_log(srv)}"


# ------------------------------------------------------------------ 1. disk full during a push
def test_disk_full_during_vendor_push_is_503_and_the_session_resumes(hardened_factory):
    data, digest = _payload(6 * MIB, "resource-limits-disk-full")
    other, other_digest = _payload(3 * MIB, "resource-limits-after-full")
    srv = hardened_factory(*guard_args(), start=False)
    with tmpfs(srv.data_dir, "24m"):
        try:
            srv.start()
            app, vendor = _vendor(srv)
            license_id = srv.create_customer(app)["licenseId"]
            repo = f"{app}/{unique('full')}"
            s = requests.Session()
            s.auth = vendor
            auth = basic(*vendor)

            # The first MiB arrives while there is room.
            location = _start_upload(s, srv, repo)
            first = s.patch(location, data=data[:MIB], timeout=30,
                            headers={"Content-Type": "application/octet-stream", "Content-Range": f"0-{MIB - 1}"})
            assert first.status_code == 202, f"first chunk: {first.status_code} {first.text[:300]}\n{_log(srv)}"
            location = urljoin(srv.url + "/", first.headers.get("Location") or location)

            filler = _fill_disk(srv.data_dir, leave=2 * MIB)  # less than the 5 MiB still to come

            rest = data[MIB:]
            head = request_head("PATCH", _path(location), srv.host, {
                "Authorization": auth, "Content-Type": "application/octet-stream",
                "Content-Range": f"{MIB}-{len(data) - 1}", "Content-Length": str(len(rest))})
            _assert_storage_full(send_until_response(srv.host, head, _blocks(rest)), "chunked PATCH", srv)

            head = request_head("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", srv.host, {
                "Authorization": auth, "Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
            _assert_storage_full(send_until_response(srv.host, head, _blocks(data)), "monolithic POST", srv)

            assert srv.alive(), f"the server died on a full disk:\n{_log(srv)}"
            blob_url = f"{srv.url}/v2/{repo}/blobs/{digest}"
            h = s.head(blob_url, timeout=30)
            assert h.status_code == 404, f"a blob that did not fit is visible: HEAD {h.status_code}"
            assert not stored_blob(srv, digest.split(":")[1]), f"partial blob stored: {stored_blob(srv, digest.split(':')[1])}"
            wait_until(lambda: [ln for ln in ERROR_LINE.findall(srv.log_text()) if "full" in ln or "No space" in ln],
                       timeout=10, message=lambda: f"no error-level log line about the full disk:\n{_log(srv)}")

            filler.unlink()

            # The session kept the first MiB: resume from the Range it reports.
            g = s.get(location, timeout=30)
            assert g.status_code == 204, f"GET of the upload after the full disk: {g.status_code} {g.text[:300]}\n{_log(srv)}"
            m = re.fullmatch(r"0-(\d+)", g.headers.get("Range", ""))
            assert m, f"the upload reports no Range after the full disk: {g.headers}"
            offset = int(m.group(1)) + 1
            assert offset == MIB, f"the session kept {offset} bytes, not the {MIB} acknowledged before the disk filled"
            p = s.patch(location, data=data[offset:], timeout=60,
                        headers={"Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{len(data) - 1}"})
            assert p.status_code == 202, f"resumed PATCH: {p.status_code} {p.text[:300]}\n{_log(srv)}"
            location = urljoin(srv.url + "/", p.headers.get("Location") or location)
            put = s.put(_with_digest(location, digest), timeout=60)
            assert put.status_code == 201, f"PUT after resuming: {put.status_code} {put.text[:300]}\n{_log(srv)}"

            # A new monolithic push works again too.
            mono = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", params={"digest": other_digest}, data=other, timeout=60,
                          headers={"Content-Type": "application/octet-stream"})
            assert mono.status_code == 201, f"monolithic push after freeing space: {mono.status_code} {mono.text[:300]}"

            customer = requests.Session()
            customer.auth = ("c", license_id)
            for want, size in ((digest, len(data)), (other_digest, len(other))):
                got = blob_outcome(customer, f"{srv.url}/v2/{repo}/blobs/{want}")
                assert got == (200, want, size), f"pulled {got}, pushed {want} ({size} bytes)\n{_log(srv)}"
        finally:
            if srv.proc is not None:
                srv.proc.stop(timeout=2)


# ------------------------------------------------------------------ 2. cut-off monolithic POST
@pytest.mark.embedded_only("local upload sessions kept the spool file of a cut-off monolithic POST open; "
                           "shared sessions already discarded it")
def test_cut_off_monolithic_post_leaves_no_spool_file(hardened_factory):
    srv = hardened_factory(*guard_args())
    app, vendor = _vendor(srv)
    repo = f"{app}/{unique('cutoff')}"
    data, digest = _payload(MIB, "resource-limits-cut-off")
    head = request_head("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", srv.host, {
        "Authorization": basic(*vendor), "Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
    for attempt in range(3):
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            sock.sendall(head + data[:100 * KIB])
            # The body is being spooled (so the check below is about that file)...
            wait_until(lambda: spool_files(srv), timeout=10,
                       message=lambda: f"the monolithic body never reached the spool:\n{_log(srv)}")
        finally:
            sock.close()  # ...then the client goes away, 900 KiB short.
        wait_until(lambda: not spool_files(srv), timeout=10,
                   message=lambda: f"attempt {attempt + 1}: spool file(s) left by a cut-off monolithic POST: "
                                   f"{spool_files(srv)}\n{_log(srv)}")
    assert srv.alive(), _log(srv)
    h = requests.head(f"{srv.url}/v2/{repo}/blobs/{digest}", auth=vendor, timeout=30)
    assert h.status_code == 404, f"a cut-off monolithic upload is visible: HEAD {h.status_code}"
    done = requests.post(f"{srv.url}/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data, auth=vendor, timeout=60)
    assert done.status_code == 201, f"the whole POST afterwards: {done.status_code} {done.text[:300]}\n{_log(srv)}"
    assert not spool_files(srv), f"spool file(s) after a completed monolithic POST: {spool_files(srv)}"


# ------------------------------------------------------------------ 3. bounded upload sessions
@pytest.mark.embedded_only("the bound is on local upload sessions (each holds an open spool file); "
                           "shared sessions are database rows")
def test_upload_sessions_are_bounded_and_pulls_keep_working(hardened_factory, upstream, images):
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    vendor = ("vendor", create_token(srv, scope="push")["token"])
    repo = f"{tenant.app}/{unique('sessions')}"
    customer = srv.session(tenant.license_id)
    proxied = tenant.repo(catalog.THREE_REPO)
    layer = images.three.largest_layer()
    blob_url = f"{srv.url}/v2/{proxied}/blobs/{layer.digest}"
    assert get_manifest(customer, srv.url, proxied, catalog.TAG).status_code == 200, _log(srv)
    assert blob_outcome(customer, blob_url) == (200, layer.digest, layer.size), _log(srv)
    wait_until(lambda: stored_blob(srv, layer.hex), timeout=30, message="the pulled layer was not cached")

    s = requests.Session()
    s.auth = vendor
    locations: List[str] = []
    for i in range(SESSION_LIMIT):
        r = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", timeout=30)
        assert r.status_code == 202, f"POST {i + 1} of {SESSION_LIMIT}: {r.status_code} {r.text[:300]}\n{_log(srv)}"
        locations.append(urljoin(srv.url + "/", r.headers["Location"]))

    over = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert over.status_code == 429, (
        f"upload session {SESSION_LIMIT + 1}: expected 429, got {over.status_code} {over.text[:300]}\n{_log(srv)}")
    assert error_codes(over) == ["TOOMANYREQUESTS"], over.text[:300]
    assert (over.headers.get("Retry-After") or "").strip().isdigit(), f"no Retry-After seconds: {dict(over.headers)}"

    # Everyone else's pulls are not affected by the open sessions.
    assert get_manifest(customer, srv.url, proxied, catalog.TAG).status_code == 200, _log(srv)
    for _ in range(3):
        got = blob_outcome(customer, blob_url)
        assert got == (200, layer.digest, layer.size), f"cached pull with {SESSION_LIMIT} sessions open: {got}\n{_log(srv)}"

    d = s.delete(locations.pop(), timeout=30)
    assert d.status_code in (202, 204), f"DELETE of an upload session: {d.status_code} {d.text[:300]}"
    again = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert again.status_code == 202, f"POST after a DELETE made room: {again.status_code} {again.text[:300]}\n{_log(srv)}"
    full = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert full.status_code == 429, f"the room one DELETE made was given twice: {full.status_code}"
    assert srv.alive(), _log(srv)


# ------------------------------------------------------------------ 4. descriptor limit
@pytest.mark.embedded_only("stored blobs are served from the local blob directory with sendfile(2)")
def test_at_the_descriptor_limit_requests_fail_not_the_process(hardened_factory):
    """The probe's recipe: upload sessions until the server is out of descriptors, then a
    GET of a stored blob with exactly 1, 2, 3 or 4 descriptors free (2 made the old server
    abort in sendfile). PortcullisServer cannot take a preexec_fn, so the limit is set on the
    running process with prlimit(2), before the first upload session is opened."""
    limit = 300
    srv = hardened_factory(*guard_args())
    pid = srv.proc.pid
    app, vendor = _vendor(srv)
    license_id = srv.create_customer(app)["licenseId"]
    repo = f"{app}/{unique('fds')}"
    data, digest = _payload(512 * KIB, "resource-limits-descriptors")
    pushed = requests.post(f"{srv.url}/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data, auth=vendor, timeout=60)
    assert pushed.status_code == 201, f"push: {pushed.status_code} {pushed.text[:300]}"
    customer = requests.Session()
    customer.auth = ("c", license_id)
    blob_url = f"{srv.url}/v2/{repo}/blobs/{digest}"
    assert blob_outcome(customer, blob_url) == (200, digest, len(data)), _log(srv)
    customer.close()

    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    s = requests.Session()
    s.auth = vendor
    locations: List[str] = []
    refusal: Optional[requests.Response] = None
    opened = 0
    idle: List[socket.socket] = []
    outcomes = []
    try:
        for _ in range(limit + 50):
            r = s.post(f"{srv.url}/v2/{repo}/blobs/uploads/", timeout=30)
            if r.status_code != 202:
                refusal = r
                opened = len(locations)
                break
            locations.append(urljoin(srv.url + "/", r.headers["Location"]))
        assert refusal is not None, f"{len(locations)} upload sessions opened under a limit of {limit} descriptors"
        _assert_no_abort(srv)

        def settle() -> int:
            last, same = -1, 0
            for _ in range(40):
                n = _fds(pid)
                same = same + 1 if n == last else 0
                if same >= 3:
                    return n
                last = n
                time.sleep(0.05)
            return n

        for free in (2, 1, 2, 3, 4, 2):
            for _ in range(20):
                now = limit - settle()
                if now == free:
                    break
                if now < free and locations:
                    s.delete(locations.pop(), timeout=10)
                elif now > free:
                    idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
                    time.sleep(0.1)
            try:
                r = requests.get(blob_url, auth=("c", license_id), timeout=(5, 10))
                outcomes.append((now, r.status_code, len(r.content)))
            except requests.RequestException as exc:
                outcomes.append((now, "error", type(exc).__name__))
            time.sleep(0.3)
            _assert_no_abort(srv)
    finally:
        for sock in idle:
            sock.close()
        for loc in locations:
            try:
                s.delete(loc, timeout=10)
            except requests.RequestException:
                pass
        s.close()

    _assert_no_abort(srv)
    # (descriptors free, status, bytes) of each GET: the case that aborted the old server was run.
    assert [o for o in outcomes if o[0] == 2], f"never reached exactly 2 free descriptors: {outcomes}"
    wait_until(lambda: requests.get(srv.url + "/healthz", timeout=2).status_code == 200, timeout=20,
               message=lambda: f"/healthz not 200 after the sessions and connections were closed ({outcomes}):\n{_log(srv)}")
    customer = requests.Session()
    customer.auth = ("c", license_id)
    got = blob_outcome(customer, blob_url)
    assert got == (200, digest, len(data)), f"the stored blob after the descriptor shortage: {got}\n{_log(srv)}"
    # Out of descriptors is the server's shortage, said as such (not a 500 "internal error").
    assert refusal.status_code == 503 and error_codes(refusal) == ["UNAVAILABLE"], (
        f"upload session {opened + 1} without a descriptor: {refusal.status_code} {refusal.text[:300]}")
    assert "file descriptors" in refusal.text and refusal.headers.get("Retry-After"), (
        f"the refusal does not name descriptors or lacks Retry-After: {dict(refusal.headers)} {refusal.text[:300]}")
    _assert_no_abort(srv)


# ------------------------------------------------------------------ 5. trickling body
def test_trickled_request_bodies_are_cut_off_after_the_grace(hardened_factory):
    """Twenty sign-in forms trickling 1 byte every 5 s: each connection is closed after the
    30 s grace (not before, so it is the pace that closed it), /healthz is answered
    meanwhile, and the server lives on afterwards (a few seconds are watched for an abort)."""
    srv = hardened_factory(*guard_args())
    head = request_head("POST", "/portal/login", srv.host, {
        "Origin": srv.url, "Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100000"})
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(20)]
    t0 = time.monotonic()
    closed = {}  # socket index -> (seconds after the head, how)
    normal: List[int] = []
    try:
        for sock in socks:
            sock.sendall(head + b"email=a")
        next_byte = t0 + 5
        while time.monotonic() - t0 < 40 and len(closed) < len(socks):
            live = {sock: i for i, sock in enumerate(socks) if i not in closed}
            wait = max(0.0, min(next_byte, t0 + 40) - time.monotonic())
            readable, _, _ = select.select(list(live), [], [], wait)
            for sock in readable:
                try:
                    got = sock.recv(4096)
                    how = f"answered {got[:120]!r}" if got else "closed"
                except OSError as exc:
                    how = repr(exc)
                closed[live[sock]] = (time.monotonic() - t0, how)
            if time.monotonic() >= next_byte:
                for sock, i in live.items():
                    if i in closed:
                        continue
                    try:
                        sock.sendall(b"a")
                    except OSError as exc:
                        closed[i] = (time.monotonic() - t0, repr(exc))
                next_byte += 5
                if len(normal) < 2:  # meanwhile, other clients are served
                    normal.append(requests.get(srv.url + "/healthz", timeout=5).status_code)
    finally:
        for sock in socks:
            sock.close()
    _assert_no_abort(srv)  # first: an abort also ends (or freezes) the connections
    assert len(closed) == len(socks), (
        f"bodies trickling 1 byte every 5 s still open after 40 s (closed: {closed})\n{_log(srv)}")
    early = {i: c for i, c in closed.items() if c[0] < 25}
    assert not early, f"connections ended before the 30 s grace, so not for their pace: {early}"
    assert normal == [200, 200], f"/healthz while bodies trickled: {normal}"
    time.sleep(3)
    _assert_no_abort(srv)
    try:
        r = requests.get(srv.url + "/healthz", timeout=5)
    except requests.RequestException as exc:
        pytest.fail(f"/healthz after the slow bodies were cut off: {exc!r}\n{_log(srv)}")
    assert r.status_code == 200, f"/healthz after the slow bodies were cut off: {r.status_code}"
    _assert_no_abort(srv)


# ------------------------------------------------------------------ 6. descriptor soft limit at start
def _serve_with_nofile(binary: Path, workdir: Path, soft: int, hard: int):
    """``portcullis serve`` started with RLIMIT_NOFILE (soft, hard); returns (process, log path)
    once it says it is listening. The caller stops it with :func:`_stop`."""
    log_path = workdir / "portcullis.log"
    log = open(log_path, "ab", buffering=0)
    args = [str(binary), "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(workdir / "data"),
            *guard_args()]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))
    log.close()
    try:
        def listening():
            if proc.poll() is not None:
                raise AssertionError(f"portcullis exited with {proc.returncode}:\n{tail(log_path, 40)}")
            return "Portcullis listening on" in log_path.read_text(errors="replace")

        wait_until(listening, timeout=60, message=lambda: f"portcullis never said it was listening:\n{tail(log_path, 40)}")
    except BaseException:
        _stop(proc)
        raise
    return proc, log_path


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _nofile(pid: int) -> Tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError(f"no 'Max open files' in /proc/{pid}/limits")


def test_descriptor_soft_limit_is_raised_to_the_hard_limit(portcullis_binary, tmp_path):
    proc, log_path = _serve_with_nofile(portcullis_binary, tmp_path, 256, 4096)
    try:
        limits = _nofile(proc.pid)
        text = log_path.read_text(errors="replace")
    finally:
        _stop(proc)
    assert limits == ("4096", "4096"), f"started with 256/4096, the server runs with {limits}:\n{tail(log_path, 40)}"
    assert "few file descriptors" not in text, f"warned about 4096 descriptors:\n{tail(log_path, 40)}"


def test_low_hard_descriptor_limit_is_warned_at_start(portcullis_binary, tmp_path):
    proc, log_path = _serve_with_nofile(portcullis_binary, tmp_path, 1024, 1024)
    try:
        limits = _nofile(proc.pid)
        alive = proc.poll() is None
    finally:
        _stop(proc)
    text = log_path.read_text(errors="replace")
    warned = [ln for ln in text.splitlines() if "few file descriptors" in ln]
    assert warned, f"no 'few file descriptors' warning with a hard limit of 1024:\n{tail(log_path, 40)}"
    assert re.match(r"^\S+ warning portcullis: ", warned[0]) and "1024" in warned[0], f"the warning: {warned[0]!r}"
    assert limits == ("1024", "1024") and alive, f"limits {limits}, alive {alive}:\n{tail(log_path, 40)}"
