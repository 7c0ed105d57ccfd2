"""Storage backends a Portcullis under test runs on.

``embedded``: SQLite and a blob directory inside the data directory (the default).
``shared``: a throwaway PostgreSQL cluster and a moto S3 server with request
authentication enforced; every server gets its own database and key prefix, so each
starts as cold as an embedded one, and replicas share both by sharing a ``SharedStore``.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .proc import ManagedProcess, run
from .util import free_port, unique, wait_until

BUCKET = "portcullis-e2e"
REGION = "us-east-1"


# ------------------------------------------------------------------ PostgreSQL
def pg_bindir() -> Optional[Path]:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


class PostgresCluster:
    """``initdb`` + ``postgres`` as an unprivileged user, on its own port and socket directory."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.port = free_port()
        self.password = "pg-" + base64.b32encode(os.urandom(10)).decode().lower()
        self.proc: Optional[ManagedProcess] = None
        self._owned_dir: Optional[Path] = None
        # PostgreSQL refuses to run as root; the Debian package's `postgres` user runs it then.
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` user to run PostgreSQL as")

    def _as_user(self, args: List[str]) -> List[str]:
        return ["runuser", "-u", self.user.pw_name, "--", *args] if self.user else args

    def start(self) -> "PostgresCluster":
        if self.user:
            # pytest's temporary directories are private to root; the cluster's user needs its own.
            self.workdir = Path(tempfile.mkdtemp(prefix="portcullis-pg-"))
            self._owned_dir = self.workdir
        data = self.workdir / "pgdata"
        sockets = self.workdir / "pgsock"
        for d in (self.workdir, data, sockets):
            d.mkdir(parents=True, exist_ok=True)
            if self.user:
                os.chown(d, self.user.pw_uid, self.user.pw_gid)
        data.chmod(0o700)
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.user:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        run(self._as_user([str(self.bindir / "initdb"), "-D", str(data), "-U", "portcullis", "--pwfile", str(pwfile),
                           "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"]), check=True, timeout=120)
        log = self.workdir / "postgres.log"
        log.touch()
        if self.user:
            os.chown(log, self.user.pw_uid, self.user.pw_gid)
        self.proc = ManagedProcess(self._as_user([
            str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1",
            "-k", str(sockets), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=400", "-c", "shared_buffers=64MB",
        ]), log)
        wait_until(self._accepts, timeout=60, message=lambda: f"PostgreSQL did not start:\n{self.proc.log_tail()}")
        return self

    def _accepts(self) -> bool:
        if not self.proc.alive():
            raise RuntimeError(f"PostgreSQL exited:\n{self.proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        return self.psql("SELECT 1").returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess:
        return run([str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "portcullis", "-d", database,
                    "-v", "ON_ERROR_STOP=1", "-Atc", sql], env={"PGPASSWORD": self.password}, timeout=60)

    def create_database(self) -> str:
        name = unique("pc").replace("-", "_")
        cp = self.psql(f"CREATE DATABASE {name}")
        assert cp.returncode == 0, cp.stderr
        return name

    def url(self, database: str) -> str:
        return f"postgres://portcullis:{self.password}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)


# ---------------------------------------------------------------------- moto S3
class MotoServer:
    """moto in server mode with SigV4 authentication enforced.

    The first few requests create an IAM user with an access key and a policy allowing S3;
    after ``INITIAL_NO_AUTH_ACTION_COUNT`` of them every request must be signed by that key.
    """

    SETUP_ACTIONS = 4

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[ManagedProcess] = None
        self.access_key = ""
        self.secret_key = ""

    def start(self) -> "MotoServer":
        self.proc = ManagedProcess([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                   self.workdir / "moto.log",
                                   env={"INITIAL_NO_AUTH_ACTION_COUNT": str(self.SETUP_ACTIONS), "MOTO_ALLOW_NONEXISTENT_REGION": "1"})

        def listening() -> bool:
            if not self.proc.alive():
                raise RuntimeError(f"moto exited:\n{self.proc.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                return False

        wait_until(listening, timeout=60, message=lambda: f"moto did not start:\n{self.proc.log_tail()}")
        import boto3

        iam = boto3.client("iam", endpoint_url=self.url, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="portcullis")
        key = iam.create_access_key(UserName="portcullis")["AccessKey"]
        policy = iam.create_policy(PolicyName="portcullis-s3", PolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","ecr:GetAuthorizationToken"],"Resource":"*"}]}'))
        iam.attach_user_policy(UserName="portcullis", PolicyArn=policy["Policy"]["Arn"])
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        self.s3().create_bucket(Bucket=BUCKET)
        return self

    def s3(self, access_key: Optional[str] = None, secret_key: Optional[str] = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=access_key or self.access_key, aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def env(self) -> Dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": REGION, "AWS_ENDPOINT_URL_S3": self.url}

    def keys(self, prefix: str) -> List[str]:
        # moto 5.2 miscomputes the signature of a query value holding "/", so the prefix is
        # sent without its trailing slash and the listing filtered here.
        out: List[str] = []
        for page in self.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix.rstrip("/")):
            out += [o["Key"] for o in page.get("Contents", []) if o["Key"].startswith(prefix)]
        return out

    def sha256(self, key: str) -> str:
        body = self.s3().get_object(Bucket=BUCKET, Key=key)["Body"]
        h = hashlib.sha256()
        for chunk in iter(lambda: body.read(1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()

    def requests_logged(self, method: str, path: str) -> int:
        """How many ``method path`` requests moto has answered (its access log)."""
        needle = f'"{method} {path} HTTP/1.1"'
        text = (self.workdir / "moto.log").read_text(errors="replace") if (self.workdir / "moto.log").exists() else ""
        return sum(1 for line in text.splitlines() if needle in line)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


# ---------------------------------------------------------------------- backends
@dataclass
class SharedStore:
    """One database and one key prefix: what replicas of one deployment share."""

    postgres: PostgresCluster
    moto: MotoServer
    database: str
    prefix: str
    secret_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    admin_token: str = field(default_factory=lambda: "pca_" + os.urandom(24).hex())
    #: Set to reach the database some other way (through a relay).
    database_url: Optional[str] = None

    def args(self) -> List[str]:
        return ["--database", self.database_url or self.postgres.url(self.database), "--blob-store", f"s3://{BUCKET}/{self.prefix}"]

    def env(self) -> Dict[str, str]:
        return {**self.moto.env(), "PORTCULLIS_SECRET_KEY": self.secret_key}

    def blob_keys(self, hexdigest: Optional[str] = None) -> List[str]:
        keys = self.moto.keys(self.prefix + "/")
        return [k for k in keys if hexdigest is None or hexdigest in k]


class Backend:
    """How servers started by one test session store their data."""

    name = "embedded"
    shared = False

    def attach(self) -> Optional[SharedStore]:
        """Storage for one new server (a deployment of its own)."""
        return None


class EmbeddedBackend(Backend):
    pass


class SharedBackend(Backend):
    name = "shared"
    shared = True

    def __init__(self, workdir: Path):
        self.postgres = PostgresCluster(Path(workdir) / "postgres").start()
        try:
            self.moto = MotoServer(Path(workdir) / "moto").start()
        except BaseException:
            self.postgres.stop()
            raise

    def attach(self) -> SharedStore:
        return SharedStore(self.postgres, self.moto, self.postgres.create_database(), unique("deploy"))

    def stop(self) -> None:
        self.moto.stop()
        self.postgres.stop()


def shared_unavailable_reason() -> Optional[str]:
    """Why the shared backend cannot run here, or None."""
    if pg_bindir() is None:
        return "PostgreSQL server binaries are not installed (apt-get install postgresql)"
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        return f"moto[server] is not installed in this Python ({exc})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a `postgres` user to run PostgreSQL as"
    return None
