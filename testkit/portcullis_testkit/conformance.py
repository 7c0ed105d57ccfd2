"""Support for Portcullis's own OCI distribution-spec conformance suite (e2e/test_oci_conformance.py).

Three parts:

* :class:`RegistryClient`: an HTTP client that authenticates the way the official conformance
  suite's clients do. Each request goes out without credentials (or with the header cached for
  its repository and action class); on a 401 the ``WWW-Authenticate`` challenge is parsed (quoted
  parameters only), a token is fetched from ``<realm>?service=..&scope=<the challenged scope,
  verbatim>`` with Basic credentials and ``Accept: application/json``, and the request is sent
  again exactly once with ``Authorization: Bearer <token>``. The resulting header is cached per
  (repository, pull|push|DELETE), pull being GET/HEAD and push POST/PATCH/PUT.
* Content builders: random gzip/tar layers, configs, image manifests, indexes and the
  :class:`DataSet` shapes the conformance suite pushes (every digest in sha256 or sha512).
* Small protocol helpers shared by the tests (digests, error bodies, Link headers, chunk plans).

All content is random per call, so a rerun never meets what an earlier run pushed.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests

from .images import MT_LAYER_GZIP, MT_LAYER_TAR, MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_MANIFEST

# ----------------------------------------------------------------- constants
ALGORITHMS = ("sha256", "sha512")

MT_EMPTY = "application/vnd.oci.empty.v1+json"
MT_OCTET = "application/octet-stream"
MT_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_NONDIST_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"

#: What manifest GET/HEAD ask for: the index and the image manifest types (one header, comma-joined).
MANIFEST_ACCEPT = f"{MT_OCI_INDEX}, {MT_OCI_MANIFEST}"

#: Error codes the distribution spec defines (TAG_INVALID and MANIFEST_UNVERIFIED are legacy, still allowed).
SPEC_ERROR_CODES = frozenset({
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
    "TOOMANYREQUESTS", "TAG_INVALID", "MANIFEST_UNVERIFIED",
})

USER_AGENT = "portcullis-oci-conformance"


# -------------------------------------------------------------------- digests
def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def random_digest(algorithm: str = "sha256") -> str:
    """The digest of random bytes: content that exists nowhere."""
    return digest_of(os.urandom(32), algorithm)


def rand_hex(n: int = 8) -> str:
    return os.urandom(n).hex()[:n]


# ------------------------------------------------------------------ challenges
_SCHEME = re.compile(r"(bearer|basic)", re.I)
_QUOTED_PARAM = re.compile(r'([A-Za-z]+)="([^"]*)"')


@dataclass
class Challenge:
    scheme: str  # "bearer" or "basic" (lower case), "" if neither word occurs
    params: Dict[str, str]
    raw: str

    @property
    def scope(self) -> Optional[str]:
        return self.params.get("scope")


def parse_challenge(header: str) -> Challenge:
    """Read a ``WWW-Authenticate`` value the way the official clients do.

    The scheme is the *last* occurrence of ``bearer``/``basic`` anywhere in the value
    (case-insensitive); parameters are only the quoted ``key="value"`` pairs (names
    lower-cased). Unquoted parameters are invisible, as they are to those clients.
    """
    schemes = _SCHEME.findall(header or "")
    params = {k.lower(): v for k, v in _QUOTED_PARAM.findall(header or "")}
    return Challenge(schemes[-1].lower() if schemes else "", params, header or "")


def parse_scopes(scope: str) -> Dict[str, set]:
    """``"repository:a/b:pull,push repository:c:pull"`` -> ``{"a/b": {"pull","push"}, "c": {"pull"}}``.

    Entries that are not ``repository:<name>:<actions>`` are kept under their raw text with no actions.
    """
    out: Dict[str, set] = {}
    for item in (scope or "").split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or not name:
            out[item] = set()
            continue
        out.setdefault(name, set()).update(a for a in actions.split(",") if a)
    return out


class AuthFlowError(AssertionError):
    """The token flow after a 401 could not complete (a registry failure, not a client one)."""


_REPO_IN_PATH = re.compile(
    r"^/v2/(?P<repo>.+?)/(?:blobs/uploads(?:/[^/]*)?|blobs/[^/]+|manifests/[^/]+|tags/list|referrers/[^/]+)$"
)


def repository_of(path: str) -> str:
    """The repository a ``/v2/...`` path addresses ("" for ``/v2/`` and anything else)."""
    m = _REPO_IN_PATH.match(path)
    return m.group("repo") if m else ""


def action_class(method: str) -> str:
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "pull"
    if method in ("POST", "PATCH", "PUT"):
        return "push"
    return method


# --------------------------------------------------------------------- client
Body = Union[None, bytes, Callable[[], Iterable[bytes]]]


def chunked(data: bytes, piece: int = 4096) -> Callable[[], Iterator[bytes]]:
    """A body that ``requests`` sends with ``Transfer-Encoding: chunked`` (no Content-Length).

    It is a factory, so the client can send it again after a 401.
    """
    def gen() -> Iterator[bytes]:
        for i in range(0, len(data), piece):
            yield data[i:i + piece]
    return gen


def fetch_token(session: requests.Session, realm_url: str, service: Optional[str], scope: Optional[str],
                username: str, password: str, timeout: float = 30.0) -> requests.Response:
    """``GET <realm>?service=..&scope=..`` (scope left out when None) with Basic creds, Accept JSON."""
    params = []
    if service is not None:
        params.append(("service", service))
    if scope:
        params.append(("scope", scope))
    return session.get(realm_url, params=params, auth=(username, password),
                       headers={"Accept": "application/json", "User-Agent": USER_AGENT}, timeout=timeout)


def token_from(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthFlowError(f"token endpoint answered {resp.status_code} without a JSON object: {resp.text[:300]!r}")
    tok = body.get("access_token") or body.get("token")
    if not tok:
        raise AuthFlowError(f"token endpoint JSON has neither token nor access_token: {sorted(body)}")
    return tok


class RegistryClient:
    """A registry client that authenticates like the official conformance suite (see module doc)."""

    def __init__(self, base_url: str, username: str, password: str, cache_auth: bool = True, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no netrc credentials, no proxies: the first try is anonymous
        self.auth_cache: Optional[Dict[Tuple[str, str, str], str]] = {} if cache_auth else None
        #: (method, url, WWW-Authenticate) of every challenge met, for failure messages.
        self.challenges: List[Tuple[str, str, str]] = []

    # ------------------------------------------------------------------ urls
    def url(self, path_or_url: str, relative_to: Optional[str] = None) -> str:
        """Absolute URL for a path (``/v2/...``) or a Location (absolute or relative)."""
        if re.match(r"^https?://", path_or_url):
            return path_or_url
        return urljoin(relative_to or (self.base_url + "/"), path_or_url)

    def location(self, resp: requests.Response) -> Optional[str]:
        """The response's Location resolved against the request URL (None when absent or empty)."""
        loc = resp.headers.get("Location")
        if not loc:
            return None
        return self.url(loc, relative_to=resp.url)

    @staticmethod
    def with_query(url: str, **params: str) -> str:
        """``url`` with extra query parameters appended (existing ones are kept)."""
        from urllib.parse import urlencode
        sep = "&" if urlsplit(url).query else "?"
        return url + sep + urlencode(params)

    def _cache_key(self, method: str, url: str) -> Tuple[str, str, str]:
        parts = urlsplit(url)
        return (parts.netloc, repository_of(parts.path), action_class(method))

    # --------------------------------------------------------------- request
    def request(self, method: str, path_or_url: str, *, headers: Optional[Dict[str, str]] = None,
                data: Body = None, params=None, allow_redirects: Optional[bool] = None,
                timeout: Optional[float] = None) -> requests.Response:
        """Send one registry request, answering at most one auth challenge.

        ``data`` is bytes (sent with Content-Length) or a zero-argument callable returning an
        iterable of bytes (sent chunked; see :func:`chunked`).
        """
        method = method.upper()
        url = self.url(path_or_url)
        key = self._cache_key(method, url)
        hdrs = {"User-Agent": USER_AGENT}
        hdrs.update(headers or {})
        if self.auth_cache is not None and key in self.auth_cache:
            hdrs["Authorization"] = self.auth_cache[key]
        if allow_redirects is None:
            allow_redirects = method == "GET"
        resp = self._send(method, url, hdrs, data, params, allow_redirects, timeout)
        if resp.status_code != 401:
            return resp
        header = resp.headers.get("WWW-Authenticate", "")
        self.challenges.append((method, resp.url, header))
        auth = self._answer(resp, header)
        if auth is None:
            return resp
        if self.auth_cache is not None:
            self.auth_cache[key] = auth
        hdrs["Authorization"] = auth
        return self._send(method, url, hdrs, data, params, allow_redirects, timeout)

    def _send(self, method, url, hdrs, data, params, allow_redirects, timeout) -> requests.Response:
        body = data() if callable(data) else data
        return self.session.request(method, url, headers=hdrs, data=body, params=params,
                                    allow_redirects=allow_redirects, timeout=timeout or self.timeout)

    def _answer(self, resp: requests.Response, header: str) -> Optional[str]:
        """The Authorization value answering this challenge (None if it names no known scheme)."""
        ch = parse_challenge(header)
        if ch.scheme == "basic":
            raw = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        if ch.scheme != "bearer":
            return None
        realm = ch.params.get("realm")
        if not realm:
            raise AuthFlowError(f"{resp.request.method} {resp.url}: Bearer challenge without a quoted realm: {header!r}")
        t = fetch_token(self.session, self.url(realm, relative_to=resp.url), ch.params.get("service", ""),
                        ch.scope, self.username, self.password)
        if t.status_code != 200:
            raise AuthFlowError(
                f"token endpoint answered {t.status_code} for scope {ch.scope!r} "
                f"(challenge {header!r} on {resp.request.method} {resp.url}): {t.text[:300]}")
        return "Bearer " + token_from(t)

    # ------------------------------------------------------------- shortcuts
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


