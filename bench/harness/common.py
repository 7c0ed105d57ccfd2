"""Shared plumbing: paths, imports from the testkit package, small helpers."""
from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

BENCH_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = BENCH_DIR.parent

# Shared with the end-to-end suite through the portcullis_testkit package (testkit/).
from portcullis_testkit.proc import ManagedProcess, stop_all as _stop_managed  # noqa: E402,F401
from portcullis_testkit.util import free_port, wait_stable, wait_until  # noqa: E402,F401

MIB = 1024 * 1024
GIB = 1024 * MIB

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def warn(msg: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n!! {msg}\n{bar}\n", flush=True)


def summarize(samples: List[float]) -> Optional[Dict[str, float]]:
    vals = [s for s in samples if s is not None]
    if not vals:
        return None
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "samples": vals,
    }


def first_answer(port: int, path: str, proc: ManagedProcess, t0: float, timeout: float,
                 interval: float = 0.005, want: int = 200) -> float:
    """Seconds from ``t0`` until ``GET path`` on 127.0.0.1:port answers ``want``.

    A raw socket request every ``interval`` seconds (5 ms): no HTTP library
    overhead in the measured time.
    """
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    deadline = t0 + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(req)
                head = s.recv(64)
                if head.startswith(b"HTTP/1.") and int(head[9:12]) == want:
                    return time.monotonic() - t0
        except (OSError, ValueError):
            pass
        if not proc.alive():
            raise RuntimeError(f"{proc.args[0]} exited ({proc.proc.returncode}) before answering:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args[0]} did not answer GET {path} with {want} within {timeout}s:\n{proc.log_tail()}")
        time.sleep(interval)


def proc_status(pid: int) -> Dict[str, int]:
    """VmRSS / VmHWM / RssAnon (bytes) of a process."""
    out: Dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def fd_count(pid: int) -> Optional[int]:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class MemSampler:
    """Polls VmRSS of ``pid`` every ``interval`` seconds; keeps the maximum. Also the largest
    RssAnon seen: the process's private memory, without the pages of its executable and shared
    libraries (which VmRSS counts once touched, and which differ most between a Go binary and a
    Swift one linked against Foundation)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.max_rss = 0
        self.max_anon = 0
        self.hwm = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            st = proc_status(self.pid)
            if "VmRSS" in st:
                self.max_rss = max(self.max_rss, st["VmRSS"])
                self.hwm = max(self.hwm, st.get("VmHWM", 0))
                self.max_anon = max(self.max_anon, st.get("RssAnon", 0))
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join(timeout=5)
        st = proc_status(self.pid)
        if "VmHWM" in st:
            self.hwm = max(self.hwm, st["VmHWM"])
        if "VmRSS" in st:
            self.max_rss = max(self.max_rss, st["VmRSS"])
        if "RssAnon" in st:
            self.max_anon = max(self.max_anon, st["RssAnon"])


def loadavg() -> List[float]:
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return []


# Short-lived commands (curl, wrk, skopeo, the CLI): like support.proc.run, but every
# child is tracked so that an interrupt or the harness's own deadline kills it too.
_CHILDREN: "set[subprocess.Popen]" = set()
_CHILDREN_LOCK = threading.Lock()


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(args, input=None, env=None, timeout: float = 120.0, check: bool = False) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.Popen([str(a) for a in args], stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True,
                         start_new_session=True)
    with _CHILDREN_LOCK:
        _CHILDREN.add(p)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        out, err = p.communicate()
        raise RuntimeError(f"command timed out after {timeout}s: {' '.join(map(str, args))}\n{out}\n{err}")
    except BaseException:
        _kill_group(p)
        p.wait()
        raise
    finally:
        with _CHILDREN_LOCK:
            _CHILDREN.discard(p)
    cp = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if check and cp.returncode != 0:
        raise RuntimeError(f"command failed ({cp.returncode}): {' '.join(map(str, args))}\n{out}\n{err}")
    return cp


def track(p: subprocess.Popen) -> None:
    with _CHILDREN_LOCK:
        _CHILDREN.add(p)


def untrack(p: subprocess.Popen) -> None:
    with _CHILDREN_LOCK:
        _CHILDREN.discard(p)


def stop_all() -> None:
    """Kill every tracked short-lived child, then stop every managed server."""
    with _CHILDREN_LOCK:
        kids = list(_CHILDREN)
    for p in kids:
        if p.poll() is None:
            _kill_group(p)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    _stop_managed()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> Optional[int]:
    """utime + stime of a process, in clock ticks (``CLOCK_TICKS`` a second)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def wait_quiet(pid: int, settle: float = 0.5, timeout: float = 120.0, max_ticks: int = 2) -> float:
    """Wait until ``pid`` uses (almost) no CPU for ``settle`` seconds; returns the seconds waited.

    A proxy may still be working after its client got the last byte (distribution
    stores the blob with a second upstream GET in the background); the next
    measurement must not overlap that work, and upstream requests must be
    counted only once it is done.
    """
    t0 = time.monotonic()
    last = cpu_ticks(pid)
    since = t0
    while True:
        time.sleep(0.1)
        now = time.monotonic()
        cur = cpu_ticks(pid)
        if cur is None or last is None:
            return now - t0
        if cur - last > max_ticks * (now - since) / settle:
            last, since = cur, now
        elif now - since >= settle:
            return since - t0
        if now - t0 > timeout:
            return now - t0


def counter(url: str, name: str) -> float:
    """A counter from a server's `/metrics`, summed over its labels (0 when absent)."""
    import requests

    text = requests.get(url + "/metrics", timeout=30).text
    pattern = re.compile(r"^" + re.escape(name) + r"(?:\{[^}]*\})?\s+([0-9.e+]+)$")
    return sum(float(m.group(1)) for m in map(pattern.match, text.splitlines()) if m)

