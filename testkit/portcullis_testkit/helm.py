"""Helm side of the e2e suite: a real Helm v4 client (helm-python-sdk) and vendor helpers.

``helm_python`` binds Helm's Go SDK through ctypes, so no ``helm`` binary is
needed. Calls verified against a plain ``docker-registry`` (with and without
htpasswd auth, over plain HTTP on 127.0.0.1):

* ``helm_python.package(dir, destination=, version=)`` -> path of ``<name>-<version>.tgz``
* ``RegistryClient(plain_http=True, credentials_file=F)`` then
  ``.login(host, user, password, plain_http=True)`` (``HelmRegistryError`` on 401),
  ``.push(tgz, "oci://host/path")``, ``.pull("oci://host/path/chart", version=,
  destination=)`` (``HelmRepoError`` when refused or missing), ``.tags(ref)``,
  ``.resolve("oci://host/path/chart:tag")``
* ``Chart.load(tgz)`` -> ``.metadata``, ``.values``, ``.render(values, name=, namespace=)``
  (``{template path: rendered text}``)
* ``values_from_yaml(text)`` -> dict (used here to parse rendered manifests, so
  no YAML library is needed)

Isolation: the Go library reads its environment once, when the process starts,
so setting ``HELM_REGISTRY_CONFIG`` & co. from Python has no effect (a default
client writes ``~/.config/helm/registry/config.json``). Every :class:`HelmClient`
therefore gets its own ``credentials_file`` in its own directory, and nothing
here ever uses the SDK's default client: logins never leak between tests.

Every SDK call runs on a worker thread with a deadline (ctypes releases the
GIL), so a server that hangs fails the test instead of hanging the suite.
"""
from __future__ import annotations

import itertools
import json
import re
import shutil
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, TypeVar

import helm_python as helm
from helm_python import HelmError

from .proc import run
from .util import REPO_ROOT, unique

T = TypeVar("T")

E2E_ROOT = REPO_ROOT / "e2e"
CHART_DIR = E2E_ROOT / "charts" / "slackernews"
CHART_NAME = "slackernews"
#: A comment in the test chart's values.yaml that must survive license injection.
VALUES_COMMENT = "# e2e-comment-marker: comments in this file must survive license injection."
PULL_SECRET_NAME = "replicated-pull-secret"
DEFAULT_CHANNELS = ("Unstable", "Beta", "Stable")
SDK_TIMEOUT = 90.0

_counter = itertools.count()


# ------------------------------------------------------------------ deadlines
def bounded(fn: Callable[[], T], timeout: float = SDK_TIMEOUT, what: str = "helm call") -> T:
    """Run ``fn`` on a daemon thread; fail the test if it does not finish in time."""
    box: Dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, name=f"helm-sdk-{what}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise AssertionError(f"{what} did not finish within {timeout:.0f}s (server hung?)")
    if "error" in box:
        raise box["error"]
    return box["value"]


