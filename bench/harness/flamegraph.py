"""Where a cold pull's time goes, as a flame graph (SVG) made from `perf` samples.

    bench/flamegraph [--portcullis-bin BIN] [--mib 256] [--pulls 3] [--out bench/flame-cold.svg]

Starts an htpasswd upstream with generated images, one Portcullis, and records the server
with `perf record -g --call-graph dwarf` while curl pulls each image's big layer cold (a new
image per pull, so every pull fills). The samples are folded into stacks and drawn here, in
plain SVG: the width of a frame is the share of samples in which it was on the stack.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

from portcullis_testkit.images import make_big_image
from portcullis_testkit.oci import layout_blobs
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.upstream import UpstreamRegistry

from .common import REPO_ROOT, log


# ------------------------------------------------------------------ recording
def record(binary: Path, mib: int, pulls: int, perf_data: Path, work: Path) -> List[float]:
    """Cold pulls under perf; returns each pull's MB/s."""
    images = [make_big_image(work / f"img{i}", size=mib << 20, tag="v1", seed=f"flame-{mib}-{i}") for i in range(pulls)]
    up = UpstreamRegistry(work / "upstream").start()
    srv = None
    speeds: List[float] = []
    try:
        for i, image in enumerate(images):
            up.push(image, f"flame/big{i}")
        srv = PortcullisServer(work / "portcullis", binary, ["--login-failure-limit", "100000"]).start()
        tenant = srv.tenant(up)
        perf = subprocess.Popen(["perf", "record", "-F", "997", "-g", "--call-graph", "dwarf,16384", "-o", str(perf_data),
                                 "-p", str(srv.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        try:
            for i, image in enumerate(images):
                digest = max(layout_blobs(image.layout).items(), key=lambda kv: kv[1].stat().st_size)[0]
                url = f"{srv.url}/v2/{tenant.repo(f'flame/big{i}')}/blobs/{digest}"
                out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{speed_download}", "-u",
                                      f"flame:{tenant.license_id}", url], capture_output=True, text=True, timeout=300)
                speeds.append(float(out.stdout or 0) / 1e6)
                log(f"cold pull {i + 1}/{pulls}: {speeds[-1]:.0f} MB/s")
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=120)
    finally:
        if srv:
            srv.stop()
        up.stop()
    return speeds


# ------------------------------------------------------------------ folding
MAX_DEPTH = 80

def fold(perf_data: Path) -> Counter:
    """`perf script` samples → Counter of 'root;…;leaf' stacks."""
    text = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "comm,ip,sym"], capture_output=True, text=True,
                          errors="replace", timeout=1800).stdout
    stacks: Counter = Counter()
    frames: List[str] = []
    comm = ""

    def flush() -> None:
        if frames:
            # Unwound async stacks can run hundreds of frames deep; the outermost ones say nothing.
            path = [short(f) for f in reversed(frames)][-MAX_DEPTH:]
            stacks[";".join([comm] + path)] += 1

    for line in text.splitlines():
        if not line.strip():
            flush()
            frames = []
            continue
        if not line.startswith("\t"):
            flush()
            frames = []
            comm = line.split()[0] if line.split() else "?"
            continue
        parts = line.strip().split(None, 1)
        sym = parts[1] if len(parts) == 2 else parts[0]
        frames.append(sym)
    flush()
    return stacks


def short(symbol: str) -> str:
    """A frame's name, demangled by `swift demangle --simplified` when it is a Swift symbol."""
    return _demangled.get(symbol, symbol)


_demangled: Dict[str, str] = {}


def demangle(stacks: Counter) -> Counter:
    names = sorted({f for s in stacks for f in s.split(";") if f.startswith(("$s", "_$s"))})
    tool = shutil.which("swift-demangle") or "swift-demangle"
    if names:
        try:
            out = subprocess.run([tool, "--simplified", "--compact"], input="\n".join(names), capture_output=True, text=True,
                                 timeout=300).stdout.splitlines()
            if len(out) == len(names):
                _demangled.update(zip(names, out))
        except (OSError, subprocess.SubprocessError):
            pass
    result: Counter = Counter()
    for s, n in stacks.items():
        result[";".join(_demangled.get(f, f) for f in s.split(";"))] += n
    return result


# ------------------------------------------------------------------ drawing
def svg(stacks: Counter, title: str, subtitle: str) -> str:
    """A flame graph: root at the bottom, children above, widths by sample share."""
    root: Dict = {"n": 0, "kids": {}}
    for stack, n in stacks.items():
        node = root
        node["n"] += n
        for frame in stack.split(";"):
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += n
    total = root["n"] or 1
    width, row, pad = 1200, 16, 10

    def depth(node: Dict) -> int:
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)

    levels = depth(root)
    height = levels * row + 80
    out: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fdfdf8"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
        f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">{html.escape(subtitle)}</text>',
    ]

    def colour(name: str) -> str:
        h = int(hashlib.md5(name.encode()).hexdigest()[:6], 16)
        if "[k]" in name or name.startswith(("__", "do_", "tcp_", "copy_", "entry_", "ext4_", "vfs_")):
            return f"rgb({200 + h % 50},{110 + h % 60},{60 + h % 40})"
        return f"rgb({220 + h % 35},{130 + h % 90},{40 + h % 50})"

    def draw(node: Dict, name: str, x: float, level: int) -> None:
        w = (width - 2 * pad) * node["n"] / total
        if w < 0.3:
            return
        y = height - 20 - (level + 1) * row
        share = 100 * node["n"] / total
        label = html.escape(name)
        out.append(f'<g><title>{label} ({node["n"]} samples, {share:.1f}%)</title>'
                   f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row - 1}" fill="{colour(name)}" rx="1"/>')
        chars = int(w / 6.6)
        if chars >= 3:
            text = name if len(name) <= chars else name[: max(chars - 2, 1)] + ".."
            out.append(f'<text x="{x + 2:.2f}" y="{y + row - 4}">{html.escape(text)}</text>')
        out.append("</g>")
        cx = x
        for kid_name, kid in sorted(node["kids"].items(), key=lambda kv: -kv[1]["n"]):
            draw(kid, kid_name, cx, level + 1)
            cx += (width - 2 * pad) * kid["n"] / total

    draw(root, "all samples", pad, 0)
    out.append("</svg>")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/flamegraph", description=__doc__.split("\n\n")[0])
    ap.add_argument("--portcullis-bin", default=str(REPO_ROOT / ".build" / "release" / "portcullis"))
    ap.add_argument("--mib", type=int, default=256, help="size of each pulled layer")
    ap.add_argument("--pulls", type=int, default=3, help="cold pulls recorded (each of a new image)")
    ap.add_argument("--out", default=str(REPO_ROOT / "bench" / "flame-cold.svg"))
    ap.add_argument("--title", default="Portcullis, cold blob pulls")
    a = ap.parse_args(argv)
    sys.setrecursionlimit(10_000)
    if not shutil.which("perf"):
        raise SystemExit("perf is not installed (apt-get install linux-perf)")
    work = Path(tempfile.mkdtemp(prefix="portcullis-flame-"))
    try:
        speeds = record(Path(a.portcullis_bin), a.mib, a.pulls, work / "perf.data", work)
        stacks = demangle(fold(work / "perf.data"))
        top = sum(stacks.values())
        subtitle = (f"{top} samples at 997 Hz over {a.pulls} cold pulls of {a.mib} MiB; "
                    f"client MB/s: {', '.join(f'{s:.0f}' for s in speeds)}")
        Path(a.out).write_text(svg(stacks, a.title, subtitle))
        log(f"wrote {a.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
