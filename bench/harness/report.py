"""Collect samples, print the comparison table, write results/<timestamp>.md and .json."""
from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from .common import REPO_ROOT, summarize

TARGETS = ["portcullis", "distribution"]
LIMIT_NAMES = {"direct": "direct upstream", "ideal": "ideal verifying tee in C", "nginx": "nginx sendfile", "ceiling": "bare Hummingbird route",
               "hosted": "a vendor-hosted image manifest, same run"}


class Results:
    def __init__(self) -> None:
        self.values: Dict[str, Dict[str, List[float]]] = {}
        self.meta: Dict[str, object] = {}
        self.raw: Dict[str, object] = {}
        self.soak: Optional[dict] = None

    def add(self, fid: str, target: str, v) -> None:
        if v is None:
            return
        self.values.setdefault(fid, {}).setdefault(target, []).append(float(v))

    def add_many(self, fid: str, target: str, vs) -> None:
        for v in vs:
            self.add(fid, target, v)


def figures(a) -> List[tuple]:
    """(id, label, unit, better, limit key) in display order."""
    big = f"{a.big_bytes // (1024 * 1024)} MiB"
    f = [
        ("cold_mbps", f"Cold blob GET, {big} layer, empty cache", "MB/s", "higher", "direct"),
        ("cold_mbps", "  against the least a verifying cache does (bench/experiments/ideal-tee.c)", "MB/s", "higher", "ideal"),
        ("cold_s", "  cold GET wall time", "s", "lower", "direct"),
        ("cold_ttfb_ms", "  cold GET time to first byte", "ms", "lower", "direct"),
        ("cold_up_get", "  upstream GETs of the blob per cold GET", "", "lower", "direct"),
        ("cold_up_head", "  upstream HEADs of the blob per cold GET", "", "lower", "direct"),
        ("cold_busy_after", "  proxy still busy after the client finished", "s", "lower", None),
        ("cold_rss", "  proxy peak RSS during cold GET (VmHWM)", "MiB", "lower", None),
        ("cold_rss_polled", "  proxy peak RSS, polled every 50 ms", "MiB", "lower", None),
        ("cold_rss_anon", "  proxy peak private memory (RssAnon, polled every 50 ms)", "MiB", "lower", None),
        ("cold_cpu_gib", "  proxy CPU time per GiB delivered (user + system, until it is quiet)", "s", "lower", "ideal"),
        ("cold_up_cpu_gib", "  upstream's CPU time per GiB delivered", "s", "lower", "direct"),
        ("warm_mbps", f"Warm blob GET, {big} layer", "MB/s", "higher", "nginx"),
    ]
    for kind in ("tag", "digest"):
        for c in a.wrk_conns:
            fid = f"man_{kind}_c{c}"
            f += [
                (fid + "_rps", f"Manifest by {kind}, wrk -t2 -c{c}", "req/s", "higher", "ceiling"),
                (fid + "_rps", "  the same, limit = the upstream itself", "req/s", "higher", "direct"),
                (fid + "_p50", "  p50 latency", "ms", "lower", "direct"),
                (fid + "_p99", "  p99 latency", "ms", "lower", "direct"),
                (fid + "_errors", "  errors (socket + non-2xx)", "", "lower", "direct"),
                (fid + "_up_per_req", "  upstream requests per client request", "", "lower", None),
                (fid + "_tok_per_req", "  upstream tokens fetched per client request", "", "lower", None),
            ]
    f += [
        ("chart_small_rps", "Customer chart manifest by tag, small chart", "req/s", "higher", "hosted"),
        ("chart_big_rps", "  the same, a chart with 10 MB of values", "req/s", "higher", "hosted"),
        ("chart_small_errors", "  errors, small chart", "", "lower", None),
        ("chart_big_errors", "  errors, 10 MB chart", "", "lower", None),
        ("chart_small_first_ms", "  first pull of the small chart (built for the customer)", "ms", "lower", None),
        ("chart_big_first_ms", "  first pull of the 10 MB chart (built for the customer)", "ms", "lower", None),
        ("chart_rss_anon", "  server's private memory after releasing and first pulling them (RssAnon)", "MiB", "lower", None),
        ("chart_db_per_pull", "  database statements per warm chart pull (batched pull records included)", "", "lower", None),
    ]
    for n in a.conc:
        fid = f"conc{n}"
        f += [
            (fid + "_up_get", f"{n} concurrent cold GETs of the {big} blob: upstream GETs", "", "lower", None),
            (fid + "_ttfb_med", "  client TTFB, median of clients", "ms", "lower", None),
            (fid + "_ttfb_max", "  client TTFB, slowest client", "ms", "lower", None),
            (fid + "_ttfb_spread", "  slowest client's first byte after the first client's", "ms", "lower", None),
            (fid + "_wall", "  until every client finished", "s", "lower", None),
            (fid + "_agg_mbps", "  aggregate delivered", "MB/s", "higher", None),
            (fid + "_failed", "  failed clients", "", "lower", None),
            (fid + "_rss", "  proxy peak RSS (VmHWM)", "MiB", "lower", None),
        ]
    f += [
        ("xrep_follower_ttfb_ms", "Cold 256 MiB blob on replica 2 while replica 1 fetches it (PostgreSQL + S3): first byte",
         "ms", "lower", None),
        ("xrep_follower_ahead_s", "  replica 2's first byte before replica 1's client had the whole blob", "s", "higher", None),
        ("xrep_up_get", "  upstream GETs across both replicas", "", "lower", None),
        ("xrep_filler_mbps", "  replica 1's client", "MB/s", "higher", None),
        ("xrep_follower_mbps", "  replica 2's client", "MB/s", "higher", None),
    ]
    if a.with_4g:
        huge = f"{a.huge_bytes // (1024 ** 3)} GiB" if a.huge_bytes >= 1024 ** 3 else f"{a.huge_bytes // (1024 ** 2)} MiB"
        f += [
            ("huge_mbps", f"Cold blob GET, {huge} layer", "MB/s", "higher", "direct"),
            ("huge_mbps", "  against the least a verifying cache does (bench/experiments/ideal-tee.c)", "MB/s", "higher", "ideal"),
            ("huge_up_get", "  upstream GETs of the blob per cold GET", "", "lower", "direct"),
            ("huge_rss", "  proxy peak RSS during cold GET (VmHWM)", "MiB", "lower", None),
        ]
    f += [("startup_ms", "Start to first answered request (fresh data dir)", "ms", "lower", None),
          ("shutdown_ms", "SIGTERM to exit (clean exits only; kills below)", "ms", "lower", None)]
    return f


