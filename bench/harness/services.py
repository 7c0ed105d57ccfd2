"""The processes under benchmark: token server, upstream, distribution proxy, Portcullis, nginx.

Every process is a ``ManagedProcess`` (own process group, SIGTERM then
SIGKILL on stop, and an atexit safety net), so nothing outlives the harness.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from .common import (
    BENCH_DIR,
    MANIFEST_ACCEPT,
    ManagedProcess,
    first_answer,
    free_port,
    run,
    wait_until,
)
from .imagecache import Image
from portcullis_testkit.upstream import distribution_config, token_auth_config

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO_BIN = shutil.which("skopeo") or "/usr/bin/skopeo"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"

_FIELD = r'(?:"((?:[^"\\]|\\.)*)"|(\S+))'
_RE_METHOD = re.compile(r"\bhttp\.request\.method=" + _FIELD)
_RE_URI = re.compile(r"\bhttp\.request\.uri=" + _FIELD)


def _field(m) -> Optional[str]:
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2)


# --------------------------------------------------------------------- token server
class TokenServer:
    def __init__(self, workdir: Path, user: str, password: str, ttl: int = 300) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user, self.password, self.ttl = user, password, ttl
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.realm = self.url + "/token"
        self.cert = self.workdir / "token-cert.pem"
        self.proc: Optional[ManagedProcess] = None

    def start(self) -> "TokenServer":
        pwfile = self.workdir / "password"
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        self.proc = ManagedProcess(
            [sys.executable, "-m", "portcullis_testkit.tokenserver", "--port", str(self.port), "--cert", str(self.cert),
             "--user", self.user, "--password-file", str(pwfile), "--ttl", str(self.ttl)],
            self.workdir / "tokenserver.log",
            cwd=BENCH_DIR,
        )
        wait_until(lambda: self.cert.is_file() and requests.get(self.url + "/healthz", timeout=2).ok,
                   timeout=20, message=lambda: f"token server not ready:\n{self.proc.log_tail()}")
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def token(self, service: str, scope: str) -> str:
        r = requests.get(self.realm, params={"service": service, "scope": scope},
                         auth=(self.user, self.password), timeout=10)
        r.raise_for_status()
        return r.json()["token"]

    def issued(self) -> int:
        return requests.get(self.url + "/healthz", timeout=5).json()["issued"]


# -------------------------------------------------------------------------- upstream
class Upstream:
    """docker-registry with token auth (realm = our token server)."""

    SERVICE = "bench-upstream"
    ISSUER = "bench-token-issuer"

    def __init__(self, workdir: Path, tokens: TokenServer) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tokens = tokens
        self.username, self.password = tokens.user, tokens.password
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.log_path = self.workdir / "upstream.log"
        self.config = self.workdir / "config.yml"
        self.config.write_text(distribution_config(self.port, self.workdir / "storage",
                                                   token_auth_config(tokens.realm, self.SERVICE, self.ISSUER, tokens.cert),
                                                   access_log=False))
        self.proc: Optional[ManagedProcess] = None

    def start(self) -> "Upstream":
        self.proc = ManagedProcess([REGISTRY_BIN, "serve", str(self.config)], self.log_path)
        t0 = time.monotonic()
        first_answer(self.port, "/v2/", self.proc, t0, timeout=20, want=401)
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def token(self, repo: str, actions: str = "pull") -> str:
        return self.tokens.token(self.SERVICE, f"repository:{repo}:{actions}")

    def headers(self, repo: str) -> Dict[str, str]:
        return {"Authorization": "Bearer " + self.token(repo)}

    def push(self, image: Image, repo: str) -> None:
        run([SKOPEO_BIN, "--insecure-policy", "copy", "--preserve-digests", "--quiet",
             "--dest-creds", f"{self.username}:{self.password}", "--dest-tls-verify=false",
             image.oci_ref(), f"docker://{self.host}/{repo}:{image.tag}"], check=True, timeout=1800)

    # Access-log counting. Offsets let a measurement count only its own requests.
    def mark(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def requests_since(self, offset: int) -> List[tuple]:
        out = []
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            data = f.read().decode(errors="replace")
        for line in data.splitlines():
            if 'msg="response completed' not in line:
                continue
            m, u = _field(_RE_METHOD.search(line)), _field(_RE_URI.search(line))
            if m and u:
                out.append((m, u))
        return out

    def count_since(self, offset: int, method: str, substr: str, settle: float = 0.6) -> int:
        from .common import wait_stable

        def read():
            return sum(1 for m, u in self.requests_since(offset) if m == method and substr in u)

        return wait_stable(read, settle=settle, timeout=30)


# ------------------------------------------------------------------ proxies under test
class Proxy:
    """Common interface: a registry proxy that can be restarted with an empty cache."""

    name = "?"
    health_path = "/"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: Optional[ManagedProcess] = None
        self.port = 0
        self.startups: List[float] = []
        self.shutdowns: List[float] = []  # SIGTERM -> exit, when it exited within stop_grace
        self.shutdown_kills = 0  # times it had to be SIGKILLed
        self.generation = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    stop_grace = 5.0

    def stop(self) -> None:
        """SIGTERM, wait up to ``stop_grace`` s for a clean exit (timed), then SIGKILL."""
        if not self.proc:
            return
        p = self.proc
        self.proc = None
        if p.proc.poll() is None:
            t0 = time.monotonic()
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = t0 + self.stop_grace
            while p.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if p.proc.poll() is None:
                self.shutdown_kills += 1
                p._signal_group(signal.SIGKILL)
            else:
                self.shutdowns.append(time.monotonic() - t0)
        p.stop(timeout=5)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def restart_fresh(self) -> float:
        """Stop, wipe the cache, start; returns seconds from exec to first answer."""
        self.stop()
        self.generation += 1
        self._wipe()
        self.port = free_port()
        args, logp = self._command()
        t0 = time.monotonic()
        self.proc = ManagedProcess(args, logp)
        took = first_answer(self.port, self.health_path, self.proc, t0, timeout=120)
        self.startups.append(took)
        self._after_start()
        return took

    # Implemented by subclasses
    def _wipe(self) -> None: ...
    def _command(self): ...
    def _after_start(self) -> None: ...
    def repo(self, upstream_repo: str) -> str: ...
    def headers(self, upstream_repo: str) -> Dict[str, str]: ...


class DistributionProxy(Proxy):
    name = "distribution"
    health_path = "/v2/"

    def __init__(self, workdir: Path, upstream: Upstream) -> None:
        super().__init__(workdir)
        self.upstream = upstream

    def _wipe(self) -> None:
        shutil.rmtree(self.workdir / "storage", ignore_errors=True)

    def _command(self):
        cfg = self.workdir / "config.yml"
        # Distribution's defaults for logging (info, access log on), as Portcullis runs at its default (info).
        cfg.write_text(f"""version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {self.workdir / 'storage'}
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{self.port}
  secret: bench-{secrets.token_hex(8)}