# ------------------------------------------------------------------ packaging
def package_chart(dest: Path, version: Optional[str] = None, chart_dir: Path = CHART_DIR,
                  edit: Optional[Callable[[Path], None]] = None) -> Path:
    """Package the test chart fresh into ``dest`` (``helm package``); returns the .tgz.

    ``version`` overrides Chart.yaml's version (written into the archive's
    Chart.yaml); ``edit`` may change a private copy of the chart directory first.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    src = dest / f"src-{next(_counter)}" / chart_dir.name
    shutil.copytree(chart_dir, src)
    if edit is not None:
        edit(src)
    out = bounded(lambda: helm.package(str(src), destination=str(dest), version=version), what="package")
    path = Path(out)
    assert path.is_file(), f"helm package did not write {path}"
    return path


def archive_member_text(tgz: Path, member: str) -> str:
    """Text of ``<chart>/<member>`` inside a chart archive."""
    with tarfile.open(tgz, "r:gz") as tar:
        for m in tar.getmembers():
            parts = m.name.split("/", 1)
            if len(parts) == 2 and parts[1] == member:
                f = tar.extractfile(m)
                assert f is not None
                return f.read().decode()
    raise AssertionError(f"{tgz} has no {member}")


# ------------------------------------------------------------------ rendering
@dataclass
class Rendered:
    """A chart rendered offline, manifests parsed to dicts."""

    metadata: Dict[str, Any]
    values: Dict[str, Any]  # the chart's default values (what Portcullis injected into)
    templates: Dict[str, str]  # template path -> rendered text
    docs: List[Dict[str, Any]] = field(default_factory=list)

    def find(self, kind: str, name: Optional[str] = None) -> List[Dict[str, Any]]:
        return [d for d in self.docs if d.get("kind") == kind
                and (name is None or (d.get("metadata") or {}).get("name") == name)]

    def one(self, kind: str, name: str) -> Dict[str, Any]:
        hits = self.find(kind, name)
        assert len(hits) == 1, f"expected one {kind}/{name}, got {len(hits)}:\n{self.dump()}"
        return hits[0]

    def template(self, suffix: str) -> str:
        for k, v in self.templates.items():
            if k.endswith(suffix):
                return v
        raise AssertionError(f"no rendered template ending in {suffix}: {sorted(self.templates)}")

    def dump(self) -> str:
        return "\n".join(f"# {k}\n{v}" for k, v in sorted(self.templates.items()))


# Helm's own split (releaseutil.SplitManifests): `---` starts a document even with text after it.
_DOC_SPLIT = re.compile(r"(?:^|\s*\n)---\s*")


def parse_manifests(text: str) -> List[Dict[str, Any]]:
    docs = []
    for part in _DOC_SPLIT.split(text):
        if not part.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in part.splitlines()):
            continue
        doc = helm.values_from_yaml(part)
        if doc:
            docs.append(doc)
    return docs


def render_chart(tgz: Path, values: Optional[Dict[str, Any]] = None, release: str = "slackernews",
                 namespace: str = "default") -> Rendered:
    def go():
        with helm.Chart.load(str(tgz)) as chart:
            return chart.metadata, chart.values, chart.render(values, name=release, namespace=namespace)

    metadata, chart_values, templates = bounded(go, what="render")
    docs: List[Dict[str, Any]] = []
    for path, text in sorted(templates.items()):
        # NOTES.txt is text for the person installing, not a manifest.
        if not path.endswith("NOTES.txt"):
            docs.extend(parse_manifests(text))
    return Rendered(metadata, chart_values, templates, docs)


# ------------------------------------------------------------------- client
class HelmClient:
    """A Helm OCI registry client with its own credentials file (plain HTTP)."""

    def __init__(self, workdir: Path, host: str):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host  # "127.0.0.1:PORT"
        self.credentials_file = self.workdir / "registry-config.json"
        self.downloads = self.workdir / "downloads"
        self._client = helm.RegistryClient(plain_http=True, credentials_file=str(self.credentials_file))

    def close(self) -> None:
        self._client.close()

    def ref(self, path: str) -> str:
        """``oci://HOST/<path>`` for a repository path such as ``app/beta/slackernews``."""
        return f"oci://{self.host}/{path.strip('/')}"

    def login(self, username: str, password: str) -> None:
        bounded(lambda: self._client.login(self.host, username, password, plain_http=True), what="login")

    def try_login(self, username: str, password: str) -> Optional[HelmError]:
        try:
            self.login(username, password)
        except HelmError as exc:
            return exc
        return None

    def pull(self, path: str, version: str) -> Path:
        """Pull ``oci://HOST/<path>`` at ``version``; returns the downloaded .tgz."""
        dest = self.downloads / f"{next(_counter)}"
        dest.mkdir(parents=True, exist_ok=True)
        ref = self.ref(path)
        bounded(lambda: self._client.pull(ref, version=version, destination=str(dest)), what=f"pull {ref}")
        files = sorted(dest.glob("*.tgz"))
        assert len(files) == 1, f"helm pull {ref} --version {version} wrote {files}"
        return files[0]

    def try_pull(self, path: str, version: str) -> Tuple[Optional[Path], Optional[HelmError]]:
        try:
            return self.pull(path, version), None
        except HelmError as exc:
            return None, exc

    def push(self, tgz: Path, remote_path: str) -> None:
        bounded(lambda: self._client.push(str(tgz), self.ref(remote_path)), what="push")

    def tags(self, path: str) -> List[str]:
        return bounded(lambda: self._client.tags(self.ref(path)), what="tags")

    def resolve(self, path: str, tag: str) -> Dict[str, Any]:
        return bounded(lambda: self._client.resolve(f"{self.ref(path)}:{tag}"), what="resolve")


def helm_client_factory(tmp_path: Path) -> Iterator[Callable[[str], HelmClient]]:
    """Body of a ``helm_clients`` fixture (``yield from helm_client_factory(tmp_path)``).

    Yields ``make(host)`` -> a fresh :class:`HelmClient` with its own credentials
    file under ``tmp_path``; every client is closed at teardown.
    """
    made: List[HelmClient] = []

    def make(host: str) -> HelmClient:
        c = HelmClient(tmp_path / f"helm-client-{len(made)}", host)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# ----------------------------------------------------------- vendor helpers
