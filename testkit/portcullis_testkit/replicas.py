"""Several Portcullis replicas on one shared store, and a client that reports when its first bytes came."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import List

import requests

from .backends import SharedStore
from .hardening import fast_stop, guard_args
from .portcullis import PortcullisServer


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


def follow(session: requests.Session, url: str, first_bytes: threading.Event, result: dict) -> threading.Thread:
    """A client pulling one blob on a thread: ``first_bytes`` is set when its first bytes have
    come, ``result`` gets (status, sha256, size) or ("error", ...) at the end."""
    def pull() -> None:
        try:
            r = session.get(url, stream=True, timeout=(10, 60))
            digest, size = hashlib.sha256(), 0
            for chunk in r.iter_content(64 * 1024):
                if size == 0:
                    result["first_byte_at"] = time.monotonic()
                    first_bytes.set()
                digest.update(chunk)
                size += len(chunk)
            result["outcome"] = (r.status_code, "sha256:" + digest.hexdigest(), size)
        except requests.RequestException as exc:
            result["outcome"] = ("error", repr(exc), None)
        finally:
            result["ended_at"] = time.monotonic()
            first_bytes.set()

    thread = threading.Thread(target=pull, daemon=True)
    thread.start()
    return thread
