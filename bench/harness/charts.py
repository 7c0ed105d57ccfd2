"""Charts for the `charts` phase: a small one and one whose values are 10 MB, packaged as Helm
would (a gzipped tar of `<name>/...`), plus the reading of Portcullis's statement counter."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Dict

from .common import counter

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-bench
data:
  size: {{ len .Values.data | quote }}
"""


def _package(dest: Path, name: str, values: str) -> Path:
    """`<name>-1.0.0.tgz` with Chart.yaml, values.yaml and one template, deterministic bytes."""
    files = {
        f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: 1.0.0\nappVersion: 1.0.0\n",
        f"{name}/values.yaml": values,
        f"{name}/templates/configmap.yaml": TEMPLATE,
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    out = dest / f"{name}-1.0.0.tgz"
    out.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return out


def charts_for_bench(dest: Path) -> Dict[str, Path]:
    """`small`: a few lines of values; `big`: 10 MB of values (100,000 strings of 100 bytes)."""
    dest.mkdir(parents=True, exist_ok=True)
    small = "replicaCount: 1\ndata:\n  - one\n  - two\n"
    big = "replicaCount: 1\ndata:\n" + "".join(f"  - \"{i:08d}{'x' * 90}\"\n" for i in range(100_000))
    return {"small": _package(dest, "benchsmall", small), "big": _package(dest, "benchbig", big)}


def db_statements(url: str) -> float:
    """`portcullis_db_statements_total` from `/metrics`."""
    return counter(url, "portcullis_db_statements_total")
