"""Secrets never leak: upstream passwords and license IDs stay out of listings and logs."""
from __future__ import annotations

import base64
import json

import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import get_manifest, skopeo_copy, skopeo_inspect_raw
from portcullis_testkit.portcullis import random_license


def _forms(secret: str, usernames=("e2e-client", "LICENSE_ID")):
    """The secret itself plus the Basic-auth encodings a careless log might contain."""
    forms = {secret}
    for u in usernames:
        forms.add(base64.b64encode(f"{u}:{secret}".encode()).decode())
    return forms


def _assert_not_in(text: str, secrets, where: str):
    leaked = sorted(s for s in secrets if s and s in text)
    assert not leaked, f"{where} contains secret material: {leaked}"


def test_registry_listing_and_server_log_do_not_leak(portcullis_factory, upstream, tmp_path):
    srv = portcullis_factory()  # own log file
    tenant = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)

    # Exercise success and failure paths that might log credentials.
    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{tmp_path / 'out'}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, cp.stderr
    assert skopeo_inspect_raw(tenant.ref(catalog.MULTI_REPO, catalog.TAG), tenant.creds).returncode == 0
    requests.get(
        f"{srv.url}/v2/token",
        params={"service": srv.host, "scope": f"repository:{repo}:pull"},
        auth=tenant.creds,
        timeout=10,
    )
    bogus = random_license()
    assert get_manifest(srv.session(bogus), srv.url, repo, catalog.TAG).status_code == 401
    srv.cli_ok("customer", "archive", tenant.customer_id)
    assert get_manifest(srv.session(tenant.license_id), srv.url, repo, catalog.TAG).status_code == 401
    srv.cli_ok("customer", "unarchive", tenant.customer_id)
    srv.cli("registry", "test", tenant.registry, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}")
    srv.cli_ok("customer", "pull-secret", tenant.customer_id, "--base64")
    # Refused at add (tried first), then kept anyway: both paths go through the log.
    refused = srv.cli("registry", "add", "other", "--endpoint", upstream.url, "--name", "refused-reg", "--username", upstream.username,
                      "--password-stdin", input="another-secret-pw-1f9c2e\n")
    assert refused.code != 0 and "another-secret-pw-1f9c2e" not in refused.out + refused.err
    bad_pw_reg = srv.add_registry(upstream.url, upstream.username, "another-secret-pw-1f9c2e", apps=[tenant.app], verify=False)
    srv.cli("registry", "test", bad_pw_reg, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}")

    passwords = {upstream.password, "another-secret-pw-1f9c2e"}
    pw_forms = set()
    for pw in passwords:
        pw_forms |= _forms(pw, usernames=(upstream.username,))

    listing = srv.cli_json("registry", "ls")
    assert {r.get("name") for r in listing} >= {tenant.registry, bad_pw_reg}
    _assert_not_in(json.dumps(listing), pw_forms, "`registry ls -o json`")
    _assert_not_in(srv.cli_ok("registry", "ls").out, pw_forms, "`registry ls`")

    log = srv.log_text()
    _assert_not_in(log, pw_forms, "server log (upstream password)")
    _assert_not_in(log, _forms(tenant.license_id) | _forms(bogus), "server log (license ID)")


def test_shared_server_log_has_no_secrets(portcullis, upstream):
    """Every password/license handed to the shared server so far must be absent from its log."""
    # Make sure at least one pull happened on the shared server.
    t = portcullis.tenant(upstream)
    r = get_manifest(portcullis.session(t.license_id), portcullis.url, t.repo(catalog.THREE_REPO), catalog.TAG)
    assert r.status_code == 200
    secrets = set()
    for s in portcullis.secrets:
        secrets |= _forms(s, usernames=("e2e-client", "LICENSE_ID", upstream.username))
    _assert_not_in(portcullis.log_text(), secrets, "shared server log")
