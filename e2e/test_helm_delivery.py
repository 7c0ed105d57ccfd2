"""Channels, releases and license-injected Helm chart delivery (issue 3).

Reproduces the "Proxying Private Images" tutorial: package the chart, ``release create
--promote Unstable``, promote to Beta and Stable, ``release ls``; then a customer logs in with
email + license ID and pulls ``oci://HOST/<app>/<channel>/slackernews``, whose values carry
``global.replicated`` (dockerconfigjson, licenseID, ...) so the chart's pull-secret template
renders. Uses a real Helm v4 client (helm-python-sdk), see portcullis_testkit/helm.py.
"""
from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from datetime import datetime, timedelta, timezone

import pytest
import requests

from portcullis_testkit.helm import (
    CHART_NAME,
    DEFAULT_CHANNELS,
    PULL_SECRET_NAME,
    VALUES_COMMENT,
    Vendor,
    active_channels,
    archive_member_text,
    cli_env,
    create_token,
    dockerconfig_json,
    helm_client_factory,
    package_chart,
    parse_sequence,
    releases_by_sequence,
    render_chart,
)
from portcullis_testkit.oci import error_codes, get_manifest
from portcullis_testkit.portcullis import random_license
from portcullis_testkit.util import unique

VERSION = "0.5.0"
EXPIRES_AT = "2031-02-03T04:05:06Z"
HELM_CONFIG_MT = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
LICENSE_KEYS = {"dockerconfigjson", "licenseID", "licenseType", "customerName",
                "customerEmail", "channelName", "licenseFields"}


# ------------------------------------------------------------------ helpers
@pytest.fixture
def helm_clients(tmp_path):
    """``helm_clients(host)`` -> a Helm client with its own credentials file."""
    yield from helm_client_factory(tmp_path)


def _rfc3339(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value) -> datetime:
    """An expiry as the chart sees it: an RFC 3339 string, or an object with a ``value``."""
    if isinstance(value, dict):
        value = value.get("value")
    assert isinstance(value, str) and value, f"no expiry timestamp in {value!r}"
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def chart_path(app: str, channel_slug: str | None = None) -> str:
    return f"{app}/{channel_slug}/{CHART_NAME}" if channel_slug else f"{app}/{CHART_NAME}"


def new_customer(server, app, *, channel=None, email=None, type_=None, expires_at=None,
                 name=None, extra=()):
    args = ["customer", "create", "--app", app, "--name", name or unique("cust")]
    for flag, value in (("--email", email), ("--channel", channel), ("--type", type_),
                        ("--expires-at", expires_at)):
        if value:
            args += [flag, value]
    args += list(extra)
    obj = server.cli_json(*args)
    assert isinstance(obj, dict) and obj.get("id") and obj.get("licenseId"), obj
    server.secrets.append(obj["licenseId"])
    return obj


def pull_secret_b64(server, customer_id: str) -> str:
    return server.cli_ok("customer", "pull-secret", customer_id, "--base64").out.strip()


def chart_manifest(server, creds, path, tag=VERSION):
    s = requests.Session()
    s.auth = creds
    return get_manifest(s, server.url, path, tag)


class Shipped:
    """An app whose chart 0.5.0 is released (by default on Unstable, Beta and Stable)."""

    def __init__(self, server, tmp_path, channels=DEFAULT_CHANNELS, version=VERSION):
        self.server = server
        self.app = server.create_app()["slug"]
        self.vendor = Vendor(server, self.app)
        self.tgz = package_chart(tmp_path / "dist", version)
        self.version = version
        self.sequence = self.vendor.release(self.tgz, version, channels)


@pytest.fixture
def shipped(portcullis, tmp_path):
    return Shipped(portcullis, tmp_path)


def login_and_pull(make_client, server, username, password, path, version=VERSION):
    client = make_client(server.host)
    client.login(username, password)
    return client.pull(path, version)