proxy:
  remoteurl: {self.upstream.url}
  username: {self.upstream.username}
  password: {self.upstream.password}
""")
        return [REGISTRY_BIN, "serve", str(cfg)], self.workdir / f"proxy-{self.generation}.log"

    def repo(self, upstream_repo: str) -> str:
        return upstream_repo

    def headers(self, upstream_repo: str) -> Dict[str, str]:
        return {}  # a distribution proxy is open to its clients


class Portcullis(Proxy):
    name = "portcullis"
    health_path = "/healthz"
    APP = "bench"
    REG = "up"

    def __init__(self, workdir: Path, binary: Path, upstream: Upstream, extra_args: List[str]) -> None:
        super().__init__(workdir)
        self.binary = Path(binary)
        self.upstream = upstream
        self.extra_args = list(extra_args)
        self.license_id = ""
        self._tokens: Dict[str, tuple] = {}

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def _wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        self._tokens.clear()

    def _command(self):
        # The benchmark's upstreams listen on 127.0.0.1: a private address Portcullis reaches only when told to.
        return ([str(self.binary), "serve", "--listen", f"127.0.0.1:{self.port}",
                 "--data-dir", str(self.data_dir), "--allow-private-upstreams", *self.extra_args],
                self.workdir / f"portcullis-{self.generation}.log")

    def cli(self, *args: str, input: Optional[str] = None) -> str:
        token = (self.data_dir / "admin-token").read_text().strip()
        cp = run([str(self.binary), *args], input=input, timeout=120,
                 env={"PORTCULLIS_API_URL": self.url, "PORTCULLIS_API_TOKEN": token})
        if cp.returncode != 0:
            raise RuntimeError(f"portcullis {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp.stdout

    def _after_start(self) -> None:
        wait_until(lambda: (self.data_dir / "admin-token").is_file()
                   and (self.data_dir / "admin-token").read_text().strip(), timeout=20,
                   message="admin-token not written")
        self.cli("app", "create", self.APP, "--name", "Bench")
        self.cli("registry", "add", "other", "--endpoint", self.upstream.url, "--name", self.REG,
                 "--username", self.upstream.username, "--password-stdin", "--app", self.APP,
                 input=self.upstream.password + "\n")
        cust = json.loads(self.cli("customer", "create", "--app", self.APP, "--name", "bench", "-o", "json"))
        self.license_id = cust["licenseId"]

    def repo(self, upstream_repo: str) -> str:
        return f"proxy/{self.APP}/{self.REG}/{upstream_repo}"

    def prepare_charts(self, image: "Image", upstream: "Upstream", charts: Dict[str, Path]) -> dict:
        """The vendor's side of the `charts` phase: the small image pushed into the vendor
        registry (`bench/hosted/small`), the charts released and promoted to Stable; and a
        customer token that may pull all three."""
        vendor = json.loads(self.cli("token", "create", "--name", f"bench-{self.generation}", "--scope", "push", "-o", "json"))
        hosted = f"{self.APP}/hosted/small"
        run([SKOPEO_BIN, "--insecure-policy", "copy", "--preserve-digests", "--quiet",
             "--dest-creds", f"vendor:{vendor['token']}", "--dest-tls-verify=false",
             image.oci_ref(), f"docker://127.0.0.1:{self.port}/{hosted}:v1"], check=True, timeout=600)
        args = ["release", "create", "--app", self.APP, "--version", f"1.0.{self.generation}", "--promote", "Stable"]
        for path in charts.values():
            args += ["--chart", str(path)]
        self.cli(*args)
        names = {key: f"{self.APP}/{path.name.rsplit('-', 1)[0]}" for key, path in charts.items()}
        scopes = [f"repository:{repo}:pull" for repo in [hosted, *names.values()]]
        r = requests.get(f"{self.url}/v2/token", params=[("service", f"127.0.0.1:{self.port}")] + [("scope", sc) for sc in scopes],
                         auth=("bench", self.license_id), timeout=30)
        r.raise_for_status()
        body = r.json()
        return {"hosted": hosted, "charts": names, "token": body.get("token") or body["access_token"]}

    def token(self, upstream_repo: str) -> str:
        """A registry token as a real client gets it (Basic with the license ID at /v2/token)."""
        cached = self._tokens.get(upstream_repo)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        r = requests.get(f"{self.url}/v2/token",
                         params={"service": f"127.0.0.1:{self.port}",
                                 "scope": f"repository:{self.repo(upstream_repo)}:pull"},
                         auth=("bench", self.license_id), timeout=30)
        r.raise_for_status()
        body = r.json()
        tok = body.get("token") or body["access_token"]
        ttl = float(body.get("expires_in") or 60)
        self._tokens[upstream_repo] = (tok, time.monotonic() + ttl / 2)
        return tok

    def headers(self, upstream_repo: str) -> Dict[str, str]:
        return {"Authorization": "Bearer " + self.token(upstream_repo)}


# ------------------------------------------------------------------------------ nginx
class StaticServer:
    """nginx (sendfile on) serving a directory: the practical limit for a warm blob GET."""

    name = "nginx"

    def __init__(self, workdir: Path, root: Path) -> None:
        self.workdir = Path(workdir)
        self.root = Path(root)
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[ManagedProcess] = None

    def start(self) -> "StaticServer":
        w = self.workdir
        conf = w / "nginx.conf"
        conf.write_text(f"""user root;
