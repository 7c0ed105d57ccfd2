"""Fixes found by running Portcullis as an operator would: SIGHUP on a plain-HTTP server, two
servers on one data directory, a corrupt SQLite file, `config check` refusing URLs and durations
that `serve` cannot use, a database URL with an impossible port, a data directory, admin token or
secret key that cannot be used, AsyncHTTPClient's trace lines (upstream response heads) kept out
of the log, and a graceful shutdown that says so and loses no cache recency.

Every server here binds to 127.0.0.1 on a free port and is stopped in a ``finally`` block or by
``PortcullisServer.stop``; every failure message shows the process's output.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import get_manifest
from portcullis_testkit.portcullis import CliResult, PortcullisServer, env_without_portcullis, run_bounded
from portcullis_testkit.util import free_port, wait_until


# ------------------------------------------------------------------- helpers
_env = env_without_portcullis
_run = run_bounded


def _serve(binary: Path, data_dir: Path, *extra: str, env: Optional[Dict[str, str]] = None,
           timeout: float = 30.0) -> CliResult:
    """A ``serve`` expected to refuse to start (the test fails if it is still running at ``timeout``)."""
    return _run([binary, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", data_dir, *extra],
                env=env, timeout=timeout)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _healthz(srv: PortcullisServer) -> int:
    return requests.get(srv.url + "/healthz", timeout=5).status_code


def _pull_manifest(srv: PortcullisServer, upstream) -> None:
    """Create an app, register the upstream, create a customer and pull the 3-layer image's
    manifest and blobs through /v2/proxy/<app>/<registry>/<repo>."""
    t = srv.tenant(upstream)
    s = srv.session(t.license_id)
    r = get_manifest(s, srv.url, t.repo(catalog.THREE_REPO), catalog.TAG)
    assert r.status_code == 200, f"manifest pull answered {r.status_code}: {r.text[:300]}\n{srv.proc.log_tail()}"
    for layer in r.json().get("layers", []):
        b = s.get(f"{srv.url}/v2/{t.repo(catalog.THREE_REPO)}/blobs/{layer['digest']}", timeout=60)
        assert b.status_code == 200, f"blob pull answered {b.status_code}: {b.text[:300]}\n{srv.proc.log_tail()}"


# ------------------------------------------------------- 1. SIGHUP without TLS
def test_sighup_on_a_plain_http_server_does_not_stop_it(portcullis_binary, tmp_path):
    """SIGHUP's default action ended a server without --tls-cert (nothing handled the signal)."""
    srv = PortcullisServer(tmp_path, portcullis_binary).start()
    try:
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_until(lambda: "SIGHUP: nothing to reload" in srv.log_text() or not srv.alive(), timeout=10,
                   message=lambda: f"no 'SIGHUP: nothing to reload' line:\n{srv.proc.log_tail()}")
        time.sleep(1)  # still serving a second later: a late death would show here
        assert srv.alive(), f"SIGHUP ended the server (exit={srv.proc.proc.returncode}):\n{srv.proc.log_tail()}"
        assert _healthz(srv) == 200, srv.proc.log_tail()
        assert "SIGHUP: nothing to reload" in srv.log_text(), srv.proc.log_tail()
    finally:
        srv.stop()


# --------------------------------------------- 2. one server per data directory
def test_a_second_serve_on_the_same_data_dir_is_refused(portcullis_binary, tmp_path):
    """A second server emptied the first's spool and pointed the local CLI at itself."""
    first = PortcullisServer(tmp_path, portcullis_binary).start()
    try:
        started = time.monotonic()
        second = _serve(portcullis_binary, first.data_dir, timeout=15)
        assert second.code == 2, second.describe()
        assert time.monotonic() - started < 10, f"the refusal took {time.monotonic() - started:.1f}s"
        assert "in use by another portcullis serve" in second.err, second.describe()
        assert str(first.proc.pid) in second.err, f"pid {first.proc.pid} not named:\n{second.describe()}"
        assert first.alive() and _healthz(first) == 200, first.proc.log_tail()
        api_url = (first.data_dir / "api-url").read_text()
        assert f":{first.port}" in api_url, f"api-url names {api_url!r}, not port {first.port}"
    finally:
        first.stop()
    assert first.proc.proc.returncode == 0, f"SIGTERM exit {first.proc.proc.returncode}:\n{first.proc.log_tail()}"
    again = PortcullisServer(tmp_path, portcullis_binary)  # same workdir => same data dir
    try:
        again.start(timeout=30)
        assert _healthz(again) == 200, again.proc.log_tail()
    finally:
        again.stop()