def _num(v: float) -> str:
    if v == 0:
        return "0"
    av = abs(v)
    if av >= 100:
        return f"{v:.0f}"
    if av >= 10:
        return f"{v:.1f}"
    if av >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(samples: Optional[List[float]]) -> str:
    s = summarize(samples or [])
    if not s:
        return "—"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _num(s["median"])
    return f"{_num(s['median'])} [{_num(s['min'])}–{_num(s['max'])}]"


def ratio(a: Optional[List[float]], b: Optional[List[float]]) -> str:
    sa, sb = summarize(a or []), summarize(b or [])
    if not sa or not sb or sb["median"] == 0:
        return "—"
    return f"{sa['median'] / sb['median']:.2f}"


def rows(res: Results, a) -> List[List[str]]:
    out = []
    for fid, label, unit, better, limit in figures(a):
        vals = res.values.get(fid)
        if not vals:
            continue
        p, d = vals.get("portcullis"), vals.get("distribution")
        lim = vals.get(limit) if limit else None
        out.append([
            label,
            unit,
            "↑" if better == "higher" else "↓",
            cell(p),
            cell(d),
            cell(lim) + (f" ({LIMIT_NAMES[limit]})" if lim else ""),
            ratio(p, d),
            ratio(p, lim) if lim else "—",
        ])
    kills = [res.meta.get(f"{t}_sigterm_kills") for t in TARGETS]
    if any(k is not None for k in kills):
        stops = [res.meta.get(f"{t}_stops") for t in TARGETS]
        out.append(["  stops that needed SIGKILL after the grace period", "", "↓",
                    *(f"{k}/{n}" if k is not None else "—" for k, n in zip(kills, stops)), "", "", ""])
    s = res.soak
    if s:
        out += [
            [f"Soak {s['seconds']:.0f}s, Portcullis, manifests+blobs (warm)", "", "", f"{s['requests']} requests", "", "", "", ""],
            ["  errors (expected 0)", "", "↓", f"{s['errors']}" + (" OK" if s["errors"] == 0 else " FAIL"), "", "", "", ""],
            ["  small requests/s", "req/s", "↑", _num(s["small_rps"]), "", "", "", ""],
            ["  RSS start → end (max)", "MiB", "↓", f"{s['rss_start_mib']:.0f} → {s['rss_end_mib']:.0f} ({s['rss_max_mib']:.0f})", "", "", "", ""],
            ["  open fds start → end (max)", "", "↓", f"{s['fds_start']} → {s['fds_end']} ({s['fds_max']})", "", "", "", ""],
        ]
    return out


