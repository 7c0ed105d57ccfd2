"""Deterministic OCI image generation (no docker needed).

Images are written as OCI image layouts (``oci-layout``, ``index.json``,
``blobs/sha256/<hex>``) that ``skopeo copy oci:DIR:TAG ...`` can push.
All content is derived from a seed, so the same parameters always give the
same digests.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"

REF_NAME = "org.opencontainers.image.ref.name"
FIXED_MTIME = 1_700_000_000
_BLOCK = 64 * 1024


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class SeededReader(io.RawIOBase):
    """File-like object yielding ``size`` bytes of seeded pseudo-random data.

    Data is produced in fixed 64 KiB blocks so the bytes do not depend on the
    caller's read sizes.
    """

    def __init__(self, seed: str, size: int) -> None:
        self._rng = random.Random(seed)
        self._remaining = size
        self._buf = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._remaining + len(self._buf)
        while len(self._buf) < n and self._remaining > 0:
            take = min(_BLOCK, self._remaining)
            self._buf += self._rng.randbytes(take)
            self._remaining -= take
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def readinto(self, b) -> int:  # pragma: no cover - io protocol
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _HashingWriter(io.RawIOBase):
    """Write-through wrapper that hashes and counts everything written."""

    def __init__(self, sink) -> None:
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        b = bytes(b)
        self.hash.update(b)
        self.size += len(b)
        self._sink.write(b)
        return len(b)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._sink.flush()


@dataclass
class Blob:
    digest: str
    size: int
    media_type: str

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def descriptor(self, **extra) -> dict:
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        d.update(extra)
        return d


@dataclass
class ImageManifest:
    """One single-platform image inside a layout."""

    manifest: Blob
    config: Blob
    layers: List[Blob]
    platform: Dict[str, str]


@dataclass
class GeneratedImage:
    """An OCI layout containing exactly one tagged top-level object."""

    layout: Path
    tag: str
    top: Blob  # manifest or index referenced by the tag
    images: List[ImageManifest]
    is_index: bool = False
    all_blobs: Dict[str, Blob] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.top.digest

    @property
    def media_type(self) -> str:
        return self.top.media_type

    def blob_path(self, digest: str) -> Path:
        algo, hexd = digest.split(":", 1)
        return self.layout / "blobs" / algo / hexd

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def top_bytes(self) -> bytes:
        return self.read_blob(self.top.digest)

    def layer_blobs(self) -> List[Blob]:
        out: List[Blob] = []
        for img in self.images:
            out.extend(img.layers)
        return out

    def largest_layer(self) -> Blob:
        return max(self.layer_blobs(), key=lambda b: b.size)

    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


class LayoutWriter:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.blobs: Dict[str, Blob] = {}

    def _path(self, hexd: str) -> Path:
        return self.root / "blobs" / "sha256" / hexd

    def put_bytes(self, data: bytes, media_type: str) -> Blob:
        blob = Blob(sha256_digest(data), len(data), media_type)
        p = self._path(blob.hex)
        if not p.exists():
            p.write_bytes(data)
        self.blobs[blob.digest] = blob
        return blob

    def put_json(self, obj, media_type: str) -> Blob:
        return self.put_bytes(canonical_json(obj), media_type)

    def put_layer(
        self,
        files: Sequence[Tuple[str, int, str]],
        compression: str = "gzip",
        level: int = 6,
    ) -> Tuple[Blob, str]:
        """Write a layer built from ``(path, size, seed)`` entries.

        Streams everything: nothing larger than a 64 KiB block is kept in
        memory. Returns ``(blob, diff_id)``.
        """
        tmp = self.root / "blobs" / "sha256" / f".tmp-{os.getpid()}-{random.random()}"
        with open(tmp, "wb") as raw:
            compressed = _HashingWriter(raw)
            if compression == "gzip":
                gz = gzip.GzipFile(
                    filename="", mode="wb", fileobj=compressed, compresslevel=level, mtime=0
                )
                sink = gz
            elif compression == "none":
                gz = None
                sink = compressed
            else:
                raise ValueError(compression)
            uncompressed = _HashingWriter(sink)
            with tarfile.open(fileobj=uncompressed, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                dirs_done = set()
                for path, size, seed in files:
                    parts = path.strip("/").split("/")
                    for i in range(1, len(parts)):
                        d = "/".join(parts[:i])
                        if d not in dirs_done:
                            dirs_done.add(d)
                            tar.addfile(_tarinfo(d + "/", 0, tarfile.DIRTYPE, 0o755))
                    tar.addfile(_tarinfo(path.strip("/"), size), SeededReader(seed, size))
            if gz is not None:
                gz.close()
            raw.flush()
        media_type = MT_LAYER_GZIP if compression == "gzip" else MT_LAYER_TAR
        blob = Blob("sha256:" + compressed.hash.hexdigest(), compressed.size, media_type)
        final = self._path(blob.hex)
        if final.exists():
            tmp.unlink()
        else:
            tmp.rename(final)
        self.blobs[blob.digest] = blob
        return blob, "sha256:" + uncompressed.hash.hexdigest()

    def write_index_json(self, top: Blob, tag: str) -> None:
        index = {
            "schemaVersion": 2,
            "manifests": [top.descriptor(annotations={REF_NAME: tag})],
        }
        (self.root / "index.json").write_bytes(canonical_json(index))


def _tarinfo(name: str, size: int, type_=tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size if type_ == tarfile.REGTYPE else 0
    ti.type = type_
    ti.mode = mode
    ti.mtime = FIXED_MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def _write_image(
    w: LayoutWriter,
    seed: str,
    layers: Sequence[Sequence[Tuple[str, int, str]]],
    arch: str = "amd64",
    compression: str = "gzip",
    level: int = 6,
) -> ImageManifest:
    layer_blobs: List[Blob] = []
    diff_ids: List[str] = []
    for files in layers:
        blob, diff_id = w.put_layer(files, compression=compression, level=level)
        layer_blobs.append(blob)
        diff_ids.append(diff_id)
    config = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": {"e2e.seed": seed},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2023-11-14T22:13:20Z", "created_by": f"e2e layer {i}"}
            for i in range(len(diff_ids))
        ],
    }
    config_blob = w.put_json(config, MT_OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b in layer_blobs],
        "annotations": {"e2e.seed": seed},
    }
    manifest_blob = w.put_json(manifest, MT_OCI_MANIFEST)
    return ImageManifest(manifest_blob, config_blob, layer_blobs, {"architecture": arch, "os": "linux"})


def _small_layers(seed: str, count: int) -> List[List[Tuple[str, int, str]]]:
    rng = random.Random(seed)
    layers = []
    for i in range(count):
        files = []
        for j in range(3):
            size = rng.randint(1_000, 200_000)
            files.append((f"layer{i}/dir{j % 2}/file{j}.bin", size, f"{seed}/{i}/{j}"))
        layers.append(files)
    return layers


def make_three_layer_image(root: Path, tag: str = "v1", seed: str = "three-layer") -> GeneratedImage:
    """A single-platform (linux/amd64) image with three gzipped layers."""
    w = LayoutWriter(root)
    img = _write_image(w, seed, _small_layers(seed, 3))
    w.write_index_json(img.manifest, tag)
    return GeneratedImage(Path(root), tag, img.manifest, [img], False, dict(w.blobs))


def make_multiarch_image(root: Path, tag: str = "v1", seed: str = "multiarch") -> GeneratedImage:
    """An OCI index with linux/amd64 and linux/arm64 images (two layers each)."""
    w = LayoutWriter(root)
    images = [
        _write_image(w, f"{seed}/{arch}", _small_layers(f"{seed}/{arch}", 2), arch=arch)
        for arch in ("amd64", "arm64")
    ]
    index = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [img.manifest.descriptor(platform=img.platform) for img in images],
    }
    top = w.put_json(index, MT_OCI_INDEX)
    w.write_index_json(top, tag)
    return GeneratedImage(Path(root), tag, top, images, True, dict(w.blobs))


def make_big_image(
    root: Path,
    size: int = 64 * 1024 * 1024,
    tag: str = "v1",
    seed: str = "big",
    compression: str = "gzip",
) -> GeneratedImage:
    """An image with one large layer (``size`` bytes of seeded random data).

    The layer is gzip level 1 (random data does not compress, so the blob is
    slightly larger than ``size``); generation is streamed.
    """
    w = LayoutWriter(root)
    img = _write_image(
        w, seed, [[("big/data.bin", size, f"{seed}/data")]], compression=compression, level=1
    )
    w.write_index_json(img.manifest, tag)
    return GeneratedImage(Path(root), tag, img.manifest, [img], False, dict(w.blobs))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


