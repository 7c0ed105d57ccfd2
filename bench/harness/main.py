"""Portcullis benchmark harness: Portcullis vs CNCF distribution's proxy vs the practical limit.

Entry point: bench/run (see bench/README.md).
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from . import report
from .clients import WRK_SOAK_LUA, concurrent_curls, curl_get, sha256_of_get, wrk
from .common import (
    BENCH_DIR,
    CLOCK_TICKS,
    MIB,
    MANIFEST_ACCEPT,
    MemSampler,
    REPO_ROOT,
    cpu_ticks,
    fd_count,
    loadavg,
    log,
    proc_status,
    stop_all,
    wait_quiet,
    warn,
)
from .charts import charts_for_bench, db_statements
from .imagecache import TAG, Image, get_image
from .scaleout import phase_scale
from .services import (
    DistributionProxy,
    Portcullis,
    CeilingServer,
    IdealTee,
    StaticServer,
    TokenServer,
    Upstream,
    skopeo_copy_check,
)

PHASES = ["cold", "verify", "warm", "manifest", "charts", "soak", "conc", "4g", "scale"]
SMALL_REPO = "bench/small"
BIG_REPO = "bench/big"
HUGE_REPO = "bench/huge"


class BenchTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise BenchTimeout("global --max-minutes deadline reached")


def _on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pick_binary(explicit: Optional[str]) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("PORTCULLIS_BIN")
    if env:
        return Path(env)
    rel = REPO_ROOT / ".build" / "release" / "portcullis"
    if rel.is_file():
        return rel
    return REPO_ROOT / ".build" / "debug" / "portcullis"


def build_kind(binary: Path) -> str:
    parts = set(binary.resolve().parts)
    if "release" in parts:
        return "release"
    if "debug" in parts:
        return "debug"
    return "unknown"


def rotate(xs: list, i: int) -> list:
    i %= len(xs)
    return xs[i:] + xs[:i]


class Bench:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.res = report.Results()
        self.work = Path(tempfile.mkdtemp(prefix="portcullis-bench-", dir=a.workdir_parent))
        self.tokens: Optional[TokenServer] = None
        self.up: Optional[Upstream] = None
        self.dist: Optional[DistributionProxy] = None
        self.pc: Optional[Portcullis] = None
        self.nginx: Optional[StaticServer] = None
        self.ceiling: Optional[CeilingServer] = None
        self.ideal: Optional[IdealTee] = None
        self.small: Optional[Image] = None
        self.big: Optional[Image] = None
        self.huge: Optional[Image] = None

    # ---------------------------------------------------------------- set-up
    def setup(self) -> None:
        a = self.a
        self.small = get_image("small")
        self.big = get_image("big", a.big_bytes)
        if a.with_4g:
            self.huge = get_image("big", a.huge_bytes)
        user = "bench-user"
        password = "bench-pw-" + os.urandom(8).hex()
        self.tokens = TokenServer(self.work / "tokens", user, password).start()
        self.up = Upstream(self.work / "upstream", self.tokens).start()
        log(f"upstream (token auth) at {self.up.url}, token realm {self.tokens.realm}")
        t = time.monotonic()
        self.up.push(self.small, SMALL_REPO)
        self.up.push(self.big, BIG_REPO)
        if self.huge:
            self.up.push(self.huge, HUGE_REPO)
        log(f"pushed images with skopeo in {time.monotonic() - t:.1f}s")
        # The upstream really works for real clients: skopeo pull + curl with a token.
        skopeo_copy_check(f"{self.up.host}/{SMALL_REPO}:v1", f"{user}:{password}",
                          self.work / "pull-check", self.small.manifest.digest)
        blob = self.big.largest_layer()
        curl_get(f"{self.up.url}/v2/{BIG_REPO}/blobs/{blob.digest}", self.up.headers(BIG_REPO), blob.size)
        log("upstream verified with skopeo copy and curl")
        self.dist = DistributionProxy(self.work / "distribution", self.up)
        # Run a private copy: other work on this checkout may rebuild the binary mid-run.
        frozen = self.work / "bin" / "portcullis"
        frozen.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(a.binary, frozen)
        self.pc = Portcullis(self.work / "portcullis", frozen, self.up, a.portcullis_args)
        self.pc.stop_grace = self.dist.stop_grace = a.stop_grace
        self.nginx = StaticServer(self.work / "nginx", self.big.layout / "blobs" / "sha256").start()
        tee = IdealTee.build(self.work)
        if tee:
            self.ideal = IdealTee(self.work / "ideal", tee, self.up)
            self.ideal.stop_grace = a.stop_grace
        else:
            log("no C compiler or OpenSSL headers: cold figures without the ideal tee (apt-get install gcc libssl-dev)")
        ceiling_bin = a.binary.parent / "portcullis-ceiling"
        if ceiling_bin.is_file():
            m = self.small.manifest
            self.ceiling = CeilingServer(self.work / "ceiling", ceiling_bin, self.small.blob_path(m.digest).read_bytes(),
                                         m.media_type, m.digest).start()
        else:
            log(f"no {ceiling_bin}: manifest figures without the bare-Hummingbird ceiling (swift build -c release builds it)")
        self.res.meta.update({
            "upstream_blob": blob.digest,
            "big_layer_bytes": blob.size,
            "small_manifest": self.small.manifest.digest,
            "huge_layer_bytes": self.huge.largest_layer().size if self.huge else None,
        })

    def stop(self) -> None:
        for p in (self.pc, self.dist, self.ideal):
            if p is not None:
                try:
                    p.stop()  # timed SIGTERM -> exit, like every restart
                except Exception as exc:  # noqa: BLE001 - stop_all below still cleans up
                    log(f"stopping {p.name}: {exc}")
        stop_all()

    # --------------------------------------------------------------- helpers
    def blob_url(self, target, repo: str, digest: str) -> str:
        if target == "direct":
            return f"{self.up.url}/v2/{repo}/blobs/{digest}"
        if target == "nginx":
            return f"{self.nginx.url}/{digest.split(':', 1)[1]}"
        return f"{target.url}/v2/{target.repo(repo)}/blobs/{digest}"

    def manifest_url(self, target, repo: str, ref: str) -> str:
        if target == "direct":
            return f"{self.up.url}/v2/{repo}/manifests/{ref}"
        if target == "ceiling":
            return f"{self.ceiling.url}/v2/{repo}/manifests/{ref}"
        return f"{target.url}/v2/{target.repo(repo)}/manifests/{ref}"

    def auth(self, target, repo: str) -> Dict[str, str]:
        if target == "direct":
            return self.up.headers(repo)
        if target in ("nginx", "ceiling"):
            return {}
        return target.headers(repo)

    @staticmethod
    def key(target) -> str:
        return target if isinstance(target, str) else target.name

    def _ensure_running(self, proxy) -> None:
        if not proxy.alive():
            proxy.restart_fresh()

    # ----------------------------------------------------- 1 + 5 + 6: cold pulls
    def phase_cold(self, image: Image, repo: str, runs: int, prefix: str, label: str) -> None:
        blob = image.largest_layer()
        targets = [self.pc, self.dist, "direct"] + ([self.ideal] if self.ideal else [])
        for i in range(runs):
            for t in rotate(targets, i):
                k = self.key(t)
                if t is self.ideal:
                    t.point_at(f"/v2/{repo}/blobs/{blob.digest}", self.up.headers(repo))
                if t != "direct":
                    t.restart_fresh()
                    pid = t.pid
                else:
                    pid = self.up.proc.pid
                headers = self.auth(t, repo)
                if t != "direct" and t is not self.ideal:
                    # As every client does before a layer: the manifest (which also leaves the proxy
                    # logged in upstream for the repository, as the direct GET's token is fetched beforehand).
                    requests.get(self.manifest_url(t, repo, TAG), headers={**headers, "Accept": MANIFEST_ACCEPT}, timeout=60)
                # The previous target's blob may still be going to disk: its writeback would
                # share the cores with this measurement.
                os.sync()
                mark = self.up.mark()
                cpu0, up_cpu0 = cpu_ticks(pid), cpu_ticks(self.up.proc.pid)
                with MemSampler(pid) as mem:
                    r = curl_get(self.blob_url(t, repo, blob.digest), headers, blob.size, max_time=self.a.curl_max)
                    busy = wait_quiet(pid)
                cpu1, up_cpu1 = cpu_ticks(pid), cpu_ticks(self.up.proc.pid)
                gib = blob.size / (1 << 30)
                if None not in (up_cpu0, up_cpu1):
                    self.res.add(f"{prefix}_up_cpu_gib", k, (up_cpu1 - up_cpu0) / CLOCK_TICKS / gib)
                if t != "direct" and None not in (cpu0, cpu1):
                    self.res.add(f"{prefix}_cpu_gib", k, (cpu1 - cpu0) / CLOCK_TICKS / gib)
                gets = self.up.count_since(mark, "GET", f"/blobs/{blob.digest}")
                heads = self.up.count_since(mark, "HEAD", f"/blobs/{blob.digest}", settle=0.1)
                self.res.add(f"{prefix}_mbps", k, r["mbps"])
                self.res.add(f"{prefix}_s", k, r["time"])
                self.res.add(f"{prefix}_ttfb_ms", k, r["ttfb"] * 1000)
                self.res.add(f"{prefix}_up_get", k, gets)
                self.res.add(f"{prefix}_up_head", k, heads)
                self.res.add(f"{prefix}_busy_after", k, busy)
                if t != "direct":
                    self.res.add(f"{prefix}_rss", k, mem.hwm / MIB)
                    self.res.add(f"{prefix}_rss_polled", k, mem.max_rss / MIB)
                    self.res.add(f"{prefix}_rss_anon", k, mem.max_anon / MIB)
                log(f"{label} run {i + 1}/{runs} {k:12s} {r['mbps']:8.1f} MB/s {r['time']:7.2f}s "
                    f"ttfb {r['ttfb'] * 1000:7.1f}ms upstream GET={gets} HEAD={heads} busy after {busy:.1f}s"
                    + (f" CPU {(cpu1 - cpu0) / CLOCK_TICKS:.2f}s" if None not in (cpu0, cpu1) else "")
                    + (f" peak RSS {mem.hwm / MIB:.0f} MiB (polled {mem.max_rss / MIB:.0f}, private {mem.max_anon / MIB:.0f})"
                       if t != "direct" else ""))

    # ---------------------------------------------------------------- verify
    def phase_verify(self) -> None:
        """Correctness (untimed): a real client gets the right image, blobs hash to their digest."""
        for p in (self.pc, self.dist):
            self._ensure_running(p)
        skopeo_copy_check(f"127.0.0.1:{self.pc.port}/{self.pc.repo(SMALL_REPO)}:v1", f"bench:{self.pc.license_id}",
                          self.work / "pull-pc", self.small.manifest.digest)
        skopeo_copy_check(f"127.0.0.1:{self.dist.port}/{self.dist.repo(SMALL_REPO)}:v1", None,
                          self.work / "pull-dist", self.small.manifest.digest)
        blob = self.big.largest_layer()
        for t in (self.pc, self.dist, "nginx"):
            d, n = sha256_of_get(self.blob_url(t, BIG_REPO, blob.digest), self.auth(t, BIG_REPO))
            if d != blob.digest or n != blob.size:
                raise RuntimeError(f"{self.key(t)} served {n} bytes hashing to {d}, expected {blob.digest}")
        self.res.meta["verified"] = "skopeo copy of the small image through both proxies; big blob sha256 via both proxies and nginx"
        log("verified: skopeo pulls through both proxies, big blob digests match")

    # ------------------------------------------------------------ 2: warm GET
    def phase_warm(self) -> None:
        blob = self.big.largest_layer()
        for p in (self.pc, self.dist):
            self._ensure_running(p)
        targets = [self.pc, self.dist, "nginx"]
        for t in targets:  # warm-up (untimed): page cache, and the proxies' fills are complete
            curl_get(self.blob_url(t, BIG_REPO, blob.digest), self.auth(t, BIG_REPO), blob.size, self.a.curl_max)
        # distribution stores the blob with a second upstream GET after its client is served
        # (2-4 s for 1 GiB here): until then its "warm" GETs are proxied from upstream.
        for p in (self.pc, self.dist):
            wait_quiet(p.pid)
        os.sync()
        mark = self.up.mark()
        for i in range(self.a.runs):
            for t in rotate(targets, i):
                k = self.key(t)
                r = curl_get(self.blob_url(t, BIG_REPO, blob.digest), self.auth(t, BIG_REPO), blob.size, self.a.curl_max)
                self.res.add("warm_mbps", k, r["mbps"])
                log(f"warm run {i + 1}/{self.a.runs} {k:12s} {r['mbps']:8.1f} MB/s {r['time']:6.2f}s")
        leaked = self.up.count_since(mark, "GET", f"/blobs/{blob.digest}", settle=0.2)
        self.res.meta["upstream_gets_during_warm_runs"] = leaked
        if leaked:
            warn(f"{leaked} upstream GETs of the big blob during the warm runs: something was not cached")

    # ----------------------------------------------------------- 3: manifests
    def phase_manifest(self) -> None:
        for p in (self.pc, self.dist):
            self._ensure_running(p)
        targets = [self.pc, self.dist, "direct"] + (["ceiling"] if self.ceiling else [])
        digest = self.small.manifest.digest
        for t in targets:  # prime the caches and check the answers
            for ref in ("v1", digest):
                h = {"Accept": MANIFEST_ACCEPT, **self.auth(t, SMALL_REPO)}
                r = requests.get(self.manifest_url(t, SMALL_REPO, ref), headers=h, timeout=30)
                if r.status_code != 200 or r.headers.get("Docker-Content-Digest") != digest:
                    raise RuntimeError(f"{self.key(t)} manifest {ref}: {r.status_code} {r.headers} {r.text[:300]}")
        combos = [("tag", "v1", c) for c in self.a.wrk_conns] + [("digest", digest, c) for c in self.a.wrk_conns]
        for i in range(self.a.runs):
            for kind, ref, conns in combos:
                for t in rotate(targets, i):
                    k = self.key(t)
                    h = {"Accept": MANIFEST_ACCEPT, **self.auth(t, SMALL_REPO)}
                    mark, issued = self.up.mark(), self.tokens.issued()
                    w = wrk(self.manifest_url(t, SMALL_REPO, ref), h, threads=2, conns=conns,
                            duration=self.a.wrk_duration)
                    fid = f"man_{kind}_c{conns}"
                    if t != "direct" and w["requests"]:
                        ups = len(self.up.requests_since(mark))
                        toks = self.tokens.issued() - issued
                        self.res.add(fid + "_up_per_req", k, ups / w["requests"])
                        self.res.add(fid + "_tok_per_req", k, toks / w["requests"])
                    self.res.add(fid + "_rps", k, w["rps"])
                    self.res.add(fid + "_p50", k, w["p50_us"] / 1000)
                    self.res.add(fid + "_p99", k, w["p99_us"] / 1000)
                    self.res.add(fid + "_errors", k, w["errors"])
                    log(f"manifest {kind:6s} c{conns:<3d} run {i + 1}/{self.a.runs} {k:12s} {w['rps']:9.0f} req/s "
                        f"p50 {w['p50_us'] / 1000:7.2f}ms p99 {w['p99_us'] / 1000:7.2f}ms errors {w['errors']}")

    # ------------------------------------------------------- 3b: chart manifests
    def phase_charts(self) -> None:
        """A customer's chart manifest by tag beside a vendor-hosted image manifest, same run, same
        client and connection count: charts are built once per customer and then looked up, so
        the two should be close, whatever the chart's size. Also what a warm chart pull costs the
        database."""
        p = self.pc
        self._ensure_running(p)
        charts = charts_for_bench(self.work / "charts")
        setup = p.prepare_charts(self.small, self.up, charts)
        conns = max(self.a.wrk_conns)
        urls = {"hosted": f"{p.url}/v2/{setup['hosted']}/manifests/v1",
                "small": f"{p.url}/v2/{setup['charts']['small']}/manifests/1.0.0",
                "big": f"{p.url}/v2/{setup['charts']['big']}/manifests/1.0.0"}
        headers = {"Accept": MANIFEST_ACCEPT, "Authorization": "Bearer " + setup["token"]}
        for name in ("small", "big"):  # the first pull of each builds the customer's chart
            t = time.monotonic()
            r = requests.get(urls[name], headers=headers, timeout=300)
            if r.status_code != 200:
                raise RuntimeError(f"chart {name}: {r.status_code} {r.text[:300]}")
            self.res.add(f"chart_{name}_first_ms", p.name, (time.monotonic() - t) * 1000)
        self.res.add("chart_rss_anon", p.name, proc_status(p.pid).get("RssAnon", 0) / MIB)
        r = requests.get(urls["hosted"], headers=headers, timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"hosted manifest: {r.status_code} {r.text[:300]}")
        # Statements per warm pull, read off /metrics around sequential pulls (the batched pull
        # records are written in multi-row statements and are in this count).
        before = db_statements(p.url)
        n = 300
        for _ in range(n):
            requests.get(urls["small"], headers=headers, timeout=30).raise_for_status()
        time.sleep(1.0)  # the pull records' next flush
        self.res.add("chart_db_per_pull", p.name, (db_statements(p.url) - before) / n)
        for i in range(self.a.runs):
            for name in rotate(["hosted", "small", "big"], i):
                w = wrk(urls[name], headers, threads=2, conns=conns, duration=self.a.wrk_duration)
                if name == "hosted":
                    for fid in ("chart_small_rps", "chart_big_rps"):
                        self.res.add(fid, "hosted", w["rps"])
                else:
                    self.res.add(f"chart_{name}_rps", p.name, w["rps"])
                    self.res.add(f"chart_{name}_errors", p.name, w["errors"])
                log(f"charts run {i + 1}/{self.a.runs} {name:7s} {w['rps']:9.0f} req/s errors {w['errors']}")

    # --------------------------------------------------------- 4: concurrency
    def phase_conc(self) -> None:
        blob = self.big.largest_layer()
        for n in self.a.conc:
            for i in range(self.a.conc_runs):
                for t in rotate([self.pc, self.dist], i):
                    k = self.key(t)
                    t.restart_fresh()
                    headers = self.auth(t, BIG_REPO)
                    mark = self.up.mark()
                    t0 = time.monotonic()
                    with MemSampler(t.pid) as mem:
                        rs = concurrent_curls(self.blob_url(t, BIG_REPO, blob.digest), headers, n, self.a.curl_max)
                        wall = time.monotonic() - t0
                        wait_quiet(t.pid)
                    gets = self.up.count_since(mark, "GET", f"/blobs/{blob.digest}", settle=1.5)
                    ok = [r for r in rs if r["code"] == 200 and r["size"] == blob.size]
                    ttfb = [r["ttfb"] * 1000 for r in rs if r.get("ttfb") is not None]
                    fails = n - len(ok)
                    fid = f"conc{n}"
                    self.res.add(fid + "_up_get", k, gets)
                    self.res.add(fid + "_ttfb_max", k, max(ttfb) if ttfb else None)
                    # The first client's first byte follows the first upstream byte by one hop; how much
                    # later the slowest client got its first byte is what waiting on a fill costs.
                    self.res.add(fid + "_ttfb_spread", k, max(ttfb) - min(ttfb) if ttfb else None)
                    self.res.add(fid + "_ttfb_med", k, statistics.median(ttfb) if ttfb else None)
                    self.res.add(fid + "_wall", k, wall)
                    self.res.add(fid + "_agg_mbps", k, len(ok) * blob.size / wall / 1e6)
                    self.res.add(fid + "_failed", k, fails)
                    self.res.add(fid + "_rss", k, mem.hwm / MIB)
                    self.res.raw.setdefault(fid + "_clients", {}).setdefault(k, []).append(rs)
                    log(f"{n} concurrent cold GETs run {i + 1}/{self.a.conc_runs} {k:12s} upstream GETs {gets:3d} "
                        f"TTFB median {statistics.median(ttfb) if ttfb else float('nan'):8.1f}ms "
                        f"max {max(ttfb) if ttfb else float('nan'):8.1f}ms all done {wall:6.1f}s "
                        f"failed {fails} peak RSS {mem.hwm / MIB:.0f} MiB")
                    if fails:
                        errs = {r.get("error") or f"HTTP {r['code']} {r['size']}B" for r in rs if r not in ok}
                        warn(f"{k}: {fails}/{n} concurrent clients failed: {sorted(errs)[:3]}")
                    t.stop()  # free the cache's disk space

    # ------------------------------------------------------------------ 7: soak
    def phase_soak(self) -> None:
        pc = self.pc
        self._ensure_running(pc)
        blob = self.big.largest_layer()
        # Warm everything the soak touches (untimed).
        curl_get(self.blob_url(pc, BIG_REPO, blob.digest), pc.headers(BIG_REPO), blob.size, self.a.curl_max)
        paths = [f"/v2/{pc.repo(SMALL_REPO)}/manifests/v1", f"/v2/{pc.repo(SMALL_REPO)}/manifests/{self.small.manifest.digest}"]
        paths += [f"/v2/{pc.repo(SMALL_REPO)}/blobs/{b.digest}" for b in self.small.all_blobs()]
        for p in paths:
            r = requests.get(pc.url + p, headers={"Accept": MANIFEST_ACCEPT, **pc.headers(SMALL_REPO)}, timeout=30)
            r.raise_for_status()
        pfile = self.work / "soak-paths.txt"
        pfile.write_text("\n".join(paths) + "\n")
        st0 = proc_status(pc.pid)
        fd0 = fd_count(pc.pid)
        stop = threading.Event()
        samples: List[tuple] = []
        big = {"ok": 0, "failed": 0, "bytes": 0, "errors": []}

        def sampler():
            while not stop.is_set():
                st = proc_status(pc.pid)
                samples.append((st.get("VmRSS", 0), fd_count(pc.pid) or 0))
                stop.wait(1.0)

        def big_loop():
            while not stop.is_set():
                try:
                    r = curl_get(self.blob_url(pc, BIG_REPO, blob.digest), pc.headers(BIG_REPO), blob.size,
                                 max_time=self.a.curl_max)
                    big["ok"] += 1
                    big["bytes"] += r["size"]
                except Exception as exc:  # noqa: BLE001 - counted as an error
                    big["failed"] += 1
                    big["errors"].append(str(exc)[:300])
                    stop.wait(0.5)

        threads = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=big_loop, daemon=True)]
        for th in threads:
            th.start()
        total = {"requests": 0, "errors": 0, "status": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
        p99s = []
        t0 = time.monotonic()
        try:
            remaining = self.a.soak
            while remaining > 0:
                seg = min(remaining, 120)  # a fresh registry token per segment (tokens live 5 minutes)
                w = wrk(pc.url + paths[0], {"Accept": MANIFEST_ACCEPT, **pc.headers(SMALL_REPO)}, threads=2,
                        conns=self.a.soak_conns, duration=seg, script=WRK_SOAK_LUA, env={"BENCH_PATHS": str(pfile)})
                for key in total:
                    total[key] += w[key]
                p99s.append(w["p99_us"] / 1000)
                remaining -= seg
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=self.a.curl_max + 30)
        elapsed = time.monotonic() - t0
        st1 = proc_status(pc.pid)
        fd1 = fd_count(pc.pid)
        errors = total["errors"] + big["failed"]
        soak = {
            "seconds": round(elapsed, 1),
            "small_requests": total["requests"],
            "small_rps": total["requests"] / elapsed,
            "small_p99_ms_worst_segment": max(p99s) if p99s else None,
            "wrk_errors": {k: total[k] for k in ("connect", "read", "write", "status", "timeout")},
            "big_blob_gets_ok": big["ok"],
            "big_blob_gets_failed": big["failed"],
            "big_blob_errors": big["errors"][:5],
            "requests": total["requests"] + big["ok"] + big["failed"],
            "errors": errors,
            "rss_start_mib": st0.get("VmRSS", 0) / MIB,
            "rss_end_mib": st1.get("VmRSS", 0) / MIB,
            "rss_max_mib": max([s[0] for s in samples] or [0]) / MIB,
            "fds_start": fd0,
            "fds_end": fd1,
            "fds_max": max([s[1] for s in samples] or [0]),
            "alive_after": pc.alive(),
        }
        self.res.soak = soak
        log(f"soak {elapsed:.0f}s: {soak['requests']} requests ({total['requests']} small, {big['ok']} x big blob), "
            f"{errors} errors; RSS {soak['rss_start_mib']:.0f} -> {soak['rss_end_mib']:.0f} MiB "
            f"(max {soak['rss_max_mib']:.0f}); fds {fd0} -> {fd1} (max {soak['fds_max']})")
        if errors:
            warn(f"soak saw {errors} errors: {soak['wrk_errors']} {big['errors'][:2]}")

    # ------------------------------------------------------------------- run
    def run(self) -> int:
        a = self.a
        phases = a.phases
        self.setup()
        if "cold" in phases:
            self.phase_cold(self.big, BIG_REPO, a.runs, "cold", f"cold {a.big_bytes // MIB} MiB")
        if "verify" in phases:
            self.phase_verify()
        if "warm" in phases:
            self.phase_warm()
        if "charts" in phases:
            self.phase_charts()
        if "manifest" in phases:
            self.phase_manifest()
        if "soak" in phases and a.soak > 0:
            self.phase_soak()
        if "conc" in phases:
            self.phase_conc()
        if "4g" in phases and self.huge:
            self.phase_cold(self.huge, HUGE_REPO, a.runs_4g, "huge", f"cold {a.huge_bytes // MIB} MiB")
        if "scale" in phases:
            phase_scale(self)
        return 0

    def collect_startups(self) -> None:
        for p in (self.pc, self.dist):
            if p is not None:
                self.res.add_many("startup_ms", p.name, [s * 1000 for s in p.startups])
                self.res.add_many("shutdown_ms", p.name, [s * 1000 for s in p.shutdowns])
                self.res.meta[f"{p.name}_sigterm_kills"] = p.shutdown_kills
                self.res.meta[f"{p.name}_stops"] = p.shutdown_kills + len(p.shutdowns)


def parse_args(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run", description="Benchmark Portcullis against distribution's proxy.")
    ap.add_argument("--quick", action="store_true", help="2 runs, 256 MiB big layer, 5 s wrk, 20 s soak")
    ap.add_argument("--with-4g", action="store_true", help="also cold-pull a 4 GiB layer (memory flat in blob size)")
    ap.add_argument("--runs", type=int, help="repetitions of each measurement (default 5, quick 2)")
    ap.add_argument("--big-mib", type=int, help="size of the big layer's content in MiB (default 1024, quick 256)")
    ap.add_argument("--huge-mib", type=int, default=4096, help="size for --with-4g (default 4096)")
    ap.add_argument("--runs-4g", type=int, help="repetitions of the 4 GiB cold pull (default min(runs, 2))")
    ap.add_argument("--soak", type=int, help="soak seconds (default 60, quick 20; 0 skips)")
    ap.add_argument("--soak-conns", type=int, default=16, help="wrk connections during the soak (default 16)")
    ap.add_argument("--wrk-duration", type=int, help="seconds per wrk run (default 10, quick 5)")
    ap.add_argument("--wrk-conns", default="16,2", help="wrk connection counts for manifests (default 16,2)")
    ap.add_argument("--conc", default="8,64", help="concurrent cold client counts (default 8,64)")
    ap.add_argument("--conc-runs", type=int, help="repetitions of each concurrency level (default min(runs, 3))")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"subset of {','.join(PHASES)}")
    ap.add_argument("--portcullis-bin", help="binary (default $PORTCULLIS_BIN, else .build/release, else .build/debug)")
    ap.add_argument("--portcullis-arg", action="append", default=[], dest="portcullis_args",
                    help="extra argument for `portcullis serve` (repeatable)")
    ap.add_argument("--max-minutes", type=float, help="hard deadline for the whole run (default 120, quick 40)")
    ap.add_argument("--stop-grace", type=float, default=5.0,
                    help="seconds a proxy gets to exit after SIGTERM before SIGKILL (timed; default 5)")
    ap.add_argument("--curl-max", type=int, default=900, help="max seconds for one curl transfer")
    ap.add_argument("--keep-workdir", action="store_true", help="keep the temporary work directory (logs, caches)")
    ap.add_argument("--workdir-parent", default="/tmp", help="where the temporary work directory goes")
    ap.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    a = ap.parse_args(argv)
    q = a.quick
    a.runs = a.runs or (2 if q else 5)
    a.big_bytes = (a.big_mib or (256 if q else 1024)) * MIB
    a.huge_bytes = a.huge_mib * MIB
    a.runs_4g = a.runs_4g or min(a.runs, 2)
    a.soak = a.soak if a.soak is not None else (20 if q else 60)
    a.wrk_duration = a.wrk_duration or (5 if q else 10)
    a.wrk_conns = [int(x) for x in a.wrk_conns.split(",") if x]
    a.conc = [int(x) for x in a.conc.split(",") if x]
    a.conc_runs = a.conc_runs or min(a.runs, 3)
    a.max_minutes = a.max_minutes or (40 if q else 120)
    a.phases = [p.strip() for p in a.phases.split(",") if p.strip()]
    bad = set(a.phases) - set(PHASES)
    if bad:
        ap.error(f"unknown phases {sorted(bad)}")
    a.binary = pick_binary(a.portcullis_bin)
    return a


def main(argv=None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    signal.signal(signal.SIGALRM, _on_alarm)
    for tool in ("docker-registry", "skopeo", "curl", "wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"bench: required tool `{tool}` is not installed (see bench/README.md)", file=sys.stderr)
            return 2
    if not a.binary.is_file():
        print(f"bench: Portcullis binary {a.binary} not found; build it or set PORTCULLIS_BIN", file=sys.stderr)
        return 2
    kind = build_kind(a.binary)
    log(f"Portcullis binary: {a.binary} ({kind} build)")
    if kind != "release":
        warn(f"Portcullis binary is a {kind.upper()} build ({a.binary}): its numbers are NOT representative. "
             "Build with `swift build -c release` (or set PORTCULLIS_BIN) for real figures.")
    la = loadavg()
    if la and la[0] > 0.5:
        warn(f"load average is {la[0]:.2f} before starting: other work on this 2-core machine will skew the figures")
    started = datetime.datetime.now()
    bench = Bench(a)
    res = bench.res
    res.meta.update({
        "started": started.isoformat(timespec="seconds"),
        "portcullis_bin": str(a.binary),
        "build": kind,
        "args": sys.argv[1:] if argv is None else argv,
        "runs": a.runs,
        "quick": a.quick,
        "loadavg_start": la,
        "nproc": os.cpu_count(),
        "workdir": str(bench.work),
    })
    res.meta.update(report.environment(a.binary))
    status = 1
    signal.alarm(int(a.max_minutes * 60))
    try:
        status = bench.run()
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc}); stopping everything")
        res.meta["aborted"] = f"interrupted: {exc}"
        status = 130
    except BenchTimeout as exc:
        log(f"{exc}; stopping everything")
        res.meta["aborted"] = str(exc)
        status = 124
    except Exception as exc:  # noqa: BLE001 - report what we have, then fail
        import traceback
        traceback.print_exc()
        res.meta["aborted"] = f"error: {exc}"
        status = 1
    finally:
        signal.alarm(0)
        bench.stop()
        bench.collect_startups()
        res.meta["loadavg_end"] = loadavg()
        res.meta["duration_s"] = round((datetime.datetime.now() - started).total_seconds(), 1)
        if a.keep_workdir:
            log(f"work directory kept: {bench.work}")
        else:
            shutil.rmtree(bench.work, ignore_errors=True)
    if bench.big is not None:
        res.meta["big_label"] = f"{a.big_bytes // MIB} MiB"
    table = report.render_table(res, a)
    print()
    print(table)
    paths = report.write(res, a, started, table)
    log(f"results: {paths[0]} and {paths[1]}")
    return status