# ------------------------------------------------------------- response checks
def describe(resp: requests.Response, body: int = 300) -> str:
    """``METHOD URL -> STATUS`` plus the interesting headers and the start of the body."""
    keep = ("Location", "Range", "Content-Range", "Content-Type", "Content-Length", "Docker-Content-Digest",
            "OCI-Subject", "OCI-Filters-Applied", "Link", "WWW-Authenticate", "OCI-Chunk-Min-Length")
    hdrs = {k: resp.headers[k] for k in keep if k in resp.headers}
    text = resp.content[:body].decode("utf-8", "replace") if resp.request.method != "HEAD" else ""
    return f"{resp.request.method} {resp.url} -> {resp.status_code} {hdrs} {text!r}"


def error_codes(resp: requests.Response) -> Optional[List[str]]:
    """Codes of a spec error body ``{"errors":[{"code":..}]}``; None when the body is not that shape."""
    try:
        body = resp.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list) or not body["errors"]:
        return None
    codes = []
    for e in body["errors"]:
        if not isinstance(e, dict) or not isinstance(e.get("code"), str):
            return None
        codes.append(e["code"])
    return codes


def error_body_problem(resp: requests.Response, allowed: Optional[Iterable[str]] = None) -> Optional[str]:
    """Why ``resp`` is not a spec error body (with a code from ``allowed``), or None if it is."""
    codes = error_codes(resp)
    if codes is None:
        return f"error body is not {{\"errors\":[{{\"code\":..}}]}}: {describe(resp)}"
    bad = [c for c in codes if not re.fullmatch(r"[A-Z_]+", c) or c not in SPEC_ERROR_CODES]
    if bad:
        return f"error codes {bad} are not spec codes: {describe(resp)}"
    if allowed is not None and codes[0] not in set(allowed):
        return f"errors[0].code {codes[0]!r} is not one of {sorted(set(allowed))}: {describe(resp)}"
    return None


