"""Client-side tools: curl for blob transfers, wrk for small-request rates."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from .common import BENCH_DIR, run, track, untrack

CURL_FMT = "%{http_code} %{size_download} %{time_total} %{time_starttransfer}\\n"
WRK_LUA = BENCH_DIR / "harness" / "wrk_report.lua"
WRK_SOAK_LUA = BENCH_DIR / "harness" / "wrk_soak.lua"


def curl_args(url: str, headers: Dict[str, str], max_time: float) -> List[str]:
    args = ["curl", "-sS", "-o", "/dev/null", "-w", CURL_FMT, "--max-time", str(int(max_time))]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    return args + [url]


def parse_curl(out: str) -> Dict[str, float]:
    code, size, total, ttfb = out.strip().split()[:4]
    return {"code": int(code), "size": int(size), "time": float(total), "ttfb": float(ttfb)}


def curl_get(url: str, headers: Dict[str, str], expect_size: int, max_time: float = 900) -> Dict[str, float]:
    """One GET to /dev/null. Raises unless HTTP 200 with exactly ``expect_size`` bytes."""
    cp = run(curl_args(url, headers, max_time), timeout=max_time + 30)
    if cp.returncode != 0:
        raise RuntimeError(f"curl {url} failed ({cp.returncode}): {cp.stderr.strip()}")
    r = parse_curl(cp.stdout)
    if r["code"] != 200 or r["size"] != expect_size:
        raise RuntimeError(f"curl {url}: HTTP {r['code']}, {r['size']} bytes (expected 200, {expect_size})")
    r["mbps"] = r["size"] / r["time"] / 1e6 if r["time"] > 0 else None
    return r


def concurrent_curls(url: str, headers: Dict[str, str], n: int, max_time: float) -> List[Dict[str, float]]:
    """``n`` curl processes started together; every result (HTTP code, size, total, TTFB)."""
    procs: List[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen(curl_args(url, headers, max_time), stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                          start_new_session=True))
            track(procs[-1])
        out = []
        deadline = time.monotonic() + max_time + 30
        for p in procs:
            o, e = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if p.returncode != 0 or not o.strip():
                out.append({"code": 0, "size": 0, "time": None, "ttfb": None, "error": e.strip()})
            else:
                out.append(parse_curl(o))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            untrack(p)


def sha256_of_get(url: str, headers: Dict[str, str], timeout: float = 900) -> tuple:
    """Stream a GET through hashlib (OpenSSL SHA-256): (digest, size). Correctness, not speed."""
    h = hashlib.sha256()
    n = 0
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return "sha256:" + h.hexdigest(), n


def wrk(url: str, headers: Dict[str, str], threads: int, conns: int, duration: int,
        script: Path = WRK_LUA, env: Optional[Dict[str, str]] = None, timeout_s: int = 10) -> dict:
    args = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", f"--timeout={timeout_s}s", "-s", str(script)]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    args.append(url)
    cp = run(args, timeout=duration + 60, env=env)
    if cp.returncode != 0:
        raise RuntimeError(f"wrk failed ({cp.returncode}): {cp.stderr}\n{cp.stdout}")
    for line in cp.stdout.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON "):])
            secs = d["duration_us"] / 1e6
            d["rps"] = d["requests"] / secs if secs else 0.0
            d["errors"] = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
            return d
    raise RuntimeError(f"wrk printed no WRKJSON line:\n{cp.stdout}\n{cp.stderr}")
