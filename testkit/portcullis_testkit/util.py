"""Small generic helpers: free ports, polling with a deadline, unique names."""
from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


def _find_repo_root() -> "Path":
    """The Portcullis checkout this package was installed from (editable install), or the cwd's."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "Package.swift").is_file() and (candidate / "e2e").is_dir():
                return candidate
    raise RuntimeError("cannot find the Portcullis checkout (a directory with Package.swift and e2e/)")


#: Root of the Portcullis checkout.
REPO_ROOT = _find_repo_root()


class WaitTimeout(AssertionError):
    """Raised by :func:`wait_until` when the deadline passes."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is currently free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], Optional[T]],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Poll ``predicate`` until it returns a truthy value or the deadline passes.

    Exceptions raised by the predicate count as "not yet"; the last one is
    reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - polled predicate
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = message() if callable(message) else message
            if last_exc is not None:
                msg = f"{msg} (last error: {last_exc!r})"
            raise WaitTimeout(f"timed out after {timeout:.1f}s: {msg}")
        time.sleep(interval)


def wait_stable(
    read: Callable[[], T],
    settle: float = 0.5,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll ``read`` until its value has not changed for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    value = read()
    since = time.monotonic()
    while True:
        time.sleep(interval)
        now = time.monotonic()
        new = read()
        if new != value:
            value, since = new, now
        elif now - since >= settle:
            return value
        if now >= deadline:
            return value


def unique(prefix: str) -> str:
    """A short unique lowercase slug such as ``app-1a2b3c4d``."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def tail(path, lines: int = 60) -> str:
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
