"""Deterministic test images, generated once with testkit/portcullis_testkit/images.py and cached.

The generator is seeded, so a cached layout is exactly what a regeneration
would produce; the cache (bench/.cache/images, gitignored) only saves the
minutes gzip needs for a 1–4 GiB random layer.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import List

from .common import BENCH_DIR, log
from portcullis_testkit import images as gen  # the testkit package (testkit/)

CACHE_DIR = BENCH_DIR / ".cache" / "images"
TAG = "v1"


@dataclass
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass
class Image:
    name: str
    layout: Path
    tag: str
    manifest: Blob
    config: Blob
    layers: List[Blob]

    def blob_path(self, digest: str) -> Path:
        algo, hexd = digest.split(":", 1)
        return self.layout / "blobs" / algo / hexd

    def largest_layer(self) -> Blob:
        return max(self.layers, key=lambda b: b.size)

    def all_blobs(self) -> List[Blob]:
        return [self.config, *self.layers]

    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def _load(name: str, layout: Path) -> Image:
    index = json.loads((layout / "index.json").read_text())
    top = index["manifests"][0]
    mblob = Blob(top["digest"], top["size"], top["mediaType"])
    m = json.loads((layout / "blobs" / "sha256" / mblob.digest.split(":")[1]).read_text())
    cfg = Blob(m["config"]["digest"], m["config"]["size"], m["config"]["mediaType"])
    layers = [Blob(l["digest"], l["size"], l["mediaType"]) for l in m["layers"]]
    img = Image(name, layout, TAG, mblob, cfg, layers)
    for b in [mblob, *img.all_blobs()]:
        p = img.blob_path(b.digest)
        if not p.is_file() or p.stat().st_size != b.size:
            raise ValueError(f"cached layout {layout} is incomplete ({p})")
    return img


def get_image(kind: str, size: int = 0) -> Image:
    """``kind`` is ``small`` (3 layers, ~KBs) or ``big`` (one random layer of ``size`` bytes)."""
    name = "small" if kind == "small" else f"big-{size}"
    layout = CACHE_DIR / name
    marker = layout / ".complete"
    if marker.is_file():
        try:
            return _load(name, layout)
        except (ValueError, OSError, KeyError) as exc:
            log(f"regenerating {name}: {exc}")
    if layout.exists():
        shutil.rmtree(layout)
    layout.parent.mkdir(parents=True, exist_ok=True)
    log(f"generating image {name} (deterministic; cached in {layout})")
    if kind == "small":
        gen.make_three_layer_image(layout, tag=TAG, seed="bench-small")
    else:
        gen.make_big_image(layout, size=size, tag=TAG, seed=f"bench-big-{size}")
    marker.write_text("ok\n")
    return _load(name, layout)
