"""Fixtures for the Portcullis end-to-end suite.

Run with:  .venv/bin/python -m pytest e2e
Binary:    $PORTCULLIS_BIN or <repo>/.build/debug/portcullis (missing => every
           Portcullis test FAILS, it is never skipped).
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import pytest

from portcullis_testkit import catalog  # noqa: E402
from portcullis_testkit.backends import Backend, EmbeddedBackend, SharedBackend, shared_unavailable_reason  # noqa: E402
from portcullis_testkit.images import (  # noqa: E402
    GeneratedImage,
    make_big_image,
    make_multiarch_image,
    make_three_layer_image,
)
from portcullis_testkit.portcullis import PortcullisServer, Tenant, portcullis_bin  # noqa: E402
from portcullis_testkit.proc import stop_all  # noqa: E402
from portcullis_testkit.relay import CountingListener, FaultRelay  # noqa: E402
from portcullis_testkit.replicas import Replicas  # noqa: E402
from portcullis_testkit.tlsca import TestCA  # noqa: E402
from portcullis_testkit.upstream import UpstreamRegistry  # noqa: E402


# --------------------------------------------------------------------- plumbing
def _sigterm(signum, frame):  # pragma: no cover - only on external kill
    # Turn SIGTERM into KeyboardInterrupt so pytest runs fixture finalizers
    # (which stop every process we started).
    raise KeyboardInterrupt(f"received signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _sigterm)


def pytest_unconfigure(config):
    stop_all()


def pytest_report_header(config):
    b = portcullis_bin()
    state = "found" if b.is_file() else "MISSING -> Portcullis tests will fail"
    return [f"portcullis binary: {b} ({state})"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    b = portcullis_bin()
    if not b.is_file():
        terminalreporter.section("Portcullis binary missing", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{b} does not exist: every test needing the server FAILED (errors above). "
            "Build it with `swift build` or set PORTCULLIS_BIN.",
            red=True,
        )


def _require_tool(name: str) -> None:
    from shutil import which

    if which(name) is None:
        pytest.fail(f"required tool `{name}` is not installed", pytrace=False)


# ------------------------------------------------------------------------ images
@dataclass
class Images:
    three: GeneratedImage
    multi: GeneratedImage
    big: GeneratedImage


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Images:
    """Deterministic OCI layouts generated once per session."""
    root = tmp_path_factory.mktemp("images")
    return Images(
        three=make_three_layer_image(root / "three", tag=catalog.TAG),
        multi=make_multiarch_image(root / "multi", tag=catalog.TAG),
        big=make_big_image(root / "big", size=catalog.BIG_LAYER_SIZE, tag=catalog.TAG),
    )


# ---------------------------------------------------------------------- upstream
@pytest.fixture(scope="session")
def upstream(tmp_path_factory, images) -> UpstreamRegistry:
    """Shared upstream registry (never stopped by tests), pre-populated per catalog."""
    for tool in ("docker-registry", "skopeo", "htpasswd"):
        _require_tool(tool)
    reg = UpstreamRegistry(tmp_path_factory.mktemp("upstream")).start()
    try:
        reg.push(images.three, catalog.THREE_REPO)
        reg.push(images.multi, catalog.MULTI_REPO)
        reg.push(images.big, catalog.BIG_REPO)
        first, *rest = catalog.TAGGED_TAGS
        reg.push(images.three, catalog.TAGGED_REPO, tag=first)
        for t in rest:
            reg.tag(catalog.TAGGED_REPO, first, t)
    except BaseException:
        reg.stop()
        raise
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def ca(tmp_path_factory) -> TestCA:
    """A certificate authority of this run; clients given its certificate verify Portcullis's chain."""
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def upstream_factory(tmp_path_factory) -> Callable[[], UpstreamRegistry]:
    """Start private upstream registries (for destructive tests); all stopped at teardown."""
    started: List[UpstreamRegistry] = []

    def start() -> UpstreamRegistry:
        reg = UpstreamRegistry(tmp_path_factory.mktemp("private-upstream")).start()
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()


# ----------------------------------------------------------------------- backends
_SHARED: dict = {}