worker_processes auto;
daemon off;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path {w}/tmp/body;
  proxy_temp_path {w}/tmp/proxy;
  fastcgi_temp_path {w}/tmp/fastcgi;
  uwsgi_temp_path {w}/tmp/uwsgi;
  scgi_temp_path {w}/tmp/scgi;
  server {{
    listen 127.0.0.1:{self.port};
    root {self.root};
    location / {{ }}
  }}
}}
""")
        self.proc = ManagedProcess([NGINX_BIN, "-p", str(w), "-c", str(conf), "-e", str(w / "error.log")],
                                   w / "nginx.out")
        t0 = time.monotonic()
        first_answer(self.port, "/", self.proc, t0, timeout=20, want=403)  # no index: 403 on "/"
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class CeilingServer:
    """`portcullis-ceiling`: a bare Hummingbird route answering every `/v2/` GET with the same
    manifest bytes. The most any Hummingbird server answers on this machine; Portcullis's
    manifest rate is reported as a fraction of it."""

    name = "ceiling"

    def __init__(self, workdir: Path, binary: Path, body: bytes, content_type: str, digest: str) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = Path(binary)
        self.body_path = self.workdir / "manifest.json"
        self.body_path.write_bytes(body)
        self.content_type = content_type
        self.digest = digest
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[ManagedProcess] = None

    def start(self) -> "CeilingServer":
        self.proc = ManagedProcess([str(self.binary), "--port", str(self.port), "--body", str(self.body_path),
                                    "--content-type", self.content_type, "--digest", self.digest],
                                   self.workdir / "ceiling.log")
        first_answer(self.port, "/healthz", self.proc, time.monotonic(), timeout=20)
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class IdealTee(Proxy):
    """bench/experiments/ideal-tee.c in its two-thread mode: receives the blob from the upstream,
    hashes it on a second thread, spools it and sends it from the spool, holding the last batch
    until the digest is done, with no HTTP library, scheduler or database. The least work a
    verifying cache does on this machine: the cold figures are also given against it.

    It answers one client at a time with one fixed upstream path, so it is pointed at a blob
    (and given the direct GET's token) before each restart."""

    name = "ideal"
    health_path = "/healthz"
    SOURCE = BENCH_DIR / "experiments" / "ideal-tee.c"

    def __init__(self, workdir: Path, binary: Path, upstream: "Upstream") -> None:
        super().__init__(workdir)
        self.binary = binary
        self.upstream = upstream
        self.path = ""
        self.authorization = ""

    @classmethod
    def build(cls, workdir: Path) -> Optional[Path]:
        """Compiles the tee; None (and why) when there is no C compiler or OpenSSL's headers."""
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            return None
        out = workdir / "ideal-tee"
        cp = run([cc, "-O2", "-pthread", "-o", str(out), str(cls.SOURCE), "-lcrypto"], timeout=120)
        if cp.returncode != 0:
            sys.stderr.write(f"ideal-tee did not build (libssl-dev missing?): {cp.stderr.strip()[:300]}\n")
            return None
        return out

    def point_at(self, path: str, headers: Dict[str, str]) -> None:
        self.path = path
        self.authorization = headers.get("Authorization", "")

    def _wipe(self) -> None:
        shutil.rmtree(self.workdir / "spool", ignore_errors=True)
        (self.workdir / "spool").mkdir(parents=True)

    def _command(self):
        args = [str(self.binary), str(self.port), str(self.upstream.port), self.path,
                str(self.workdir / "spool"), "spool2"]
        if self.authorization:
            args.append(self.authorization)
        return args, self.workdir / f"ideal-{self.generation}.log"

    def repo(self, upstream_repo: str) -> str:
        return upstream_repo

    def headers(self, upstream_repo: str) -> Dict[str, str]:
        return {}


def skopeo_copy_check(src_ref: str, creds: Optional[str], dest_dir: Path, want_digest: str) -> None:
    """Pull with skopeo (a real client) into an OCI layout and check the manifest digest."""
    args = [SKOPEO_BIN, "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"]
    if creds:
        args += ["--src-creds", creds]
    else:
        args += ["--src-no-creds"]
    args += [f"docker://{src_ref}", f"oci:{dest_dir}:v1"]
    run(args, check=True, timeout=600)
    index = json.loads((dest_dir / "index.json").read_text())
    got = index["manifests"][0]["digest"]
    if got != want_digest:
        raise RuntimeError(f"skopeo pulled {got} from {src_ref}, expected {want_digest}")
    shutil.rmtree(dest_dir, ignore_errors=True)


def manifest_headers(extra: Dict[str, str]) -> Dict[str, str]:
    h = {"Accept": MANIFEST_ACCEPT}
    h.update(extra)
    return h