_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def next_link(resp: requests.Response) -> Optional[str]:
    """The target of a ``Link: <...>; rel="next"`` header (raw, possibly relative), else None."""
    for value in resp.headers.get("Link", "").split(","):
        m = _LINK.search(value)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None


def chunk_plan(size: int, chunk: int) -> List[Tuple[int, int]]:
    """``[(start, end_exclusive), ...]`` covering ``size`` bytes in chunks of ``chunk``."""
    return [(s, min(s + chunk, size)) for s in range(0, size, chunk)]


# ----------------------------------------------------------------- content
def compact_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Blob:
    data: bytes
    media_type: str = MT_OCTET
    algorithm: str = "sha256"

    @property
    def digest(self) -> str:
        return digest_of(self.data, self.algorithm)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra) -> Dict[str, Any]:
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        d.update(extra)
        return d


@dataclass
class Manifest:
    """A manifest or index as pushed: exact bytes plus what the suite expects of it."""

    body: bytes
    media_type: str
    algorithm: str = "sha256"
    label: str = ""

    @property
    def digest(self) -> str:
        return digest_of(self.body, self.algorithm)

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def doc(self) -> Dict[str, Any]:
        return json.loads(self.body)

    @property
    def subject(self) -> Optional[str]:
        s = self.doc.get("subject")
        return s.get("digest") if isinstance(s, dict) else None

    @property
    def annotations(self) -> Optional[Dict[str, str]]:
        return self.doc.get("annotations")

    @property
    def referrer_artifact_type(self) -> Optional[str]:
        """What a referrers index must say: artifactType, else (image manifests only) config.mediaType."""
        doc = self.doc
        if doc.get("artifactType"):
            return doc["artifactType"]
        if self.media_type == MT_OCI_MANIFEST:
            return (doc.get("config") or {}).get("mediaType")
        return None

    def descriptor(self, **extra) -> Dict[str, Any]:
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        d.update(extra)
        return d


