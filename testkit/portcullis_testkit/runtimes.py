"""Container runtimes as customers' nodes run them, each private to the test that starts it.

* :class:`Containerd` — ``containerd`` with its own root, state and socket (the CRI plugin off),
  driven with ``ctr``;
* :class:`Dockerd` — ``dockerd`` with its own data root, exec root and socket (no bridge, no
  iptables), driven with ``docker``;
* :class:`Podman` — ``podman`` with its own storage root.

Every one of them is stopped and its directories removed by ``stop()``. A runtime that cannot
start here says why through ``unavailable_reason()`` so the test is skipped with that reason.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .proc import ManagedProcess, run
from .util import wait_until


def _missing(*tools: str) -> Optional[str]:
    absent = [t for t in tools if shutil.which(t) is None]
    return f"not installed: {', '.join(absent)} (apt-get install containerd docker.io podman)" if absent else None


def _short_dir(prefix: str) -> Path:
    # Unix socket paths are limited to 108 bytes: keep these out of pytest's deep temp dirs.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def write_hosts_toml(hosts_dir: Path, host: str, ca_cert: Optional[Path] = None) -> Path:
    """containerd's per-registry ``hosts.toml`` saying ``host`` speaks HTTPS (ctr assumes plain
    HTTP for loopback hosts otherwise), trusting ``ca_cert`` when given."""
    d = Path(hosts_dir) / host
    d.mkdir(parents=True, exist_ok=True)
    ca = f'\n  ca = "{ca_cert}"' if ca_cert else ""
    (d / "hosts.toml").write_text(f'server = "https://{host}"\n\n[host."https://{host}"]\n'
                                  f'  capabilities = ["pull", "resolve"]{ca}\n')
    return Path(hosts_dir)


class _Daemon:
    """A daemon in its own short directory, started until its client answers on its socket."""

    name = "daemon"

    def __init__(self, prefix: str, socket_name: str) -> None:
        self.dir = _short_dir(prefix)
        self.socket = self.dir / socket_name
        self.proc: Optional[ManagedProcess] = None

    def _launch(self, args: List[str], timeout: float) -> None:
        self.proc = ManagedProcess(args, self.dir / f"{self.name}.log")
        try:
            wait_until(self._ready, timeout=timeout, message=lambda: f"{self.name} did not start:\n{self.proc.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if not self.proc.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.proc.log_tail()}")
        return self.socket.exists() and self._answers()

    def _answers(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Containerd(_Daemon):
    name = "containerd"

    def __init__(self) -> None:
        super().__init__("pc-ctd-", "containerd.sock")
        self.namespace = "portcullis-e2e"

    @staticmethod
    def unavailable_reason() -> Optional[str]:
        return _missing("containerd", "ctr")

    def start(self) -> "Containerd":
        config = self.dir / "config.toml"
        config.write_text(f"""version = 2
root = "{self.dir / 'root'}"
state = "{self.dir / 'state'}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = "{self.dir / 'debug.sock'}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.dir / 'opt'}"
""")
        self._launch(["containerd", "--config", str(config)], timeout=30)
        return self

    def _answers(self) -> bool:
        return self.ctr("version").returncode == 0

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run(["ctr", "--address", str(self.socket), "--namespace", self.namespace, *args], timeout=timeout)

    def pull(self, ref: str, user: Optional[str] = None, ca_cert: Optional[Path] = None, hosts_dir: Optional[Path] = None,
             plain_http: bool = False) -> subprocess.CompletedProcess:
        args = ["images", "pull", "--snapshotter", "native"]
        if user:
            args += ["--user", user]
        if ca_cert:
            args += ["--tlscacert", str(ca_cert)]
        if hosts_dir:
            args += ["--hosts-dir", str(hosts_dir)]
        if plain_http:
            args += ["--plain-http"]
        return self.ctr(*args, ref)

    def images(self) -> List[str]:
        return self.ctr("images", "ls", "-q").stdout.split()


class Dockerd(_Daemon):
    name = "dockerd"

    def __init__(self) -> None:
        super().__init__("pc-dkd-", "docker.sock")
        self.client_config = self.dir / "client"

    @staticmethod
    def unavailable_reason() -> Optional[str]:
        return _missing("dockerd", "docker", "containerd")

    def start(self) -> "Dockerd":
        daemon_json = self.dir / "daemon.json"
        daemon_json.write_text("{}\n")
        self.client_config.mkdir()
        self._launch([
            "dockerd", "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "docker.pid"), "--host", f"unix://{self.socket}", "--config-file", str(daemon_json),
            "--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", "vfs",
        ], timeout=60)
        return self

    def _answers(self) -> bool:
        return self.docker("version").returncode == 0

    def docker(self, *args: str, input: Optional[str] = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return run(["docker", "--host", f"unix://{self.socket}", "--config", str(self.client_config), *args], input=input,
                   timeout=timeout)


class Podman:
    def __init__(self) -> None:
        self.dir = _short_dir("pc-pod-")
        # Its own (empty) credentials file: nothing from the machine's logins.
        (self.dir / "auth.json").write_text('{"auths":{}}')

    @staticmethod
    def unavailable_reason() -> Optional[str]:
        return _missing("podman")

    def podman(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run(["podman", "--root", str(self.dir / "root"), "--runroot", str(self.dir / "run"), "--storage-driver", "vfs",
                    "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args],
                   env={"TMPDIR": str(self.dir), "REGISTRY_AUTH_FILE": str(self.dir / "auth.json")}, timeout=timeout)

    def pull(self, ref: str, creds: Tuple[str, str], cert_dir: Optional[Path] = None) -> subprocess.CompletedProcess:
        args: Sequence[str] = ["pull", "--creds", f"{creds[0]}:{creds[1]}"]
        if cert_dir:
            args = [*args, "--cert-dir", str(cert_dir)]
        return self.podman(*args, ref)

    def stop(self) -> None:
        # Storage may hold read-only layers; podman itself removes what it made.
        self.podman("system", "reset", "--force", timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