def _shared_backend(request, tmp_path_factory) -> SharedBackend:
    """The one PostgreSQL cluster and moto server of this session, started on first use."""
    if "backend" not in _SHARED and "skip" not in _SHARED:
        reason = shared_unavailable_reason()
        if reason:
            _SHARED["skip"] = reason
        else:
            _SHARED["backend"] = SharedBackend(tmp_path_factory.mktemp("shared-backend"))
            request.session.config.add_cleanup(_SHARED["backend"].stop)
    if "skip" in _SHARED:
        pytest.skip(f"shared backend unavailable: {_SHARED['skip']}")
    return _SHARED["backend"]


@pytest.fixture(scope="session")
def shared_backend(request, tmp_path_factory) -> SharedBackend:
    """PostgreSQL + S3 (moto), for tests about replicas and shared storage only."""
    return _shared_backend(request, tmp_path_factory)


@pytest.fixture(scope="session", params=["embedded", "shared"])
def backend(request, tmp_path_factory) -> Backend:
    """Every test that starts a Portcullis runs once per storage backend: SQLite and a blob
    directory, then PostgreSQL and S3 (moto, signatures enforced). A test that inspects
    what only one backend has opts out with ``@pytest.mark.embedded_only("why")``."""
    if request.param == "embedded":
        return EmbeddedBackend()
    return _shared_backend(request, tmp_path_factory)


@pytest.fixture(autouse=True)
def _backend_markers(request):
    marker = request.node.get_closest_marker("embedded_only")
    if marker and "backend" in request.fixturenames and request.getfixturevalue("backend").shared:
        pytest.skip(f"embedded storage only: {marker.args[0] if marker.args else 'inspects the data directory'}")


# --------------------------------------------------------------------- portcullis
@pytest.fixture(scope="session")
def portcullis_binary() -> Path:
    b = portcullis_bin()
    if not b.is_file() or not os.access(b, os.X_OK):
        pytest.fail(
            f"Portcullis binary not found (or not executable) at {b}. "
            "Build it with `swift build` or point PORTCULLIS_BIN at it.",
            pytrace=False,
        )
    return b


@pytest.fixture(scope="session")
def portcullis(tmp_path_factory, portcullis_binary, backend) -> PortcullisServer:
    """Shared Portcullis server for tests that do not need a cold cache.

    Many tests here try refused credentials on purpose, all from 127.0.0.1; the failed-login
    limit is raised so they see the 401 they test for (the hardening tests check the limit).
    """
    srv = PortcullisServer(tmp_path_factory.mktemp("portcullis"), portcullis_binary,
                           ["--login-failure-limit", "100000"], store=backend.attach()).start()
    yield srv
    srv.stop()


@pytest.fixture
def portcullis_factory(tmp_path_factory, portcullis_binary, backend) -> Callable[..., PortcullisServer]:
    """Start private Portcullis servers (fresh data dir and storage = cold cache, fresh log)."""
    started: List[PortcullisServer] = []

    def start(*extra_args: str) -> PortcullisServer:
        srv = PortcullisServer(
            tmp_path_factory.mktemp("private-portcullis"), portcullis_binary, extra_args, store=backend.attach()
        )
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def tenant(portcullis, upstream) -> Tenant:
    """Fresh app + registration of the shared upstream + customer on the shared server."""
    return portcullis.tenant(upstream)


# ------------------------------------------------------------------ fault helpers
@pytest.fixture
def relay_factory() -> Callable[[UpstreamRegistry], FaultRelay]:
    relays: List[FaultRelay] = []

    def start(target: UpstreamRegistry) -> FaultRelay:
        r = FaultRelay("127.0.0.1", target.port)
        relays.append(r)
        return r

    yield start
    for r in relays:
        r.close()


@pytest.fixture
def counting_listener() -> CountingListener:
    cl = CountingListener()
    yield cl
    cl.close()


@pytest.fixture
def replicas(shared_backend: SharedBackend, portcullis_binary, tmp_path):
    """Three replicas on one PostgreSQL database and one bucket (skipped with the reason when
    PostgreSQL or moto cannot start)."""
    group = Replicas(portcullis_binary, tmp_path, shared_backend.attach(), 3).start()
    yield group
    group.stop()
