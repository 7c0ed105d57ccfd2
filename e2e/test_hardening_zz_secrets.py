"""Hardening (issue 5), run last: no secret in any server log of the hardening run.

Greps the log of every Portcullis the hardening tests started for
every upstream password, license ID, vendor token and admin token handed to any of them,
raw and inside Basic credentials (any username: every base64 run in the log is decoded).
Run alone, it first exercises the secret-handling paths on a server of its own.
(The shared ``portcullis`` server's log is checked by test_secrets.py.)
"""
from __future__ import annotations

import base64
import binascii
import re

import requests

from portcullis_testkit import catalog
from portcullis_testkit.hardening import HARDENING_SERVERS, guard_args, hardened_factory  # noqa: F401 - fixtures
from portcullis_testkit.helm import create_token
from portcullis_testkit.oci import get_manifest, skopeo_copy
from portcullis_testkit.portcullis import random_license

_B64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def _decoded_runs(text: str):
    for m in _B64.finditer(text):
        run = m.group(0)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(run + "=" * (-len(run) % 4)).decode("utf-8", errors="ignore")
            except (binascii.Error, ValueError):
                pass


def test_no_secret_in_any_hardening_log(hardened_factory, upstream, tmp_path):
    # Exercise the paths that could log secrets on a server of our own.
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    vendor = create_token(srv)
    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{tmp_path / 'out'}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, cp.stderr
    bogus = random_license()
    srv.secrets.append(bogus)
    assert get_manifest(srv.session(bogus), srv.url, tenant.repo(catalog.THREE_REPO), catalog.TAG).status_code == 401
    requests.get(f"{srv.url}/v2/", headers={"Authorization": f"Bearer {vendor['token']}"}, timeout=10)
    requests.get(f"{srv.url}/api/v1/apps", headers={"Authorization": f"Bearer {vendor['token']}"}, timeout=10)
    requests.post(f"{srv.url}/api/v1/registries", headers={"Authorization": f"Bearer {srv.admin_token}"},
                  json={"provider": "bogus", "secret": upstream.password, "name": "x"}, timeout=10)
    bad = srv.add_registry(upstream.url, upstream.username, "wrong-" + upstream.password, apps=[tenant.app], verify=False)
    srv.cli("registry", "test", bad, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}")
    get_manifest(srv.session(tenant.license_id), srv.url, f"proxy/{tenant.app}/{bad}/{catalog.THREE_REPO}", catalog.TAG)
    srv.cli_ok("customer", "pull-secret", tenant.customer_id, "--base64")
    srv.cli_ok("token", "rm", vendor["id"])
    requests.get(f"{srv.url}/v2/", auth=("v", vendor["token"]), timeout=10)

    servers = list(dict.fromkeys(HARDENING_SERVERS))
    secrets = set()
    for s in servers:
        secrets.update(x for x in s.secrets if x and len(x) >= 8)
        try:
            secrets.add(s.admin_token)
        except OSError:
            pass
    secrets.add(upstream.password)

    leaks = []
    for s in servers:
        log = s.log_text()
        if not log:
            continue
        decoded = "\n".join(_decoded_runs(log))
        for secret in secrets:
            if secret in log:
                leaks.append(f"{s.log_path}: contains {secret[:6]}… in clear")
            elif secret in decoded:
                leaks.append(f"{s.log_path}: contains {secret[:6]}… base64-encoded")
    assert not leaks, f"secrets in server logs ({len(servers)} logs, {len(secrets)} secrets checked):\n" + "\n".join(leaks)