# ------------------------------------------------------ 3. corrupt metadata.sqlite
def test_a_corrupt_sqlite_file_is_refused_without_a_crash(portcullis_binary, tmp_path):
    """SQLiteNIO asserted on the connection dropped unclosed: a trap (132) before any message."""
    data = tmp_path / "data"
    data.mkdir()
    garbage = os.urandom(1000)
    (data / "metadata.sqlite").write_bytes(garbage)
    for attempt in range(1, 6):
        res = _serve(portcullis_binary, data, timeout=60)
        assert res.code >= 0 and res.code != 132, f"run {attempt} died of a signal or trap:\n{res.describe()}"
        assert "Assertion failed" not in res.out + res.err, f"run {attempt}:\n{res.describe()}"
        assert res.code == 2, f"run {attempt}:\n{res.describe()}"
        assert "cannot open the SQLite database" in res.err, f"run {attempt}:\n{res.describe()}"
    assert (data / "metadata.sqlite").read_bytes() == garbage, "the corrupt database was changed, not left for the operator"


# -------------------------------------------------------- 4. config check on URLs
REFUSED = [
    ("publicURL", "ftp://x"),
    ("publicURL", "https://reg.example.com:99999"),
    ("publicURL", "http://x/path"),
    ("publicURL", "http://"),
    ("advertiseURL", "http://10.0.0.1:99999"),
    ("tokenTTL", "0s"),
    ("upstreamTimeout", "0s"),
]
# These were accepted before the fixes too: they guard against the new checks refusing too much.
ACCEPTED = ["https://reg.example.com:8443", "http://[::1]:8443", "reg.example.com"]


def _config(tmp_path: Path, key: str, value: str) -> Path:
    path = tmp_path / "portcullis.yaml"
    path.write_text(f'{key}: "{value}"\n')
    return path


@pytest.mark.parametrize("key,value", REFUSED, ids=[f"{k}={v}" for k, v in REFUSED])
def test_config_check_refuses_what_serve_cannot_use(portcullis_binary, tmp_path, key, value):
    res = _run([portcullis_binary, "config", "check", _config(tmp_path, key, value)])
    assert res.code != 0, f"`config check` accepted {key}: {value!r}:\n{res.describe()}"
    assert f"{key}:" in res.err, f"the refusal does not name {key}:\n{res.describe()}"


@pytest.mark.parametrize("value", ACCEPTED)
def test_config_check_accepts_public_urls_with_a_port_ipv6_or_no_scheme(portcullis_binary, tmp_path, value):
    res = _run([portcullis_binary, "config", "check", _config(tmp_path, "publicURL", value)])
    assert res.code == 0, f"`config check` refused publicURL {value!r}:\n{res.describe()}"


def test_serve_refuses_the_config_check_refuses_with_the_same_message(portcullis_binary, tmp_path):
    config = _config(tmp_path, "publicURL", "ftp://x")
    check = _run([portcullis_binary, "config", "check", config])
    assert check.code != 0, check.describe()
    res = _serve(portcullis_binary, tmp_path / "data", "--config", str(config), timeout=15)
    assert res.code == 2, res.describe()
    assert _last_line(check.err) and _last_line(res.err).endswith(_last_line(check.err)), \
        f"serve and config check say different things:\nserve:\n{res.describe()}\ncheck:\n{check.describe()}"


# ---------------------------------------------------- 5. database URL's port
def test_a_database_url_with_an_impossible_port_is_refused_without_the_password(portcullis_binary, tmp_path):
    """Foundation read 99999 and the driver kept 16 bits of it: it connected to 34463, password and all."""
    key = _run([portcullis_binary, "keygen"])
    assert key.code == 0 and key.out.strip(), key.describe()
    res = _serve(portcullis_binary, tmp_path / "data", "--database", "postgres://u:PW@127.0.0.1:99999/db",
                 env=_env({"PORTCULLIS_SECRET_KEY": key.out.strip()}), timeout=30)
    assert res.code == 2, res.describe()
    assert "port 99999 is not a port" in res.err, res.describe()
    assert "PW" not in res.out + res.err, f"the database password is in the output:\n{res.describe()}"


