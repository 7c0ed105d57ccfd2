"""License gate: who may pull what, and which upstreams may be contacted."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import error_codes, get_manifest, skopeo_inspect_raw
from portcullis_testkit.portcullis import random_license
from portcullis_testkit.util import unique


def _rfc3339(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _manifest_as(portcullis, license_id, repo, username="e2e-client"):
    return get_manifest(portcullis.session(license_id, username), portcullis.url, repo, catalog.TAG)


def assert_refused_401(portcullis, license_id, repo):
    """skopeo fails and direct HTTP answers 401 UNAUTHORIZED."""
    r = _manifest_as(portcullis, license_id, repo)
    assert r.status_code == 401, f"expected 401, got {r.status_code}: {r.text[:300]}"
    assert "UNAUTHORIZED" in error_codes(r), r.text
    t = requests.get(
        f"{portcullis.url}/v2/token",
        params={"service": portcullis.host, "scope": f"repository:{repo}:pull"},
        auth=("e2e-client", license_id),
        timeout=10,
    )
    assert t.status_code == 401, f"token endpoint issued a token for a refused license: {t.text[:300]}"
    cp = skopeo_inspect_raw(f"{portcullis.host}/{repo}:{catalog.TAG}", ("e2e-client", license_id))
    assert cp.returncode != 0, "skopeo succeeded with a refused license"


def assert_allowed(portcullis, license_id, repo):
    r = _manifest_as(portcullis, license_id, repo)
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:300]}"
    cp = skopeo_inspect_raw(f"{portcullis.host}/{repo}:{catalog.TAG}", ("e2e-client", license_id))
    assert cp.returncode == 0, cp.stderr


# ------------------------------------------------------------------- licenses
def test_valid_license_is_allowed(portcullis, tenant):
    assert_allowed(portcullis, tenant.license_id, tenant.repo(catalog.THREE_REPO))


def test_no_credentials_refused(portcullis, tenant):
    repo = tenant.repo(catalog.THREE_REPO)
    r = get_manifest(requests.Session(), portcullis.url, repo, catalog.TAG)
    assert r.status_code == 401
    assert "UNAUTHORIZED" in error_codes(r)
    cp = skopeo_inspect_raw(f"{portcullis.host}/{repo}:{catalog.TAG}", None)
    assert cp.returncode != 0


def test_unknown_license_refused(portcullis, tenant):
    assert_refused_401(portcullis, random_license(), tenant.repo(catalog.THREE_REPO))


def test_customer_id_is_not_a_license(portcullis, tenant):
    assert_refused_401(portcullis, tenant.customer_id, tenant.repo(catalog.THREE_REPO))


def test_license_created_already_expired_is_refused(portcullis, tenant):
    cust = portcullis.create_customer(tenant.app, expires_at=_rfc3339(-timedelta(hours=1)))
    assert_refused_401(portcullis, cust["licenseId"], tenant.repo(catalog.THREE_REPO))


def test_license_with_future_expiry_is_allowed(portcullis, tenant):
    cust = portcullis.create_customer(tenant.app, expires_in="720h", type_="trial", channel="Stable")
    assert_allowed(portcullis, cust["licenseId"], tenant.repo(catalog.THREE_REPO))


def test_license_expired_by_update_then_renewed(portcullis, tenant):
    repo = tenant.repo(catalog.THREE_REPO)
    assert_allowed(portcullis, tenant.license_id, repo)
    portcullis.cli_ok("customer", "update", tenant.customer_id, "--expires-at", _rfc3339(-timedelta(minutes=5)))
    assert_refused_401(portcullis, tenant.license_id, repo)
    portcullis.cli_ok("customer", "update", tenant.customer_id, "--expires-at", _rfc3339(timedelta(days=30)))
    assert_allowed(portcullis, tenant.license_id, repo)


def test_archived_license_refused_and_unarchive_restores(portcullis, tenant):
    repo = tenant.repo(catalog.THREE_REPO)
    assert_allowed(portcullis, tenant.license_id, repo)
    portcullis.cli_ok("customer", "archive", tenant.customer_id)
    assert_refused_401(portcullis, tenant.license_id, repo)
    portcullis.cli_ok("customer", "unarchive", tenant.customer_id)
    assert_allowed(portcullis, tenant.license_id, repo)


def test_license_of_other_app_is_refused(portcullis, upstream):
    a = portcullis.tenant(upstream)
    b = portcullis.tenant(upstream)
    repo_b = b.repo(catalog.THREE_REPO)
    assert_allowed(portcullis, b.license_id, repo_b)

    r = _manifest_as(portcullis, a.license_id, repo_b)
    assert r.status_code in (401, 403), f"{r.status_code}: {r.text[:300]}"
    assert set(error_codes(r)) & {"UNAUTHORIZED", "DENIED"}, r.text
    blob = requests.get(
        f"{portcullis.url}/v2/{repo_b}/blobs/{upstream.get_manifest(catalog.THREE_REPO, catalog.TAG)[2]}",
        auth=a.creds,
        timeout=30,
    )
    assert blob.status_code in (401, 403)
    cp = skopeo_inspect_raw(f"{portcullis.host}/{repo_b}:{catalog.TAG}", a.creds)
    assert cp.returncode != 0, "skopeo pulled another app's repository"


# ------------------------------------------------------------------ upstreams
def _assert_no_such_upstream(r):
    assert r.status_code in (403, 404), f"{r.status_code}: {r.text[:300]}"
    codes = set(error_codes(r))
    assert codes & {"NAME_UNKNOWN", "DENIED"}, r.text


def test_unregistered_upstream_gets_no_outbound_connection(portcullis, tenant, counting_listener):
    s = portcullis.session(tenant.license_id)
    host_like = f"127.0.0.1:{counting_listener.port}"
    for path in (
        f"proxy/{tenant.app}/{host_like}/x/manifests/latest",
        f"proxy/{tenant.app}/{host_like}/library/x/blobs/sha256:{'0' * 64}",
        f"proxy/{tenant.app}/{host_like}/x/tags/list",
        f"proxy/{tenant.app}/not-registered-{counting_listener.port}/x/manifests/latest",
    ):
        r = s.get(f"{portcullis.url}/v2/{path}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=15)
        _assert_no_such_upstream(r)
    assert counting_listener.count == 0, "Portcullis connected to an unregistered upstream"


def test_registry_scoped_to_other_app_is_not_usable(portcullis, upstream, counting_listener):
    a = portcullis.tenant(upstream)
    other_app = portcullis.create_app()["slug"]
    # Registered for `other_app` only, pointing at the counting listener.
    reg = portcullis.add_registry(
        f"http://127.0.0.1:{counting_listener.port}", "someone", unique("irrelevant-pw"), apps=[other_app]
    )
    baseline = counting_listener.count
    r = _manifest_as(portcullis, a.license_id, f"proxy/{a.app}/{reg}/x")
    _assert_no_such_upstream(r)
    assert counting_listener.count == baseline

    # And the shared upstream registered for app B is not reachable from app A.
    b = portcullis.tenant(upstream)
    r = _manifest_as(portcullis, a.license_id, f"proxy/{a.app}/{b.registry}/{catalog.THREE_REPO}")
    _assert_no_such_upstream(r)
    cp = skopeo_inspect_raw(f"{portcullis.host}/proxy/{a.app}/{b.registry}/{catalog.THREE_REPO}:{catalog.TAG}", a.creds)
    assert cp.returncode != 0


def test_removed_registry_is_no_longer_served(portcullis, tenant):
    repo = tenant.repo(catalog.THREE_REPO)
    assert_allowed(portcullis, tenant.license_id, repo)
    portcullis.cli_ok("registry", "rm", tenant.registry)
    listed = portcullis.cli_json("registry", "ls")
    assert tenant.registry not in [r.get("name") for r in listed]
    _assert_no_such_upstream(_manifest_as(portcullis, tenant.license_id, repo))


# -------------------------------------------------------------- pull secrets
def _decode_auths(obj, license_id):
    assert isinstance(obj, dict) and isinstance(obj.get("auths"), dict) and obj["auths"], obj
    for host, entry in obj["auths"].items():
        assert host, obj
        decoded = base64.b64decode(entry["auth"], validate=True).decode()
        assert decoded == f"LICENSE_ID:{license_id}", decoded


def test_pull_secret(portcullis, tenant):
    res = portcullis.cli_ok("customer", "pull-secret", tenant.customer_id, "--base64")
    outer = json.loads(base64.b64decode(res.out.strip(), validate=True))
    _decode_auths(outer, tenant.license_id)

    plain = json.loads(portcullis.cli_ok("customer", "pull-secret", tenant.customer_id).out)
    _decode_auths(plain, tenant.license_id)
    assert plain == outer

    # The pull secret's credentials work as-is.
    r = _manifest_as(portcullis, tenant.license_id, tenant.repo(catalog.THREE_REPO), username="LICENSE_ID")
    assert r.status_code == 200


# ------------------------------------------------------------------ admin CLI
def test_admin_listings(portcullis, tenant):
    apps = portcullis.cli_json("app", "ls")
    assert tenant.app in [a.get("slug") for a in apps]
    named = portcullis.create_app(name="Named App")
    assert named["name"] == "Named App" and named["id"]

    custs = portcullis.cli_json("customer", "ls", "--app", tenant.app)
    assert tenant.customer_id in [c.get("id") for c in custs]
    other = portcullis.create_app()["slug"]
    assert tenant.customer_id not in [c.get("id") for c in portcullis.cli_json("customer", "ls", "--app", other)]

    regs = portcullis.cli_json("registry", "ls")
    entry = next(r for r in regs if r.get("name") == tenant.registry)
    for key in ("name", "provider", "endpoint", "apps", "authType"):
        assert key in entry, entry
    assert tenant.app in entry["apps"]

    table = portcullis.cli_ok("app", "ls")
    assert tenant.app in table.out


def test_admin_api_requires_token(portcullis):
    from portcullis_testkit.proc import run

    cp = run([str(portcullis.binary), "app", "ls"],
             env={"PORTCULLIS_API_URL": portcullis.url, "PORTCULLIS_API_TOKEN": "wrong-" + unique("t")})
    assert cp.returncode != 0


def test_registry_test_command(portcullis, upstream):
    app = portcullis.create_app()["slug"]
    good = portcullis.add_registry(upstream.url, upstream.username, upstream.password, apps=[app])
    res = portcullis.cli("registry", "test", good, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}")
    assert res.code == 0 and "ok" in (res.out + res.err).lower(), res.describe()

    res = portcullis.cli("registry", "test", good, "--image", "e2e/does-not-exist:v1")
    assert res.code != 0 and "not found" in (res.out + res.err).lower(), res.describe()

    bad = portcullis.add_registry(upstream.url, upstream.username, unique("wrong-pw"), apps=[app], verify=False)
    res = portcullis.cli("registry", "test", bad, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}")
    assert res.code != 0 and "auth failed" in (res.out + res.err).lower(), res.describe()


@pytest.mark.parametrize("ctype", ["dev", "trial", "paid", "community"])
def test_customer_types(portcullis, tenant, ctype):
    cust = portcullis.create_customer(tenant.app, type_=ctype, email=f"{unique('c')}@example.com")
    assert_allowed(portcullis, cust["licenseId"], tenant.repo(catalog.THREE_REPO))
