"""Several Portcullis replicas on one shared store, a client that reports when its first bytes came,
and one replica's fill under way for another to stream."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import List, Optional

import requests

from . import catalog
from .backends import SharedStore
from .faults import blob_path
from .hardening import MEDIUM_REPO, fast_stop, guard_args, medium_image, spool_bytes
from .oci import get_manifest
from .portcullis import PortcullisServer
from .util import wait_until

MIB = 1 << 20


class Replicas:
    """Several `portcullis serve` on one store, started like a deployment would: the same
    secret key and admin token everywhere, nothing else in common."""

    def __init__(self, binary: Path, workdir: Path, store: SharedStore, count: int, args=None, env=None):
        self.store = store
        self.servers: List[PortcullisServer] = [
            PortcullisServer(workdir / f"replica-{i}", binary, guard_args() if args is None else args, store=store,
                             env={"PORTCULLIS_ADMIN_TOKEN": store.admin_token, **(env or {})})
            for i in range(count)
        ]
        # Behind a load balancer every replica answers to one public name, which is what they
        # are told (a Host they were not told of is never echoed into tokens and challenges).
        for srv in self.servers:
            srv.extra_args += ["--public-url", f"http://{self.servers[0].host}"]

    def start(self) -> "Replicas":
        for srv in self.servers:
            srv.start()
        return self

    def stop(self) -> None:
        for srv in self.servers:
            fast_stop(srv)

    def __getitem__(self, i: int) -> PortcullisServer:
        return self.servers[i]

    def __len__(self) -> int:
        return len(self.servers)


class Pull:
    """A client pulling one blob on a thread (see `follow`)."""

    def __init__(self, session: requests.Session, url: str) -> None:
        self.first_bytes = threading.Event()
        #: ``first_byte_at`` and ``ended_at`` (monotonic), and ``outcome``: (status, sha256, size)
        #: or ("error", repr, None).
        self.result: dict = {}
        self._thread = threading.Thread(target=self._pull, args=(session, url), daemon=True)
        self._thread.start()

    def _pull(self, session: requests.Session, url: str) -> None:
        try:
            r = session.get(url, stream=True, timeout=(10, 60))
            digest, size = hashlib.sha256(), 0
            for chunk in r.iter_content(64 * 1024):
                if size == 0:
                    self.result["first_byte_at"] = time.monotonic()
                    self.first_bytes.set()
                digest.update(chunk)
                size += len(chunk)
            self.result["outcome"] = (r.status_code, "sha256:" + digest.hexdigest(), size)
        except requests.RequestException as exc:
            self.result["outcome"] = ("error", repr(exc), None)
        finally:
            self.result["ended_at"] = time.monotonic()
            self.first_bytes.set()

    def got_bytes(self, timeout: float = 30) -> bool:
        """Waits for its first bytes (or its end); whether bytes came."""
        self.first_bytes.wait(timeout)
        return "first_byte_at" in self.result

    def join(self, timeout: float = 60) -> Optional[tuple]:
        """Waits for its end; its outcome."""
        self._thread.join(timeout)
        return self.result.get("outcome")


def follow(session: requests.Session, url: str) -> Pull:
    """Starts a client pulling ``url`` on a thread."""
    return Pull(session, url)


class FillUnderWay:
    """The medium image's layer being fetched by replica 0 through a fault server in front of the
    upstream (one rule on the blob's GETs), its first MiB in the spool: where the tests of a
    replica streaming another's fill start. ``first`` is replica 0's client."""

    def __init__(self, replicas: Replicas, upstream, fault, image, action: str, rule: dict) -> None:
        self.image = image
        self.blob = image.largest_layer()
        self.fault = fault
        self.tenant = replicas[0].tenant(upstream, endpoint=fault.url)
        self.repo = self.tenant.repo(MEDIUM_REPO)
        self.filler, self.follower = replicas[0], replicas[1]
        session = self.filler.session(self.tenant.license_id)
        assert get_manifest(session, self.filler.url, self.repo, catalog.TAG).status_code == 200
        fault.set(blob_path(self.blob.digest), action, methods=["GET"], **rule)
        self.first = self.pull(self.filler)
        wait_until(lambda: spool_bytes(self.filler) >= MIB, timeout=20, message="the first replica's fill never reached 1 MiB")

    def url(self, srv: PortcullisServer) -> str:
        return f"{srv.url}/v2/{self.repo}/blobs/{self.blob.digest}"

    def pull(self, srv: PortcullisServer) -> Pull:
        return follow(srv.session(self.tenant.license_id), self.url(srv))

    def upstream_gets(self) -> int:
        return len(self.fault.seen(blob_path(self.blob.digest), method="GET"))


def start_fill(replicas: Replicas, upstream, fault_factory, tmp_path_factory, action: str, **rule) -> FillUnderWay:
    """Replica 0 fetching the medium layer under the fault rule ``action`` (``rule``: its settings)."""
    return FillUnderWay(replicas, upstream, fault_factory(upstream), medium_image(tmp_path_factory, upstream), action, rule)