def assert_pull_refused(make_client, server, creds, path, statuses, codes, version=VERSION):
    """HTTP GET of the chart manifest is refused as specified, and Helm cannot pull it."""
    r = chart_manifest(server, creds, path, version)
    assert r.status_code in statuses, f"GET {path}:{version} -> {r.status_code} {r.text[:300]}"
    assert set(error_codes(r)) & set(codes), f"expected one of {codes}: {r.text[:300]}"
    client = make_client(server.host)
    if client.try_login(*creds) is None:  # refusal may already happen at login (401)
        tgz, err = client.try_pull(path, version)
        assert err is not None, f"helm pull oci://{server.host}/{path} --version {version} succeeded: {tgz}"


def assert_license_values(rendered, *, license_id, b64, name, email, channel, type_, expires_at):
    """The chart's values carry ``global.replicated`` and every template sees it."""
    g = rendered.values.get("global") or {}
    assert g.get("someSetting") == "keepme", f"chart's own global value lost: {g}"
    rep = g.get("replicated")
    assert isinstance(rep, dict), f"no global.replicated in pulled values: {rendered.values}"
    assert LICENSE_KEYS <= set(rep), f"global.replicated lacks {sorted(LICENSE_KEYS - set(rep))}: {rep}"
    assert rep["dockerconfigjson"] == b64
    assert rep["licenseID"] == license_id
    assert rep["customerName"] == name
    assert rep["customerEmail"] == email
    assert rep["channelName"] == channel
    assert rep["licenseType"] == type_
    expiry = rep["licenseFields"]["expires_at"]
    assert (expiry["name"], expiry["title"], expiry["valueType"]) == ("expires_at", "Expiration", "String"), expiry
    assert _parse_time(expiry["value"]) == _parse_time(expires_at) and expiry["signature"]["v1"]

    secret = rendered.one("Secret", PULL_SECRET_NAME)
    assert secret.get("type") == "kubernetes.io/dockerconfigjson", secret
    assert secret["data"][".dockerconfigjson"] == b64, secret
    auths = dockerconfig_json(b64).get("auths") or {}
    decoded = [base64.b64decode(a.get("auth", "")).decode() for a in auths.values()]
    assert any(d.endswith(":" + license_id) for d in decoded), f"pull secret does not carry the license: {auths.keys()}"

    pod = rendered.one("Deployment", "slackernews")["spec"]["template"]["spec"]
    assert pod.get("imagePullSecrets") == [{"name": PULL_SECRET_NAME}], pod

    cm = rendered.one("ConfigMap", "slackernews-license")["data"]
    assert cm["someSetting"] == "keepme"
    assert cm["licensed"] == "true"
    assert cm["licenseID"] == license_id
    assert cm["customerName"] == name
    assert cm["customerEmail"] == email
    assert cm["channelName"] == channel
    assert cm["licenseType"] == type_
    assert _parse_time(json.loads(cm["expiresAt"])) == _parse_time(expires_at)


def assert_rest_of_chart_untouched(pulled_tgz, original_tgz):
    """Only global.replicated was added: metadata, templates, other values unchanged."""
    original = render_chart(original_tgz)
    pulled = render_chart(pulled_tgz)
    assert pulled.metadata.get("name") == CHART_NAME
    assert pulled.metadata.get("version") == original.metadata.get("version")
    values = json.loads(json.dumps(pulled.values))
    values.get("global", {}).pop("replicated", None)
    assert values == original.values
    for member in ("templates/imagepullsecret.yaml", "templates/slackernews-deployment.yaml",
                   "templates/license-configmap.yaml"):
        assert archive_member_text(pulled_tgz, member) == archive_member_text(original_tgz, member), member
    text = archive_member_text(pulled_tgz, "values.yaml")
    assert VALUES_COMMENT in text, f"values.yaml comments did not survive:\n{text}"
    assert "someSetting: keepme" in text, text


