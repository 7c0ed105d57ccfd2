"""OCI client-side helpers: skopeo wrappers, error parsing, layout checks."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests

from .proc import run
from .upstream import MANIFEST_ACCEPT, SKOPEO_BIN

_EMPTY_AUTH = Path(tempfile.gettempdir()) / "portcullis-e2e-empty-auth.json"


def _skopeo_env() -> Dict[str, str]:
    # Keep skopeo away from any credentials on the machine.
    if not _EMPTY_AUTH.exists():
        _EMPTY_AUTH.write_text('{"auths":{}}')
    return {"REGISTRY_AUTH_FILE": str(_EMPTY_AUTH)}


def skopeo(*args: str, timeout: float = 300.0):
    return run([SKOPEO_BIN, "--insecure-policy", *args], env=_skopeo_env(), timeout=timeout)


def skopeo_copy(src: str, dest: str, creds: Optional[Tuple[str, str]], all_images: bool = True, timeout: float = 300.0):
    """``skopeo copy docker://SRC DEST`` through an http registry. Returns CompletedProcess."""
    args = ["copy", "--src-tls-verify=false", "--preserve-digests", "--retry-times", "0"]
    if creds is not None:
        args += ["--src-creds", f"{creds[0]}:{creds[1]}"]
    if all_images:
        args += ["--all"]
    args += [f"docker://{src}", dest]
    return skopeo(*args, timeout=timeout)


def skopeo_inspect_raw(ref: str, creds: Optional[Tuple[str, str]]):
    args = ["inspect", "--raw", "--tls-verify=false", "--retry-times", "0"]
    if creds is not None:
        args += ["--creds", f"{creds[0]}:{creds[1]}"]
    args += [f"docker://{ref}"]
    return run([SKOPEO_BIN, "--insecure-policy", *args], env=_skopeo_env(), timeout=120)


def error_codes(resp: requests.Response) -> List[str]:
    """OCI error codes in a registry error body (empty list if not OCI error JSON)."""
    try:
        body = resp.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    return [e.get("code") for e in body.get("errors") or [] if isinstance(e, dict)]


def get_manifest(session: requests.Session, base_url: str, repo: str, ref: str, method: str = "GET", **kw) -> requests.Response:
    headers = {"Accept": MANIFEST_ACCEPT}
    headers.update(kw.pop("headers", {}))
    return session.request(method, f"{base_url}/v2/{repo}/manifests/{ref}", headers=headers, timeout=kw.pop("timeout", 60), **kw)


def layout_blobs(root: Path) -> Dict[str, Path]:
    """digest -> path of every blob in an OCI layout; asserts each file matches its name."""
    out: Dict[str, Path] = {}
    for algo_dir in (Path(root) / "blobs").iterdir():
        for p in algo_dir.iterdir():
            if p.name.startswith("."):
                continue
            h = hashlib.new(algo_dir.name)
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            assert h.hexdigest() == p.name, f"{p} content does not match its digest"
            out[f"{algo_dir.name}:{p.name}"] = p
    return out


def layout_index(root: Path) -> dict:
    return json.loads((Path(root) / "index.json").read_text())


def stream_sha256(resp: requests.Response, chunk: int = 1 << 20) -> Tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for block in resp.iter_content(chunk_size=chunk):
        h.update(block)
        n += len(block)
    return "sha256:" + h.hexdigest(), n


def files_containing(root: Path, needle: str) -> List[Path]:
    """Every path under ``root`` (files and directories) whose name contains ``needle``."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if needle in name:
                hits.append(Path(dirpath) / name)
    return hits


def files_with_prefix(root: Path, prefix: bytes, min_size: int = 4096) -> List[Path]:
    """Regular files under ``root`` whose content starts with ``prefix`` (partial-blob detector)."""
    hits = []
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            try:
                if not p.is_file() or p.stat().st_size < min_size:
                    continue
                with open(p, "rb") as f:
                    head = f.read(len(prefix))
            except OSError:
                continue
            if head and prefix.startswith(head) and len(head) >= min(len(prefix), min_size):
                hits.append(p)
    return hits
