"""A real upstream registry: CNCF distribution (``docker-registry``) with htpasswd auth."""
from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import requests

from .images import GeneratedImage
from .proc import ManagedProcess, run
from .util import free_port, wait_stable, wait_until

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO_BIN = shutil.which("skopeo") or "/usr/bin/skopeo"

_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
MANIFEST_ACCEPT = _ACCEPT

_FIELD = r'(?:"((?:[^"\\]|\\.)*)"|(\S+))'
_RE_METHOD = re.compile(r"\bhttp\.request\.method=" + _FIELD)
_RE_URI = re.compile(r"\bhttp\.request\.uri=" + _FIELD)
_RE_STATUS = re.compile(r"\bhttp\.response\.status=(\d+)")


def _field(m: Optional[re.Match]) -> Optional[str]:
    if not m:
        return None
    if m.group(1) is not None:
        return m.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return m.group(2)


def distribution_config(port: int, root: Path, auth: str, access_log: bool = True) -> str:
    """A ``docker-registry`` configuration on 127.0.0.1:``port``; ``auth`` is the indented body
    of its ``auth:`` section."""
    return f"""version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: {'false' if access_log else 'true'}
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  secret: testkit-{secrets.token_hex(8)}
auth:
{auth}"""


def token_auth_config(realm: str, service: str, issuer: str, cert: Path) -> str:
    """The ``auth:`` body for token auth against a token server's realm and certificate."""
    return f"""  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {cert}
"""


@dataclass
class LoggedRequest:
    method: str
    uri: str
    status: Optional[int]