# ------------------------------------------------------------ harness check
def test_helm_client_against_plain_registry(upstream_factory, tmp_path, helm_clients):
    """The Helm client layer itself (no Portcullis): login, push, pull, render, isolation."""
    reg = upstream_factory()
    tgz = package_chart(tmp_path / "dist", "0.6.0")
    assert render_chart(tgz).metadata["version"] == "0.6.0"

    client = helm_clients(reg.host)
    assert client.try_login(reg.username, "wrong-password") is not None
    client.login(reg.username, reg.password)
    client.push(tgz, "acme/beta")
    pulled = client.pull("acme/beta/slackernews", "0.6.0")
    assert pulled.read_bytes() == tgz.read_bytes()
    rendered = render_chart(pulled)
    assert not rendered.find("Secret")
    assert rendered.one("ConfigMap", "slackernews-license")["data"]["someSetting"] == "keepme"
    injected = render_chart(pulled, {"global": {"replicated": {"dockerconfigjson": "e30="}}})
    assert injected.one("Secret", PULL_SECRET_NAME)["data"][".dockerconfigjson"] == "e30="

    # A second client does not see the first one's login.
    _, err = helm_clients(reg.host).try_pull("acme/beta/slackernews", "0.6.0")
    assert err is not None, "login leaked between Helm clients"


# ------------------------------------------------------------------ channels
def test_default_channels_and_channel_create(portcullis, tmp_path, helm_clients):
    app = portcullis.create_app()["slug"]
    vendor = Vendor(portcullis, app)
    chans = vendor.channels()
    by_name = {c.get("name"): c for c in chans}
    assert {"Unstable", "Beta", "Stable"} <= set(by_name), chans
    for name in ("Unstable", "Beta", "Stable"):
        assert by_name[name].get("slug") == name.lower(), by_name[name]

    portcullis.cli_ok("channel", "create", "--app", app, "--name", "Nightly")
    chans = {c.get("name"): c for c in vendor.channels()}
    assert chans.get("Nightly", {}).get("slug") == "nightly", chans

    # Other apps keep their own channel lists.
    other = Vendor(portcullis, portcullis.create_app()["slug"])
    assert "Nightly" not in {c.get("name") for c in other.channels()}

    # A release promoted to the new channel is served under its slug.
    tgz = package_chart(tmp_path / "dist", VERSION)
    vendor.create_release(tgz, VERSION, promote="Nightly")
    cust = new_customer(portcullis, app, channel="Nightly", email="night@example.com")
    pulled = login_and_pull(helm_clients, portcullis, cust["email"], cust["licenseId"],
                            chart_path(app, "nightly"))
    rep = render_chart(pulled).values["global"]["replicated"]
    assert rep["channelName"] == "Nightly" and rep["licenseID"] == cust["licenseId"], rep


