"""Start and reliably stop background processes (whole process groups)."""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .util import tail

_LIVE: "set[ManagedProcess]" = set()
_LIVE_LOCK = threading.Lock()


class ManagedProcess:
    """A child process started in its own session, output appended to a log file."""

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[Path] = None,
    ) -> None:
        self.args = [str(a) for a in args]
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,  # own process group -> killpg is safe
        )
        self.pid = self.proc.pid
        with _LIVE_LOCK:
            _LIVE.add(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, escalate to SIGKILL; idempotent."""
        try:
            if self.proc.returncode is None:  # not reaped yet -> pgid still ours
                self._signal_group(signal.SIGTERM)
                if not self._wait_unreaped(timeout):
                    self._signal_group(signal.SIGKILL)
                    self._wait_unreaped(timeout)
                # The leader is a zombie now, so its process-group id cannot
                # have been reused: sweep any remaining group members, then reap.
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        finally:
            try:
                self._log.close()
            except OSError:
                pass
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def _exited_unreaped(self):
        """waitid(WNOWAIT): non-None once the child has exited, without reaping it."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:  # already reaped
            return True

    def _wait_unreaped(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._exited_unreaped() is not None:
                return True
            time.sleep(0.02)
        return self._exited_unreaped() is not None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)  # pgid == pid because of start_new_session
        except (ProcessLookupError, PermissionError):
            pass

    def __repr__(self) -> str:  # pragma: no cover - debug aid
        return f"<ManagedProcess pid={self.pid} {' '.join(self.args[:3])}>"


def stop_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        p.stop(timeout=3)


# Safety net: never leave children behind even if a finalizer was skipped.
atexit.register(stop_all)


def run(
    args: Sequence[str],
    input: Optional[str | bytes] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 120.0,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Run a short-lived command in its own process group and capture output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    text = not isinstance(input, bytes)
    p = subprocess.Popen(
        [str(a) for a in args],
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        text=text,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        raise AssertionError(
            f"command timed out after {timeout}s: {' '.join(map(str, args))}\n"
            f"stdout:\n{out}\nstderr:\n{err}"
        )
    cp = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if check and cp.returncode != 0:
        raise AssertionError(
            f"command failed ({cp.returncode}): {' '.join(map(str, args))}\n"
            f"stdout:\n{out}\nstderr:\n{err}"
        )
    return cp