class UpstreamRegistry:
    """``docker-registry serve`` on 127.0.0.1:<free port> with Basic (htpasswd) auth."""

    def __init__(self, workdir: Path, username: str = "e2e-user", password: Optional[str] = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        # Distinctive so tests can grep logs for leaks.
        self.password = password or f"upw-{secrets.token_hex(12)}"
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.log_path = self.workdir / "registry.log"
        self.root = self.workdir / "storage"
        self.proc: Optional[ManagedProcess] = None
        self._write_config()

    # ----------------------------------------------------------------- lifecycle
    def _write_config(self) -> None:
        ht = run(["htpasswd", "-Bbn", self.username, self.password], check=True).stdout
        (self.workdir / "htpasswd").write_text(ht.strip() + "\n")
        self.config_path = self.workdir / "config.yml"
        self.config_path.write_text(distribution_config(self.port, self.root, f"""  htpasswd:
    realm: e2e-upstream
    path: {self.workdir / 'htpasswd'}
"""))

    def start(self, timeout: float = 20.0) -> "UpstreamRegistry":
        self.proc = ManagedProcess([REGISTRY_BIN, "serve", str(self.config_path)], self.log_path)

        def ready():
            if not self.proc.alive():
                raise AssertionError(
                    f"docker-registry exited ({self.proc.proc.returncode}):\n{self.proc.log_tail()}"
                )
            r = requests.get(self.url + "/v2/", timeout=2)
            return r.status_code == 401

        try:
            wait_until(ready, timeout=timeout, message=lambda: f"upstream not ready:\n{self.proc.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    # ------------------------------------------------------------------ pushing
    def push(self, image: GeneratedImage, repo: str, tag: Optional[str] = None) -> str:
        """Push an OCI layout with skopeo, digests preserved. Returns ``repo:tag``."""
        tag = tag or image.tag
        args = [
            SKOPEO_BIN,
            "--insecure-policy",
            "copy",
            "--preserve-digests",
            "--dest-creds",
            f"{self.username}:{self.password}",
            "--dest-tls-verify=false",
        ]
        if image.is_index:
            args += ["--multi-arch", "all"]
        args += [image.oci_ref(), f"docker://{self.host}/{repo}:{tag}"]
        run(args, check=True, timeout=300)
        got = self.manifest_digest(repo, tag)
        assert got == image.digest, f"pushed digest {got} != generated {image.digest}"
        return f"{repo}:{tag}"

    def tag(self, repo: str, src_ref: str, new_tag: str) -> None:
        """Create ``new_tag`` pointing at the manifest ``src_ref`` (tag or digest)."""
        body, ctype, _ = self.get_manifest(repo, src_ref)
        r = self.session().put(
            f"{self.url}/v2/{repo}/manifests/{new_tag}", data=body, headers={"Content-Type": ctype}
        )
        assert r.status_code == 201, (r.status_code, r.text)

    # ------------------------------------------------------------ direct access
    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = (self.username, self.password)
        return s

    def get_manifest(self, repo: str, ref: str):
        """Returns ``(bytes, content_type, docker_content_digest)`` straight from upstream."""
        r = self.session().get(
            f"{self.url}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}, timeout=30
        )
        r.raise_for_status()
        return r.content, r.headers.get("Content-Type"), r.headers.get("Docker-Content-Digest")

    def manifest_digest(self, repo: str, ref: str) -> str:
        return self.get_manifest(repo, ref)[2]

    def get_blob(self, repo: str, digest: str) -> bytes:
        r = self.session().get(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=120)
        r.raise_for_status()
        return r.content

    def tags(self, repo: str) -> List[str]:
        r = self.session().get(f"{self.url}/v2/{repo}/tags/list", timeout=30)
        r.raise_for_status()
        return sorted(r.json().get("tags") or [])

    # ------------------------------------------------------------- log parsing
    def logged_requests(self) -> List[LoggedRequest]:
        """Requests the registry reported as completed (i.e. authorised requests)."""
        out: List[LoggedRequest] = []
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            # "response completed" (2xx/3xx) or "response completed with error" (4xx/5xx);
            # requests rejected by auth (401) are not reported this way.
            if 'msg="response completed' not in line:
                continue
            method, uri = _field(_RE_METHOD.search(line)), _field(_RE_URI.search(line))
            st = _RE_STATUS.search(line)
            if method and uri:
                out.append(LoggedRequest(method, uri, int(st.group(1)) if st else None))
        return out

    def count_requests(
        self, method: str, path_substring: str, status: Optional[int] = None, settle: float = 0.0
    ) -> int:
        """Number of completed ``method`` requests whose URI contains ``path_substring``.

        With ``settle`` > 0 the log is polled until the count has been stable
        for that many seconds (log lines are flushed when a response completes).
        """
        if settle > 0:
            return wait_stable(lambda: self.count_requests(method, path_substring, status), settle=settle)
        return sum(
            1
            for r in self.logged_requests()
            if r.method == method.upper()
            and path_substring in r.uri
            and (status is None or r.status == status)
        )

    def wait_count(
        self,
        method: str,
        path_substring: str,
        at_least: int = 1,
        timeout: float = 10.0,
        settle: float = 0.75,
        status: Optional[int] = None,
    ) -> int:
        """Poll until at least ``at_least`` requests are logged, then until the count is stable.

        Returns the settled count (log lines are written when the response
        completes, possibly a little after the client saw the last byte).
        """
        wait_until(
            lambda: self.count_requests(method, path_substring, status) >= at_least,
            timeout=timeout,
            message=lambda: f"expected >= {at_least} {method} {path_substring} in upstream log",
        )
        return wait_stable(
            lambda: self.count_requests(method, path_substring, status), settle=settle, timeout=timeout
        )


class _TokenFlowAuth(requests.auth.AuthBase):
    """requests auth doing Docker's token flow: on a Bearer challenge, fetch a token for the
    challenged scope from the realm with Basic credentials, and send the request again."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def __call__(self, r):
        r.register_hook("response", self._on_response)
        return r

    def _on_response(self, resp, **kwargs):
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code != 401 or not challenge.lower().startswith("bearer "):
            return resp
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        token = requests.get(params["realm"], params={"service": params.get("service", ""), "scope": params.get("scope", "")},
                             auth=(self.username, self.password), timeout=30).json()["token"]
        retry = resp.request.copy()
        retry.headers["Authorization"] = "Bearer " + token
        resp.content  # release the connection
        return resp.connection.send(retry, **kwargs)


class TokenAuthUpstream(UpstreamRegistry):
    """``docker-registry`` with token auth, its realm a :class:`TokenService`: the shape of
    Docker Hub, GHCR, Quay and Artifact Registry. ``username``/``password`` is the account
    the tests push with (it must be one of the token service's accounts)."""

    SERVICE = "testkit-upstream"

    def __init__(self, workdir: Path, tokens, username: str, password: str):
        self.tokens = tokens
        super().__init__(workdir, username=username, password=password)

    def _write_config(self) -> None:
        self.config_path = self.workdir / "config.yml"
        self.config_path.write_text(distribution_config(self.port, self.root, token_auth_config(self.tokens.realm, self.SERVICE,
                                                                                               self.tokens.ISSUER, self.tokens.cert)))

    def start(self, timeout: float = 20.0) -> "TokenAuthUpstream":
        if not self.tokens.cert.is_file():
            raise RuntimeError("start the token service first: the registry reads its certificate at start")
        super().start(timeout)
        return self

    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = _TokenFlowAuth(self.username, self.password)
        return s