HEADER = ["figure", "unit", "better", "Portcullis", "distribution proxy", "limit / direct", "P/D", "P/limit"]


def render_table(res: Results, a) -> str:
    rs = rows(res, a)
    widths = [max(len(h), *(len(r[i]) for r in rs)) if rs else len(h) for i, h in enumerate(HEADER)]

    def line(cols):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |"

    out = [line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rs]
    build = res.meta.get("build", "?")
    head = (f"Portcullis benchmark — {build.upper()} build {res.meta.get('portcullis_bin')}; "
            f"values are median [min–max] over {a.runs} runs (see bench/README.md)")
    if build != "release":
        head += "\n!! NOT A RELEASE BUILD: Portcullis numbers are not representative."
    if res.meta.get("aborted"):
        head += f"\n!! RUN ABORTED: {res.meta['aborted']} — the table is partial."
    return head + "\n" + "\n".join(out)


def _cmd(args) -> str:
    try:
        cp = subprocess.run(args, capture_output=True, text=True, timeout=20)
        return (cp.stdout or cp.stderr).strip().splitlines()[0] if (cp.stdout or cp.stderr).strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(binary: Path) -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mtime = binary.stat().st_mtime
        import datetime
        bin_mtime = datetime.datetime.fromtimestamp(mtime).isoformat(timespec="seconds")
    except OSError:
        bin_mtime = None
    return {
        "git_commit": _cmd(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(_cmd(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "Sources"])),
        "binary_mtime": bin_mtime,
        "kernel": platform.release(),
        "cpu": cpu,
        "docker_registry": _cmd(["docker-registry", "--version"]),
        "curl": _cmd(["curl", "--version"]),
        "wrk": _cmd(["wrk", "-v"]),
        "nginx": _cmd(["nginx", "-v"]),
        "skopeo": _cmd(["skopeo", "--version"]),
    }


def write(res: Results, a, started, table: str):
    d = Path(a.results_dir)
    d.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    jpath, mpath = d / f"{stamp}.json", d / f"{stamp}.md"
    figs = []
    for fid, label, unit, better, limit in figures(a):
        vals = res.values.get(fid)
        if not vals:
            continue
        figs.append({
            "id": fid, "label": label.strip(), "unit": unit, "better": better,
            "limit": LIMIT_NAMES.get(limit) if limit else None,
            **{t: summarize(vals.get(t, [])) for t in TARGETS},
            "limit_values": summarize(vals.get(limit, [])) if limit else None,
        })
    doc = {"meta": res.meta, "figures": figs, "soak": res.soak, "raw": res.raw}
    jpath.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    m = res.meta
    lines = [
        f"# Portcullis benchmark {m.get('started')}",
        "",
        f"- Portcullis: `{m.get('portcullis_bin')}` — **{str(m.get('build')).upper()} build**"
        + (" (numbers NOT representative)" if m.get("build") != "release" else "")
        + f", binary built {m.get('binary_mtime')}, git {m.get('git_commit')}"
        + (" (Sources/ has uncommitted changes)" if m.get("git_dirty") else ""),
        f"- Command: `bench/run {' '.join(m.get('args') or [])}` — {m.get('runs')} runs per figure, "
        f"took {m.get('duration_s')} s",
        f"- Machine: {m.get('nproc')} CPUs ({m.get('cpu')}), kernel {m.get('kernel')}; "
        f"load average at start {m.get('loadavg_start')}, at end {m.get('loadavg_end')}",
        f"- Peers: {m.get('docker_registry')} (proxy mode and upstream with token auth); {m.get('nginx')}; "
        f"clients {m.get('curl', '').split(' (')[0]}, {m.get('wrk', '').split(' [')[0]}",
        f"- Big layer: {m.get('big_layer_bytes')} bytes, {m.get('upstream_blob')}",
    ]
    if m.get("aborted"):
        lines.append(f"- **Aborted:** {m['aborted']} (partial results)")
    if m.get("upstream_gets_during_warm_runs"):
        lines.append(f"- **Warning:** {m['upstream_gets_during_warm_runs']} upstream GETs during warm runs")
    if m.get("verified"):
        lines.append(f"- Verified: {m['verified']}")
    lines += ["", "```", table, "```", ""]
    if res.soak:
        lines += ["## Soak", "", "```json", json.dumps(res.soak, indent=2), "```", ""]
    lines += [
        "Ratios are Portcullis' median divided by the other column's median; ↑ means higher is better "
        "(ratio > 1 favours Portcullis), ↓ lower is better (ratio < 1 favours Portcullis). "
        "All samples are in the .json file next to this one.",
        "",
    ]
    mpath.write_text("\n".join(lines))
    return mpath, jpath