def cli_env(server, *args: str, env: Optional[Dict[str, str]] = None, input: Optional[str] = None):
    """Like ``server.cli`` but with extra environment (e.g. ``PORTCULLIS_APP``)."""
    from .portcullis import CliResult

    full = {"PORTCULLIS_API_URL": server.url, "PORTCULLIS_API_TOKEN": server.admin_token}
    full.update(env or {})
    cp = run([str(server.binary), *map(str, args)], input=input, env=full, timeout=60)
    return CliResult(cp.returncode, cp.stdout, cp.stderr)


def create_token(server, scope: Optional[str] = None, name: Optional[str] = None) -> Dict[str, Any]:
    """``portcullis token create`` -> {"id","name","scope","token"}."""
    name = name or unique("tok")
    args = ["token", "create", "--name", name]
    if scope:
        args += ["--scope", scope]
    obj = server.cli_json(*args)
    assert isinstance(obj, dict) and obj.get("id") and obj.get("token"), obj
    assert obj.get("name") == name, obj
    server.secrets.append(obj["token"])
    return obj


def parse_table(text: str) -> List[Dict[str, str]]:
    """Parse an aligned CLI table by the header's column offsets (blank cells allowed)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines, "empty table output"
    header = lines[0]
    cols = [(m.group(0), m.start()) for m in re.finditer(r"\S+", header)]
    rows = []
    for ln in lines[1:]:
        row = {}
        for i, (name, start) in enumerate(cols):
            end = cols[i + 1][1] if i + 1 < len(cols) else None
            row[name] = ln[start:end].strip() if end is not None else ln[start:].strip()
        rows.append(row)
    return rows


@dataclass
class Vendor:
    """Drives ``portcullis channel`` / ``release`` for one app."""

    server: Any
    app: str

    def channels(self) -> List[Dict[str, Any]]:
        out = self.server.cli_json("channel", "ls", "--app", self.app)
        assert isinstance(out, list), out
        return out

    def create_release(self, tgz: Path, version: str, promote: Optional[str] = "Unstable",
                       notes: str = "Uses the Portcullis proxy registry to pull images") -> int:
        args = ["release", "create", "--app", self.app, "--chart", str(tgz), "--version", version]
        if promote:
            args += ["--promote", promote]
        args += ["--release-notes", notes]
        return parse_sequence(self.server.cli_ok(*args))

    def promote(self, sequence: int, channel: str, version: str, notes: Optional[str] = None):
        args = ["release", "promote", str(sequence), channel, "--app", self.app, "--version", version]
        if notes:
            args += ["--release-notes", notes]
        return self.server.cli_ok(*args)

    def ls_text(self) -> str:
        return self.server.cli_ok("release", "ls", "--app", self.app).out

    def releases(self) -> Dict[int, Dict[str, str]]:
        return releases_by_sequence(self.ls_text())

    def release(self, tgz: Path, version: str, channels: Iterable[str] = DEFAULT_CHANNELS) -> int:
        """Create a release promoted to the first channel, then promote it to the others."""
        channels = list(channels)
        seq = self.create_release(tgz, version, promote=channels[0])
        for ch in channels[1:]:
            self.promote(seq, ch, version)
        return seq


_SEQ = re.compile(r"^\s*SEQUENCE:\s*(\S+)\s*$", re.M)


def parse_sequence(res) -> int:
    m = _SEQ.search(res.out)
    assert m, f"`release create` printed no `SEQUENCE: N` line:\n{res.describe()}"
    assert re.fullmatch(r"\d+", m.group(1)), f"sequence is not an integer: {m.group(1)!r}"
    return int(m.group(1))


RELEASE_LS_HEADER = ["SEQUENCE", "CREATED", "EDITED", "ACTIVE_CHANNELS"]


def releases_by_sequence(text: str) -> Dict[int, Dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines and lines[0].split() == RELEASE_LS_HEADER, f"unexpected `release ls` header:\n{text}"
    out = {}
    for row in parse_table(text):
        assert re.fullmatch(r"\d+", row["SEQUENCE"]), f"bad SEQUENCE cell in:\n{text}"
        out[int(row["SEQUENCE"])] = row
    return out


def active_channels(row: Dict[str, str]) -> set:
    return {c.strip() for c in row.get("ACTIVE_CHANNELS", "").split(",") if c.strip()}


def dockerconfig_json(b64: str) -> Dict[str, Any]:
    import base64

    return json.loads(base64.b64decode(b64))