def make_manifest(doc: Dict[str, Any], algorithm: str = "sha256", label: str = "",
                  encode: Callable[[Any], bytes] = compact_json) -> Manifest:
    return Manifest(encode(doc), doc["mediaType"], algorithm, label)


def tar_bytes(files: Dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            ti.mode = 0o644
            ti.mtime = 1_700_000_000
            tar.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


def random_layer(algorithm: str = "sha256", compressed: bool = True, size: int = 200) -> Tuple[Blob, str]:
    """A small random tar layer (gzip unless ``compressed`` is False); returns (blob, diff_id)."""
    raw = tar_bytes({f"conformance/{rand_hex(8)}.bin": os.urandom(size)})
    diff_id = digest_of(raw, algorithm)
    if not compressed:
        return Blob(raw, MT_LAYER_TAR, algorithm), diff_id
    return Blob(gzip.compress(raw, mtime=0), MT_LAYER_GZIP, algorithm), diff_id


def image_config(diff_ids: List[str], arch: str = "amd64", **extra) -> Dict[str, Any]:
    cfg = {
        "architecture": arch,
        "os": "linux",
        "author": rand_hex(16),  # random per run: unique digests
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cfg.update(extra)
    return cfg


@dataclass
class Image:
    manifest: Manifest
    config: Blob
    layers: List[Blob]


def build_image(algorithm: str = "sha256", layers: int = 2, arch: str = "amd64", compressed: bool = True,
                config_extra: Optional[Dict[str, Any]] = None, manifest_extra: Optional[Dict[str, Any]] = None,
                label: str = "image") -> Image:
    """A plain runnable-looking image: random layers, a config whose diff_ids match them."""
    blobs, diff_ids = [], []
    for _ in range(layers):
        b, d = random_layer(algorithm, compressed)
        blobs.append(b)
        diff_ids.append(d)
    config = Blob(compact_json(image_config(diff_ids, arch, **(config_extra or {}))), MT_OCI_CONFIG, algorithm)
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in blobs],
    }
    doc.update(manifest_extra or {})
    return Image(make_manifest(doc, algorithm, label), config, blobs)


def index_of(children: List[Tuple[Manifest, Optional[Dict[str, str]]]], algorithm: str = "sha256",
             label: str = "index", **extra) -> Manifest:
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [m.descriptor(**({"platform": p} if p else {})) for m, p in children],
    }
    doc.update(extra)
    return make_manifest(doc, algorithm, label)


