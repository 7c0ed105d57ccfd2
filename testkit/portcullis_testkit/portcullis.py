"""Run the Portcullis server under test and drive its CLI."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import requests

from .proc import ManagedProcess, run
from .util import REPO_ROOT, free_port, unique, wait_until

if TYPE_CHECKING:
    from .backends import SharedStore

DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "portcullis"


def portcullis_bin() -> Path:
    return Path(os.environ.get("PORTCULLIS_BIN") or DEFAULT_BIN)


class CliResult(NamedTuple):
    code: int
    out: str
    err: str

    def describe(self) -> str:
        return f"exit={self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


class CliError(AssertionError):
    pass


def env_without_portcullis(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """This process's environment without any PORTCULLIS_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    env.update(extra or {})
    return env


def run_bounded(args: Sequence[object], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
                input: Optional[str] = None, timeout: float = 60.0) -> CliResult:
    """Run a command in its own process group (environment: ``env_without_portcullis()`` unless
    given); on timeout the group is killed and the test fails with what it printed."""
    import subprocess

    import pytest

    p = subprocess.Popen([str(a) for a in args], stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or env_without_portcullis(),
                         cwd=str(cwd) if cwd else None, start_new_session=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        pytest.fail(f"`{' '.join(map(str, args))}` still running after {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    return CliResult(p.returncode, out, err)


@dataclass
class Tenant:
    """An app + upstream registration + licensed customer, ready to pull."""

    server: "PortcullisServer"
    app: str
    registry: str
    customer_id: str
    license_id: str

    def repo(self, upstream_repo: str) -> str:
        """Portcullis repository name for an upstream repository."""
        return f"proxy/{self.app}/{self.registry}/{upstream_repo}"

    def ref(self, upstream_repo: str, tag_or_digest: str) -> str:
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.server.host}/{self.repo(upstream_repo)}{sep}{tag_or_digest}"

    @property
    def creds(self):
        return ("e2e-client", self.license_id)


class PortcullisServer:
    """One ``portcullis serve``: embedded storage in its data directory, or ``store`` (a
    shared database and blob prefix, see backends.py) when given."""

    def __init__(self, workdir: Path, binary: Optional[Path] = None, extra_args: Sequence[str] = (),
                 store: Optional["SharedStore"] = None, env: Optional[Dict[str, str]] = None,
                 tls: Optional[Tuple[Path, Path, Path]] = None, allow_private_upstreams: bool = True):
        self.binary = Path(binary or portcullis_bin())
        self.store = store
        self.env = {**(store.env() if store else {}), **(env or {})}
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "portcullis.log"
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        #: (certificate, key, CA certificate) to serve HTTPS with; clients here trust the CA.
        self.tls = tls
        self.ca_cert: Optional[Path] = tls[2] if tls else None
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self.extra_args = list(extra_args) + (["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else [])
        # The suite's upstreams, token services and webhook receivers all listen on 127.0.0.1:
        # private addresses Portcullis reaches only when told to (tests of the policy say False).
        if allow_private_upstreams:
            self.extra_args.append("--allow-private-upstreams")
        self.proc: Optional[ManagedProcess] = None
        self._token: Optional[str] = None
        # Every secret handed to this server, so tests can grep logs for leaks.
        self.secrets: List[str] = []

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 60.0) -> "PortcullisServer":
        args = [
            str(self.binary),
            "serve",
            "--listen",
            self.host,
            "--data-dir",
            str(self.data_dir),
            *(self.store.args() if self.store else []),
            *self.extra_args,
        ]
        self.proc = ManagedProcess(args, self.log_path, env=self.env)

        def healthy():
            if not self.proc.alive():
                raise CliError(
                    f"portcullis exited with {self.proc.proc.returncode}:\n{self.proc.log_tail()}"
                )
            return requests.get(self.url + "/healthz", timeout=2, verify=self.verify).status_code == 200

        try:
            wait_until(healthy, timeout=timeout, message=lambda: f"portcullis /healthz never returned 200:\n{self.proc.log_tail()}")
            wait_until(
                lambda: "PORTCULLIS_ADMIN_TOKEN" in self.env or (self.data_dir / "admin-token").is_file()
                and (self.data_dir / "admin-token").read_text().strip(),
                timeout=10,
                message=f"{self.data_dir / 'admin-token'} was not written",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def admin_token(self) -> str:
        if self._token is None:
            self._token = self.env.get("PORTCULLIS_ADMIN_TOKEN") or (self.data_dir / "admin-token").read_text().strip()
        return self._token

    # ----------------------------------------------------------------------- CLI
    @property
    def verify(self):
        """What ``requests`` should verify this server's certificate with."""
        return str(self.ca_cert) if self.ca_cert else True

    def cli(self, *args: str, input: Optional[str] = None, timeout: float = 60.0) -> CliResult:
        env = {"PORTCULLIS_API_URL": self.url, "PORTCULLIS_API_TOKEN": self.admin_token}
        if self.ca_cert:
            env["SSL_CERT_FILE"] = str(self.ca_cert)
        cp = run([str(self.binary), *map(str, args)], input=input, env=env, timeout=timeout)
        return CliResult(cp.returncode, cp.stdout, cp.stderr)

    def cli_ok(self, *args: str, input: Optional[str] = None) -> CliResult:
        res = self.cli(*args, input=input)
        if res.code != 0:
            raise CliError(f"`portcullis {' '.join(args)}` failed:\n{res.describe()}")
        return res

    def cli_json(self, *args: str, input: Optional[str] = None):
        res = self.cli_ok(*args, "-o", "json", input=input)
        try:
            return json.loads(res.out)
        except ValueError as exc:
            raise CliError(
                f"`portcullis {' '.join(args)} -o json` did not print JSON ({exc}):\n{res.describe()}"
            )

    # ---------------------------------------------------------- domain helpers
    def create_app(self, slug: Optional[str] = None, name: Optional[str] = None) -> dict:
        slug = slug or unique("app")
        args = ["app", "create", slug]
        if name:
            args += ["--name", name]
        obj = self.cli_json(*args)
        assert isinstance(obj, dict) and obj.get("slug") == slug, obj
        return obj

    def add_registry(
        self,
        endpoint: str,
        username: str,
        password: str,
        apps: Iterable[str] = (),
        slug: Optional[str] = None,
        verify: bool = True,
    ) -> str:
        """``registry add``; ``verify=False`` keeps credentials the registry would refuse (``--no-verify``)."""
        slug = slug or unique("reg")
        args = ["registry", "add", "other", "--endpoint", endpoint, "--name", slug,
                "--username", username, "--password-stdin"]
        if not verify:
            args.append("--no-verify")
        for app in apps:
            args += ["--app", app]
        self.secrets.append(password)
        self.cli_ok(*args, input=password + "\n")
        return slug

    def create_customer(
        self,
        app: str,
        name: Optional[str] = None,
        expires_in: Optional[str] = None,
        expires_at: Optional[str] = None,
        type_: Optional[str] = None,
        email: Optional[str] = None,
        channel: Optional[str] = None,
    ) -> dict:
        args = ["customer", "create", "--app", app, "--name", name or unique("cust")]
        if email:
            args += ["--email", email]
        if channel:
            args += ["--channel", channel]
        if type_:
            args += ["--type", type_]
        if expires_in:
            args += ["--expires-in", expires_in]
        if expires_at:
            args += ["--expires-at", expires_at]
        obj = self.cli_json(*args)
        assert isinstance(obj, dict) and obj.get("id") and obj.get("licenseId"), obj
        self.secrets.append(obj["licenseId"])
        return obj

    def tenant(self, upstream, apps_for_registry: Optional[Sequence[str]] = None, endpoint: Optional[str] = None) -> Tenant:
        """Create a fresh app, register ``upstream`` for it and create a customer."""
        app = self.create_app()["slug"]
        reg = self.add_registry(
            endpoint or upstream.url,
            upstream.username,
            upstream.password,
            apps=apps_for_registry if apps_for_registry is not None else [app],
        )
        cust = self.create_customer(app)
        return Tenant(self, app, reg, cust["id"], cust["licenseId"])

    # ----------------------------------------------------------- registry HTTP
    def session(self, license_id: Optional[str] = None, username: str = "e2e-client") -> requests.Session:
        s = requests.Session()
        s.verify = self.verify
        # REQUESTS_CA_BUNDLE in the environment would override a session's own CA.
        s.trust_env = self.ca_cert is None
        if license_id is not None:
            s.auth = (username, license_id)
        return s


def random_license() -> str:
    return "lic-" + secrets.token_hex(16)