# ------------------------------------------------------------------ releases
def test_tutorial_release_create_promote_and_ls(portcullis, tmp_path):
    app = portcullis.create_app()["slug"]
    vendor = Vendor(portcullis, app)
    tgz = package_chart(tmp_path / "release", VERSION)
    assert tgz.name == "slackernews-0.5.0.tgz"

    res = portcullis.cli_ok(
        "release", "create", "--promote", "Unstable", "--chart", str(tgz), "--version", VERSION,
        "--release-notes", "Uses the Portcullis proxy registry to pull images", "--app", app,
    )
    seq = parse_sequence(res)
    rows = vendor.releases()
    assert seq in rows, rows
    assert active_channels(rows[seq]) == {"Unstable"}, rows[seq]
    assert rows[seq]["EDITED"] == "", f"EDITED should be blank for a never-edited release: {rows[seq]}"
    created = datetime.fromisoformat(rows[seq]["CREATED"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 600, rows[seq]

    vendor.promote(seq, "Beta", VERSION, notes="Uses the Portcullis proxy registry to pull images")
    assert active_channels(vendor.releases()[seq]) == {"Unstable", "Beta"}
    vendor.promote(seq, "Stable", VERSION, notes="Uses the Portcullis proxy registry to pull images")

    text = vendor.ls_text()
    assert text.splitlines()[0].split() == ["SEQUENCE", "CREATED", "EDITED", "ACTIVE_CHANNELS"], text
    rows = releases_by_sequence(text)
    assert active_channels(rows[seq]) == {"Stable", "Beta", "Unstable"}, text

    # The app can come from PORTCULLIS_APP, as in the tutorial.
    env_ls = cli_env(portcullis, "release", "ls", env={"PORTCULLIS_APP": app})
    assert env_ls.code == 0, env_ls.describe()
    assert releases_by_sequence(env_ls.out) == rows


def test_active_channels_follow_the_latest_release(portcullis, tmp_path, helm_clients):
    app = portcullis.create_app()["slug"]
    vendor = Vendor(portcullis, app)
    first = vendor.release(package_chart(tmp_path / "a", "0.5.0"), "0.5.0", ["Unstable", "Beta"])

    # The second release is created with the app taken from PORTCULLIS_APP.
    tgz6 = package_chart(tmp_path / "b", "0.6.0")
    res = cli_env(portcullis, "release", "create", "--chart", str(tgz6), "--version", "0.6.0",
                  "--promote", "Unstable", "--release-notes", "next", env={"PORTCULLIS_APP": app})
    assert res.code == 0, res.describe()
    second = parse_sequence(res)
    assert second > first, (first, second)

    rows = vendor.releases()
    assert active_channels(rows[second]) == {"Unstable"}, rows
    assert active_channels(rows[first]) == {"Beta"}, rows

    cust = new_customer(portcullis, app, channel="Unstable", email="dev@example.com")
    client = helm_clients(portcullis.host)
    client.login(cust["email"], cust["licenseId"])
    pulled = client.pull(chart_path(app, "unstable"), "0.6.0")
    assert render_chart(pulled).metadata["version"] == "0.6.0"


# ------------------------------------------------------------ chart delivery
def test_beta_customer_pulls_chart_with_license_values(portcullis, shipped, helm_clients):
    """The tutorial's end state: the pull secret renders from the injected values."""
    email = f"{unique('ops')}@globex.example"
    name = unique("Globex")
    cust = new_customer(portcullis, shipped.app, channel="Beta", email=email, type_="trial",
                        expires_at=EXPIRES_AT, name=name)
    b64 = pull_secret_b64(portcullis, cust["id"])
    assert b64, "customer pull-secret --base64 printed nothing"

    pulled = login_and_pull(helm_clients, portcullis, email, cust["licenseId"],
                            chart_path(shipped.app, "beta"))
    rendered = render_chart(pulled)
    assert_license_values(rendered, license_id=cust["licenseId"], b64=b64, name=name, email=email,
                          channel="Beta", type_="trial", expires_at=EXPIRES_AT)
    assert_rest_of_chart_untouched(pulled, shipped.tgz)


def test_chart_manifest_is_a_helm_chart(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, channel="Beta", email="a@example.com")
    r = chart_manifest(portcullis, (cust["email"], cust["licenseId"]), chart_path(shipped.app, "beta"))
    assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
    m = r.json()
    assert m.get("config", {}).get("mediaType") == HELM_CONFIG_MT, m
    layers = m.get("layers") or []
    assert [layer.get("mediaType") for layer in layers] == [HELM_CHART_MT], m
    client = helm_clients(portcullis.host)
    client.login(cust["email"], cust["licenseId"])
    assert VERSION in client.tags(chart_path(shipped.app, "beta"))
    assert client.resolve(chart_path(shipped.app, "beta"), VERSION)["digest"] == r.headers.get("Docker-Content-Digest")


def test_stable_customer_pulls_from_app_root_and_stable_path(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, email="stable@example.com", expires_at=EXPIRES_AT)
    assert cust.get("channel") in (None, "Stable"), cust
    b64 = pull_secret_b64(portcullis, cust["id"])
    client = helm_clients(portcullis.host)
    client.login("anything-works", cust["licenseId"])  # any username
    for path in (chart_path(shipped.app), chart_path(shipped.app, "stable")):
        rendered = render_chart(client.pull(path, VERSION))
        assert_license_values(rendered, license_id=cust["licenseId"], b64=b64, name=cust["name"],
                              email="stable@example.com", channel="Stable", type_=cust["type"],
                              expires_at=EXPIRES_AT)


def test_chart_digest_is_stable_per_customer_and_differs_between_customers(portcullis, shipped):
    a = new_customer(portcullis, shipped.app, channel="Beta", email="a@example.com")
    b = new_customer(portcullis, shipped.app, channel="Beta", email="b@example.com")
    path = chart_path(shipped.app, "beta")

    def digest(cust):
        r = chart_manifest(portcullis, (cust["email"], cust["licenseId"]), path)
        assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
        d = r.headers.get("Docker-Content-Digest")
        assert d and d.startswith("sha256:"), r.headers
        return d, r.json()

    (a1, ma), (a2, _), (b1, mb) = digest(a), digest(a), digest(b)
    assert a1 == a2, "two pulls of the same version by the same customer gave different manifests"
    assert a1 != b1, "two customers got the same personalised chart"

    # A's chart (which holds A's license) must not be readable by B, even by digest.
    a_layer = ma["layers"][0]["digest"]
    assert a_layer != mb["layers"][0]["digest"]
    ok = requests.get(f"{portcullis.url}/v2/{path}/blobs/{a_layer}", auth=(a["email"], a["licenseId"]), timeout=30)
    assert ok.status_code == 200, f"{ok.status_code}: {ok.text[:200]}"
    leak = requests.get(f"{portcullis.url}/v2/{path}/blobs/{a_layer}", auth=(b["email"], b["licenseId"]), timeout=30)
    assert leak.status_code in (401, 403, 404), f"customer B read customer A's chart blob: {leak.status_code}"


@pytest.mark.parametrize("who", ["push-token", "read-token", "admin-token"])
def test_vendor_pulls_the_original_chart(portcullis, shipped, helm_clients, who):
    if who == "admin-token":
        secret = portcullis.admin_token
    else:
        secret = create_token(portcullis, scope="read" if who == "read-token" else None)["token"]
    pulled = login_and_pull(helm_clients, portcullis, "vendor", secret, chart_path(shipped.app, "beta"))

    rendered = render_chart(pulled)
    original = render_chart(shipped.tgz)
    assert rendered.values == original.values, "vendor's chart was modified"
    assert "replicated" not in (rendered.values.get("global") or {})
    assert archive_member_text(pulled, "values.yaml") == archive_member_text(shipped.tgz, "values.yaml")
    assert not rendered.find("Secret"), f"pull secret rendered without a license:\n{rendered.dump()}"
    assert rendered.template("templates/imagepullsecret.yaml").strip() == ""
    pod = rendered.one("Deployment", "slackernews")["spec"]["template"]["spec"]
    assert "imagePullSecrets" not in pod, pod
    assert rendered.one("ConfigMap", "slackernews-license")["data"]["licensed"] == "false"


# ------------------------------------------------------------------ refusals
def test_version_only_on_unstable_is_refused_to_beta_customer(portcullis, tmp_path, helm_clients):
    only_unstable = Shipped(portcullis, tmp_path, channels=["Unstable"])
    cust = new_customer(portcullis, only_unstable.app, channel="Beta", email="beta@example.com")
    creds = (cust["email"], cust["licenseId"])
    for path in (chart_path(only_unstable.app, "stable"), chart_path(only_unstable.app, "beta"),
                 chart_path(only_unstable.app, "unstable")):
        assert_pull_refused(helm_clients, portcullis, creds, path, (403, 404),
                            ("DENIED", "NAME_UNKNOWN", "MANIFEST_UNKNOWN"))


def test_stable_customer_is_denied_the_beta_channel(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, channel="Stable", email="s@example.com")
    assert_pull_refused(helm_clients, portcullis, (cust["email"], cust["licenseId"]),
                        chart_path(shipped.app, "beta"), (403,), ("DENIED",))


def test_customer_without_helm_install_is_denied(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, channel="Stable", email="nohelm@example.com",
                        extra=["--no-helm-install"])
    assert cust.get("helmInstall") is False, cust
    creds = (cust["email"], cust["licenseId"])
    for path in (chart_path(shipped.app), chart_path(shipped.app, "stable")):
        assert_pull_refused(helm_clients, portcullis, creds, path, (403,), ("DENIED",))


def test_expired_license_is_refused(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, email="old@example.com", expires_at=_rfc3339(-timedelta(hours=1)))
    assert_pull_refused(helm_clients, portcullis, (cust["email"], cust["licenseId"]),
                        chart_path(shipped.app), (401,), ("UNAUTHORIZED",))


def test_license_expired_by_update_is_refused(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, email="soon@example.com", expires_at=_rfc3339(timedelta(days=30)))
    creds = (cust["email"], cust["licenseId"])
    login_and_pull(helm_clients, portcullis, *creds, chart_path(shipped.app))
    portcullis.cli_ok("customer", "update", cust["id"], "--expires-at", _rfc3339(-timedelta(minutes=5)))
    assert_pull_refused(helm_clients, portcullis, creds, chart_path(shipped.app), (401,), ("UNAUTHORIZED",))


def test_archived_license_is_refused_and_unarchive_restores(portcullis, shipped, helm_clients):
    cust = new_customer(portcullis, shipped.app, email="gone@example.com")
    creds = (cust["email"], cust["licenseId"])
    portcullis.cli_ok("customer", "archive", cust["id"])
    assert_pull_refused(helm_clients, portcullis, creds, chart_path(shipped.app), (401,), ("UNAUTHORIZED",))
    portcullis.cli_ok("customer", "unarchive", cust["id"])
    pulled = login_and_pull(helm_clients, portcullis, *creds, chart_path(shipped.app))
    assert render_chart(pulled).values["global"]["replicated"]["licenseID"] == cust["licenseId"]


def test_license_of_other_app_is_refused(portcullis, shipped, helm_clients):
    other = portcullis.create_app()["slug"]
    stranger = new_customer(portcullis, other, email="x@example.com")
    for path in (chart_path(shipped.app), chart_path(shipped.app, "stable")):
        assert_pull_refused(helm_clients, portcullis, (stranger["email"], stranger["licenseId"]),
                            path, (401, 403), ("UNAUTHORIZED", "DENIED"))


def test_unknown_license_is_refused(portcullis, shipped, helm_clients):
    assert_pull_refused(helm_clients, portcullis, ("x@example.com", random_license()),
                        chart_path(shipped.app), (401,), ("UNAUTHORIZED",))


# ------------------------------------------------------------ invalid input
def _not_a_chart(tmp_path):
    p = tmp_path / "random-files.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("notes/README.txt", b"just some files\n"), ("data.bin", os.urandom(2048))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    p.write_bytes(buf.getvalue())
    return p


def _not_gzip(tmp_path):
    p = tmp_path / "slackernews-0.5.0.tgz"
    p.write_bytes(b"this is not gzip at all\n" + os.urandom(512))
    return p


@pytest.mark.parametrize(
    "case",
    ["not-a-chart", "not-gzip", "version-not-semver", "unknown-promote-channel", "promote-unknown-channel"],
)
def test_invalid_release_input_fails_cleanly(portcullis, tmp_path, case):
    app = portcullis.create_app()["slug"]
    vendor = Vendor(portcullis, app)
    good = package_chart(tmp_path / "good", VERSION)
    seq = vendor.create_release(good, VERSION, promote="Unstable")
    before = vendor.ls_text()

    if case == "not-a-chart":
        args = ["release", "create", "--chart", str(_not_a_chart(tmp_path)), "--version", "0.6.0", "--promote", "Unstable"]
        words = ("chart",)
    elif case == "not-gzip":
        args = ["release", "create", "--chart", str(_not_gzip(tmp_path)), "--version", "0.6.0", "--promote", "Unstable"]
        words = ("chart", "gzip")
    elif case == "version-not-semver":
        args = ["release", "create", "--chart", str(package_chart(tmp_path / "v", "0.6.0")), "--version", "five",
                "--promote", "Unstable"]
        words = ("version", "semver", "five")
    elif case == "unknown-promote-channel":
        args = ["release", "create", "--chart", str(package_chart(tmp_path / "c", "0.6.0")), "--version", "0.6.0",
                "--promote", "NoSuchChannel"]
        words = ("channel", "nosuchchannel")
    else:
        args = ["release", "promote", str(seq), "NoSuchChannel", "--version", VERSION]
        words = ("channel", "nosuchchannel")

    res = portcullis.cli(*args, "--app", app)
    assert res.code != 0, f"`portcullis {' '.join(args)}` succeeded:\n{res.describe()}"
    message = (res.err + res.out).strip()
    assert message, "failed without saying why"
    assert any(w in message.lower() for w in words), f"unclear error (expected one of {words}):\n{res.describe()}"
    for crash in ("Fatal error", "Stack dump", "Segmentation fault", "Illegal instruction"):
        assert crash not in message, res.describe()
    assert vendor.ls_text() == before, "a rejected release changed `release ls`"