EMPTY_JSON = b"{}"


def empty_config(algorithm: str = "sha256") -> Blob:
    return Blob(EMPTY_JSON, MT_EMPTY, algorithm)


@dataclass
class DataSet:
    """Blobs and manifests to push (in order: children before parents) plus the tags to set."""

    name: str
    algorithm: str = "sha256"
    blobs: List[Blob] = field(default_factory=list)
    manifests: List[Manifest] = field(default_factory=list)
    tags: Dict[str, Manifest] = field(default_factory=dict)
    #: Layers the manifests name but nobody uploads (non-distributable).
    foreign: List[Dict[str, Any]] = field(default_factory=list)

    def add_blob(self, *blobs: Blob) -> None:
        for b in blobs:
            if all(b.digest != x.digest for x in self.blobs):
                self.blobs.append(b)

    def add_image(self, img: Image) -> Manifest:
        self.add_blob(img.config, *img.layers)
        self.manifests.append(img.manifest)
        return img.manifest

    def add_manifest(self, m: Manifest) -> Manifest:
        self.manifests.append(m)
        return m


# ----------------------------------------------------------- data set shapes
def ds_image(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("image", algorithm)
    ds.tags["image"] = ds.add_image(build_image(algorithm))
    return ds


def ds_image_uncompressed(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("image-uncompressed", algorithm)
    ds.tags["image-uncompressed"] = ds.add_image(build_image(algorithm, compressed=False))
    return ds


def ds_large_manifest(algorithm: str = "sha256") -> DataSet:
    """An image manifest of about 3.9 MB: 390 annotations of 10,000 characters each."""
    ds = DataSet("large-manifest", algorithm)
    notes = {f"org.example.conformance.large.{i:03d}": "A" * 10_000 for i in range(390)}
    notes["org.example.conformance.run"] = rand_hex(16)
    ds.tags["large-manifest"] = ds.add_image(build_image(algorithm, layers=1, manifest_extra={"annotations": notes}))
    return ds


def _platform_images(ds: DataSet, algorithm: str, archs=("amd64", "arm64")) -> List[Tuple[Manifest, Dict[str, str]]]:
    out = []
    for arch in archs:
        m = ds.add_image(build_image(algorithm, arch=arch, label=f"image-{arch}"))
        out.append((m, {"architecture": arch, "os": "linux"}))
    return out


def ds_index(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("index", algorithm)
    ds.tags["index"] = ds.add_manifest(index_of(_platform_images(ds, algorithm), algorithm))
    return ds


def ds_nested_index(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("nested-index", algorithm)
    inner = []
    for n in range(2):
        idx = ds.add_manifest(index_of(_platform_images(ds, algorithm), algorithm, label=f"inner-index-{n}"))
        inner.append((idx, None))
    ds.tags["index-of-index"] = ds.add_manifest(index_of(inner, algorithm, label="outer-index",
                                                        annotations={"org.example.run": rand_hex(16)}))
    return ds


def ds_empty_index(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("empty-index", algorithm)
    ds.tags["empty-index"] = ds.add_manifest(index_of([], algorithm, label="empty-index",
                                                      annotations={"org.example.run": rand_hex(16)}))
    return ds


ARTIFACT_TYPE = "application/vnd.example.oci.conformance.v1"


def build_artifact(algorithm: str = "sha256", artifact_type: str = ARTIFACT_TYPE, layer: Optional[Blob] = None,
                   subject: Optional[Dict[str, Any]] = None, annotations: Optional[Dict[str, str]] = None,
                   label: str = "artifact") -> Image:
    """An artifact: artifactType set, config = the empty JSON descriptor, one layer."""
    cfg = empty_config(algorithm)
    layer = layer or Blob(os.urandom(2048), artifact_type, algorithm)
    doc: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": cfg.descriptor(),
        "layers": [layer.descriptor()],
    }
    if subject is not None:
        doc["subject"] = subject
    if annotations is not None:
        doc["annotations"] = annotations
    return Image(make_manifest(doc, algorithm, label), cfg, [layer])


def ds_artifact(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("artifact", algorithm)
    ds.tags["artifact"] = ds.add_image(build_artifact(algorithm))
    return ds


def ds_artifact_index(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("artifact-index", algorithm)
    children = [(ds.add_image(build_artifact(algorithm, label=f"artifact-{n}")), None) for n in range(2)]
    ds.tags["artifact-index"] = ds.add_manifest(index_of(children, algorithm, label="artifact-index",
                                                         artifactType=ARTIFACT_TYPE))
    return ds


def ds_artifact_without_layers(algorithm: str = "sha256") -> DataSet:
    """An artifact whose only layer is the empty JSON blob."""
    ds = DataSet("artifact-without-layers", algorithm)
    ds.tags["artifact-without-layers"] = ds.add_image(build_artifact(
        algorithm, layer=empty_config(algorithm), annotations={"org.example.run": rand_hex(16)}))
    return ds


def ds_data_field(algorithm: str = "sha256") -> DataSet:
    """Every descriptor carries ``data`` (base64 of the content)."""
    ds = DataSet("data-field", algorithm)
    layer, diff_id = random_layer(algorithm)
    config = Blob(compact_json(image_config([diff_id])), MT_OCI_CONFIG, algorithm)
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config.descriptor(data=b64(config.data)),
        "layers": [layer.descriptor(data=b64(layer.data))],
    }
    ds.add_blob(config, layer)
    ds.tags["data-field"] = ds.add_manifest(make_manifest(doc, algorithm, "data-field"))
    return ds


def ds_custom_fields(algorithm: str = "sha256") -> DataSet:
    """Unknown ``org.<random>`` keys in the index, the manifest, its descriptors and the config."""
    ds = DataSet("custom-fields", algorithm)
    key = f"org.{rand_hex(10)}"
    layer, diff_id = random_layer(algorithm)
    config = Blob(compact_json(image_config([diff_id], **{key: {"custom": rand_hex(8)}})), MT_OCI_CONFIG, algorithm)
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config.descriptor(**{key: "config-descriptor"}),
        "layers": [layer.descriptor(**{key: ["layer", 1, True]})],
        key: {"nested": {"value": rand_hex(8)}},
    }
    ds.add_blob(config, layer)
    m = ds.add_manifest(make_manifest(doc, algorithm, "custom-fields-manifest"))
    ds.tags["custom-fields"] = ds.add_manifest(index_of(
        [(m, {"architecture": "amd64", "os": "linux"})], algorithm, label="custom-fields-index", **{key: 42}))
    return ds


def ds_unknown_and_null_fields(algorithm: str = "sha256") -> DataSet:
    """Generation A's manifests: unknown fields, ``null`` fields, and not compact JSON.

    The config descriptor carries ``data`` and ``newUnspecifiedField`` (base64 text); the layer
    descriptors carry ``"newUnspecifiedField": null`` and ``"data": null``. The body is indented
    with a trailing newline, so any re-serialisation by the registry shows.
    """
    ds = DataSet("unknown-and-null-fields", algorithm)
    layer, diff_id = random_layer(algorithm)
    config = Blob(compact_json(image_config([diff_id])), MT_OCI_CONFIG, algorithm)
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config.descriptor(data=b64(config.data), newUnspecifiedField=b64(b"hello world")),
        "layers": [layer.descriptor(newUnspecifiedField=None, data=None)],
    }
    ds.add_blob(config, layer)
    encode = lambda d: (json.dumps(d, indent=3) + "\n").encode()  # noqa: E731
    ds.tags["unknown-fields"] = ds.add_manifest(make_manifest(doc, algorithm, "unknown-and-null-fields", encode))
    return ds


def ds_no_layers(algorithm: str = "sha256") -> DataSet:
    ds = DataSet("no-layers", algorithm)
    config = Blob(compact_json(image_config([])), MT_OCI_CONFIG, algorithm)
    doc = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": config.descriptor(), "layers": []}
    ds.add_blob(config)
    ds.tags["no-layers"] = ds.add_manifest(make_manifest(doc, algorithm, "no-layers"))
    return ds


def ds_non_distributable(algorithm: str = "sha256") -> DataSet:
    """Two foreign (non-distributable) layers that are never uploaded, plus one normal layer."""
    ds = DataSet("non-distributable", algorithm)
    foreign = []
    for mt, size in ((MT_NONDIST_GZIP, 123456), (MT_NONDIST_TAR, 12345)):
        d = random_digest(algorithm)
        hexpart = d.split(":", 1)[1]
        foreign.append({"mediaType": mt, "digest": d, "size": size,
                        "urls": [f"https://store.example.com/blobs/{algorithm}/{hexpart}"]})
    layer, diff_id = random_layer(algorithm)
    config = Blob(compact_json(image_config([random_digest(algorithm), random_digest(algorithm), diff_id])),
                  MT_OCI_CONFIG, algorithm)
    doc = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": config.descriptor(),
           "layers": foreign + [layer.descriptor()]}
    ds.add_blob(config, layer)
    ds.foreign = foreign
    ds.tags["non-distributable-image"] = ds.add_manifest(make_manifest(doc, algorithm, "non-distributable"))
    return ds


def ds_sha512_index(algorithm: str = "sha512") -> DataSet:
    """A two-platform index in which every layer, config, diff_id, manifest and the index is sha512.

    Pushed by digest only: no tags.
    """
    ds = DataSet("sha512-index", "sha512")
    ds.add_manifest(index_of(_platform_images(ds, "sha512"), "sha512", label="sha512-index"))
    return ds


DATASETS: Dict[str, Callable[[], DataSet]] = {
    "image": ds_image,
    "image-uncompressed": ds_image_uncompressed,
    "large-manifest": ds_large_manifest,
    "index": ds_index,
    "nested-index": ds_nested_index,
    "empty-index": ds_empty_index,
    "artifact": ds_artifact,
    "artifact-index": ds_artifact_index,
    "artifact-without-layers": ds_artifact_without_layers,
    "data-field": ds_data_field,
    "custom-fields": ds_custom_fields,
    "unknown-and-null-fields": ds_unknown_and_null_fields,
    "no-layers": ds_no_layers,
    "non-distributable": ds_non_distributable,
    "sha512-index": ds_sha512_index,
}


# ---------------------------------------------------------- push helpers
class SetupError(AssertionError):
    """A push needed to set a test up did not work (the message says which request and why)."""


def upload_blob(client: RegistryClient, repo: str, data: bytes, digest: str) -> requests.Response:
    """POST then PUT ``?digest=`` with the whole body; raises :class:`SetupError` unless 201."""
    post = client.post(f"/v2/{repo}/blobs/uploads/", data=b"")
    loc = client.location(post)
    if post.status_code != 202 or not loc:
        raise SetupError(f"setup: starting a blob upload failed: {describe(post)}")
    put = client.put(client.with_query(loc, digest=digest), data=data, headers={"Content-Type": MT_OCTET})
    if put.status_code != 201:
        raise SetupError(f"setup: uploading blob {digest} failed: {describe(put)}")
    return put


def put_manifest(client: RegistryClient, repo: str, reference: str, m: Manifest, chunked_body: bool = False,
                 **kw) -> requests.Response:
    data: Body = chunked(m.body) if chunked_body else m.body
    return client.put(f"/v2/{repo}/manifests/{reference}", data=data,
                      headers={"Content-Type": m.media_type}, **kw)


def push_manifest(client: RegistryClient, repo: str, reference: str, m: Manifest) -> requests.Response:
    r = put_manifest(client, repo, reference, m)
    if r.status_code != 201:
        raise SetupError(f"setup: manifest PUT {m.label or m.digest} as {reference} failed: {describe(r)}")
    return r


def push_dataset(client: RegistryClient, repo: str, ds: DataSet, tags: bool = True) -> None:
    """Blobs, then every manifest by digest (children first), then the tags."""
    for b in ds.blobs:
        upload_blob(client, repo, b.data, b.digest)
    for m in ds.manifests:
        push_manifest(client, repo, m.digest, m)
    if tags:
        for tag, m in ds.tags.items():
            push_manifest(client, repo, tag, m)
