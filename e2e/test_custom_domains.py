"""Custom domains: an app's customers pull from the app's own host name.

Portcullis serves HTTPS with a default certificate and a configured public URL; the domain
`registry.<app>.test` gets its own certificate from the test's CA. Clients reach 127.0.0.1 and
name the domain in `Host` (and in SNI for the certificate checks), since the test cannot add
names to the machine's resolver.
"""
from __future__ import annotations

import base64
import datetime
import io
import json
import re
import tarfile

import helm_python as helm
import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.helm import Vendor, package_chart
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.tlsca import peer_certificate


@pytest.fixture(scope="module")
def server(tmp_path_factory, ca):
    cert, key = ca.issue("default", ["localhost", "127.0.0.1"])
    srv = PortcullisServer(tmp_path_factory.mktemp("domains"), tls=(cert, key, ca.cert_path))
    srv.extra_args += ["--public-url", srv.url]
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def acme(server, upstream, ca):
    """An app with a registry, a customer and the domain registry.<app>.test with its certificate."""
    tenant = server.tenant(upstream)
    domain = f"registry.{tenant.app}.test"
    cert, key = ca.issue(tenant.app, [domain])
    server.cli_ok("domain", "add", domain, "--app", tenant.app, "--cert", str(cert), "--key", str(key))
    return tenant, domain, cert


def _on(server, domain):
    """`Host` for a request to the domain on this server's port."""
    return {"Host": f"{domain}:{server.port}"}