# ------------------------------------------------------- 6. unusable --data-dir
def test_a_data_dir_that_cannot_be_created_or_is_a_file_is_named(portcullis_binary, tmp_path):
    res = _serve(portcullis_binary, Path("/proc/nope/x"), timeout=15)
    assert res.code == 2, res.describe()
    assert "/proc/nope" in res.err and "--data-dir" in res.err, res.describe()
    assert "NSCocoaErrorDomain" not in res.out + res.err, res.describe()

    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x\n")
    res = _serve(portcullis_binary, a_file, timeout=15)
    assert res.code == 2, res.describe()
    assert "is a file, not a directory" in res.err, res.describe()


# ---------------------------------------------- 7. admin token and secret key files
def _data_dir_holding(root: Path, name: str, text: str) -> Path:
    """A private data directory with one file ``name`` holding ``text``."""
    root.mkdir(mode=0o700)
    (root / name).write_text(text)
    (root / name).chmod(0o600)
    return root


def test_a_short_admin_token_file_or_garbage_secret_key_is_refused(portcullis_binary, tmp_path):
    short = _data_dir_holding(tmp_path / "short", "admin-token", "short\n")
    res = _serve(portcullis_binary, short, timeout=15)
    assert res.code == 2, res.describe()
    assert "shorter than 24 characters" in res.err and str(short / "admin-token") in res.err, res.describe()

    garbage = _data_dir_holding(tmp_path / "garbage", "secret.key", "garbage")
    res = _serve(portcullis_binary, garbage, timeout=15)
    assert res.code == 2, res.describe()
    assert str(garbage / "secret.key") in res.err, res.describe()


# ----------------------------------------- 8. no AsyncHTTPClient heads at trace level
# AsyncHTTPClient at trace logs each response head and body part (the old binary's log had
# `ahc-http-part` and `ahc-response-head` lines with the upstream's Www-Authenticate,
# Set-Cookie and Docker-Distribution-Api-Version headers).
AHC_TRACE = re.compile(r"ahc-http-part|ahc-response|Www-Authenticate|Set-Cookie|Docker-Distribution-Api-Version",
                       re.IGNORECASE)


def test_trace_level_does_not_log_upstream_response_heads(portcullis_binary, upstream, tmp_path):
    srv = PortcullisServer(tmp_path, portcullis_binary, ["--log-level", "trace"]).start()
    try:
        _pull_manifest(srv, upstream)
        log = srv.log_text()
        assert " trace " in log, f"--log-level trace logged no trace line; the check below would prove nothing:\n{srv.proc.log_tail()}"
        leaks = [line for line in log.splitlines() if AHC_TRACE.search(line)]
        assert not leaks, "upstream response heads in the log:\n" + "\n".join(line[:300] for line in leaks[:10])
        assert upstream.password not in log, "the upstream password is in the log"
    finally:
        srv.stop()


# ------------------------------------------------------ 9. graceful shutdown
def test_graceful_shutdown_after_pulls_says_so_and_keeps_cache_recency(portcullis_binary, upstream, tmp_path):
    """The evictor ran a pass after shutdown's cancellation: its write failed and the recency was lost."""
    srv = PortcullisServer(tmp_path, portcullis_binary).start()
    try:
        _pull_manifest(srv, upstream)
        os.kill(srv.proc.pid, signal.SIGTERM)
        try:
            code = srv.proc.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after SIGTERM:\n{srv.proc.log_tail()}")
    finally:
        srv.stop()
    log = srv.log_text()
    assert code == 0, f"exit {code} after SIGTERM:\n{srv.proc.log_tail()}"
    assert "could not record cache recency" not in log, srv.proc.log_tail()
    for message in ("shutting down", "stopped"):
        assert re.search(rf"\bnotice\b.*\b{message}\b", log), f"no notice-level {message!r} line:\n{srv.proc.log_tail()}"