def _token(server, domain, license_id, repo):
    r = server.session().get(f"{server.url}/v2/token", headers=_on(server, domain), auth=("any", license_id),
                             params={"service": f"{domain}:{server.port}", "scope": f"repository:{repo}:pull"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_the_domains_certificate_is_served_for_its_name(server, acme):
    tenant, domain, cert = acme
    from cryptography import x509

    served = x509.load_der_x509_certificate(peer_certificate(server.port, domain))
    assert served.public_bytes(serialization_pem()) == cert.read_bytes()
    assert x509.load_der_x509_certificate(peer_certificate(server.port, "localhost")) != served
    listed = {d["name"]: d for d in server.cli_json("domain", "ls")}[domain]
    assert listed["app"] == tenant.app and listed["certificateExpiresAt"]


def serialization_pem():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM


def test_on_the_domain_the_challenge_and_token_name_the_domain(server, acme):
    tenant, domain, _ = acme
    repo = tenant.repo(catalog.THREE_REPO)
    anonymous = server.session().get(f"{server.url}/v2/{repo}/manifests/{catalog.TAG}", headers=_on(server, domain), timeout=30)
    challenge = anonymous.headers["WWW-Authenticate"]
    assert f'realm="https://{domain}:{server.port}/v2/token"' in challenge and f'service="{domain}:{server.port}"' in challenge
    # On the default host the configured public URL is the realm, as before.
    default = server.session().get(f"{server.url}/v2/{repo}/manifests/{catalog.TAG}", timeout=30).headers["WWW-Authenticate"]
    assert f'realm="{server.url}/v2/token"' in default
    token = _token(server, domain, tenant.license_id, repo)
    r = server.session().get(f"{server.url}/v2/{repo}/manifests/{catalog.TAG}", timeout=30,
                             headers={**_on(server, domain), "Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200, r.text
    # A token for the domain is not a token for the default host (its audience is the domain).
    elsewhere = server.session().get(f"{server.url}/v2/{repo}/manifests/{catalog.TAG}", headers={"Authorization": f"Bearer {token}"},
                                     timeout=30)
    assert elsewhere.status_code == 401


def test_another_apps_repositories_do_not_exist_on_the_domain(server, acme, upstream):
    _, domain, _ = acme
    other = server.tenant(upstream)
    repo = other.repo(catalog.THREE_REPO)
    via_domain = server.session(other.license_id).get(f"{server.url}/v2/{repo}/manifests/{catalog.TAG}", headers=_on(server, domain),
                                                      timeout=30)
    assert via_domain.status_code == 404 and via_domain.json()["errors"][0]["code"] == "NAME_UNKNOWN", via_domain.text
    direct = server.session(other.license_id).get(f"{server.url}/v2/{repo}/manifests/{catalog.TAG}", timeout=30)
    assert direct.status_code == 200, direct.text
    bundle = server.session(other.license_id).get(f"{server.url}/bundles/{other.app}/1", headers=_on(server, domain), timeout=30)
    assert bundle.status_code == 404 and f"no bundle of {other.app} on this host" in bundle.text, bundle.text


def test_pull_secrets_and_injected_charts_carry_the_domain_and_the_default_host(server, acme, tmp_path):
    tenant, domain, _ = acme
    customer = server.cli_json("customer", "ls", "--app", tenant.app)[0]["id"]
    auths = json.loads(server.cli_ok("customer", "pull-secret", customer).out)["auths"]
    assert set(auths) == {domain, server.host}

    def mention_domain(chart_dir):
        values = chart_dir / "values.yaml"
        values.write_text(values.read_text() + f"\n# images: {domain}/proxy/{tenant.app}/...\n")

    Vendor(server, tenant.app).release(package_chart(tmp_path, "1.2.3", edit=mention_domain), "1.2.3", ["Stable"])
    path = f"{tenant.app}/slackernews"
    headers = {**_on(server, domain), "Accept": "application/vnd.oci.image.manifest.v1+json"}
    session = server.session(tenant.license_id)
    manifest = session.get(f"{server.url}/v2/{path}/manifests/1.2.3", headers=headers, timeout=30)
    assert manifest.status_code == 200, manifest.text
    layer = manifest.json()["layers"][0]["digest"]
    archive = session.get(f"{server.url}/v2/{path}/blobs/{layer}", headers=_on(server, domain), timeout=30).content
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        values = helm.values_from_yaml(tar.extractfile("slackernews/values.yaml").read().decode())
    injected = json.loads(base64.b64decode(values["global"]["replicated"]["dockerconfigjson"]))
    assert {f"{domain}:{server.port}", domain, server.host} <= set(injected["auths"]), injected

    # The customer portal's download, signed in through the domain, names the same hosts.
    browser = server.session()
    browser.headers.update(_on(server, domain))
    token = re.search(r'name="csrf" value="([^"]+)"', browser.get(f"{server.url}/account", timeout=30).text).group(1)
    signin = browser.post(f"{server.url}/account/login", data={"csrf": token, "license": tenant.license_id},
                          allow_redirects=False, timeout=30)
    assert signin.status_code == 303, signin.text[:500]
    portal = browser.get(f"{server.url}/account/pull-secret.json", timeout=30).json()["auths"]
    assert {f"{domain}:{server.port}", domain, server.host} <= set(portal), portal

    # The released chart names the domain: removing it needs --force.
    refused = server.cli("domain", "rm", domain)
    assert refused.code != 0 and "referenced by released charts" in refused.err and "slackernews 1.2.3" in refused.err, refused.describe()
    assert domain in {d["name"] for d in server.cli_json("domain", "ls")}


def test_domain_add_refuses_what_cannot_work(server, acme, ca):
    tenant, domain, cert = acme
    name = f"pull.{tenant.app}.test"
    good_cert, good_key = ca.issue(f"{tenant.app}-pull", [name])
    expired_cert, expired_key = ca.issue(f"{tenant.app}-old", [name], valid_from=datetime.datetime.now(datetime.timezone.utc)
                                         - datetime.timedelta(days=10), valid_until=datetime.datetime.now(datetime.timezone.utc)
                                         - datetime.timedelta(days=1))
    cases = [
        (["--cert", str(good_cert), "--key", str(ca.stray_key("stray"))], "does not belong to the certificate"),
        (["--cert", str(expired_cert), "--key", str(expired_key)], "expired"),
        (["--cert", str(cert), "--key", str(good_key)], "does not belong"),
    ]
    for extra, reason in cases:
        r = server.cli("domain", "add", name, "--app", tenant.app, *extra)
        assert r.code != 0 and reason in r.err, (extra, r.describe())
    other_cert, other_key = ca.issue(f"{tenant.app}-other", ["elsewhere.test"])
    wrong_name = server.cli("domain", "add", name, "--app", tenant.app, "--cert", str(other_cert), "--key", str(other_key))
    assert wrong_name.code != 0 and "not " + name in wrong_name.err, wrong_name.describe()
    taken = server.cli("domain", "add", domain, "--app", tenant.app)
    assert taken.code != 0 and "already taken" in taken.err, taken.describe()
    for bad in ("https://x.test", "x.test:443", "localhost", "10.0.0.1", "x-.test", "a..test"):
        r = server.cli("domain", "add", bad, "--app", tenant.app)
        assert r.code != 0 and "invalid domain" in r.err, (bad, r.describe())
    unknown_app = server.cli("domain", "add", "fresh.example.test", "--app", "no-such-app")
    assert unknown_app.code != 0
    assert name not in {d["name"] for d in server.cli_json("domain", "ls")}


def test_images_rewrite_defaults_to_the_apps_domain(server, acme, tmp_path):
    tenant, domain, _ = acme
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: api\n"
                        "      image: quay.io/acme/api:1.0\n")
    r = server.cli("images", "rewrite", str(manifest), "--app", tenant.app, "--no-pull-secrets")
    assert r.code == 0, r.describe()
    assert f"image: {domain}/proxy/{tenant.app}/quay.io/acme/api:1.0" in manifest.read_text()


def test_removing_an_unreferenced_domain_takes_it_away(server, upstream, ca):
    tenant = server.tenant(upstream)
    domain = f"gone.{tenant.app}.test"
    server.cli_ok("domain", "add", domain, "--app", tenant.app)
    server.cli_ok("domain", "rm", domain)
    r = server.session(tenant.license_id).get(f"{server.url}/v2/{tenant.repo(catalog.THREE_REPO)}/manifests/{catalog.TAG}",
                                              headers=_on(server, domain), timeout=30)
    # No longer a domain: the default behaviour, where the app's repositories are served as usual.
    assert r.status_code == 200, r.text
