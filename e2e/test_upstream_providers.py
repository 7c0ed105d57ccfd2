"""Every kind of registry a vendor connects, each against a local service that answers the way it does.

* ECR: moto's ECR API in server mode with request signatures enforced, and a ``docker-registry``
  whose htpasswd holds the ``AWS:<password>`` that moto's token decodes to.
* Artifact Registry / GCR (``_json_key``), GHCR (user + token), Quay (``org+robot``), and public
  registries (anonymous tokens for public repositories only): ``docker-registry`` with token auth
  behind the testkit's token service, which records every token request.
* Allowlists, token reuse, a rate-limited token endpoint, and multi-arch indexes whose platforms
  are fetched when asked for.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.backends import MotoServer, shared_unavailable_reason
from portcullis_testkit.oci import error_codes, get_manifest, layout_blobs, skopeo, skopeo_copy
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.tokenserver import TokenService
from portcullis_testkit.upstream import TokenAuthUpstream, UpstreamRegistry
from portcullis_testkit.util import wait_until

# moto's ECR hands out base64("AWS:<account>-auth-token") for its default account.
ECR_PASSWORD = "123456789012-auth-token"
GAR_KEY = json.dumps({"type": "service_account", "project_id": "acme", "private_key_id": secrets.token_hex(8),
                      "private_key": "-----BEGIN PRIVATE KEY-----\\n" + secrets.token_hex(32) + "\\n-----END PRIVATE KEY-----\\n",
                      "client_email": "puller@acme.iam.gserviceaccount.com"})
GHCR_TOKEN = "ghp_" + secrets.token_hex(18)
QUAY_ROBOT, QUAY_TOKEN = "acme+puller", secrets.token_hex(20).upper()
PUSHER, PUSHER_PASSWORD = "pusher", "push-" + secrets.token_hex(8)
PUBLIC_REPO = "library/public-app"
PRIVATE_REPO = "acme/private-app"


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    reason = shared_unavailable_reason()
    if reason and "moto" in reason:
        pytest.skip(reason)
    server = MotoServer(tmp_path_factory.mktemp("moto-ecr")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ecr_upstream(tmp_path_factory, images) -> UpstreamRegistry:
    reg = UpstreamRegistry(tmp_path_factory.mktemp("ecr-upstream"), username="AWS", password=ECR_PASSWORD).start()
    reg.push(images.three, catalog.THREE_REPO)
    reg.push(images.multi, catalog.MULTI_REPO)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto) -> PortcullisServer:
    srv = PortcullisServer(tmp_path_factory.mktemp("providers"), env={"AWS_ENDPOINT_URL_ECR": moto.url}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def token_service(tmp_path_factory) -> TokenService:
    svc = TokenService(tmp_path_factory.mktemp("tokens"), accounts={
        "_json_key": GAR_KEY, "vendor-bot": GHCR_TOKEN, QUAY_ROBOT: QUAY_TOKEN, PUSHER: PUSHER_PASSWORD,
    }, public=[PUBLIC_REPO]).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def token_upstream(tmp_path_factory, token_service, images) -> TokenAuthUpstream:
    reg = TokenAuthUpstream(tmp_path_factory.mktemp("token-upstream"), token_service, PUSHER, PUSHER_PASSWORD).start()
    for repo in (PUBLIC_REPO, PRIVATE_REPO):
        reg.push(images.three, repo)
    yield reg
    reg.stop()


def _customer(srv: PortcullisServer) -> tuple:
    app = srv.create_app()["slug"]
    return app, srv.create_customer(app)["licenseId"]


def _add(srv: PortcullisServer, *args: str, input: str = None) -> str:
    name = "r" + secrets.token_hex(4)
    srv.cli_ok("registry", "add", *args, "--name", name, input=input)
    return name


def _pull_ok(srv, app, registry, license_id, repo, image, tmp_path):
    out = tmp_path / f"out-{secrets.token_hex(3)}"
    cp = skopeo_copy(f"{srv.host}/proxy/{app}/{registry}/{repo}:{image.tag}", f"oci:{out}:{image.tag}", ("any", license_id))
    assert cp.returncode == 0, f"pull through {registry} failed:\n{cp.stderr}"
    assert set(layout_blobs(out)) == set(image.all_blobs)


def _metric(srv, name: str, upstream: str) -> float:
    text = requests.get(srv.url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'upstream="{upstream}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


# ----------------------------------------------------------------------------- ECR
def test_ecr_pulls_with_an_access_key_and_one_token_request_for_many_pulls(server, moto, ecr_upstream, images, tmp_path):
    app, license_id = _customer(server)
    before = moto.requests_logged("POST", "/")
    reg = _add(server, "ecr", "--endpoint", ecr_upstream.url, "--region", "us-east-1", "--access-key-id", moto.access_key,
               "--secret-access-key-stdin", "--app", app, input=moto.secret_key + "\n")
    server.secrets.append(moto.secret_key)
    _pull_ok(server, app, reg, license_id, catalog.THREE_REPO, images.three, tmp_path)

    # Sixteen clients at once, over two repositories (two token scopes upstream).
    failures = []

    def pull(i: int) -> None:
        repo = catalog.THREE_REPO if i % 2 else catalog.MULTI_REPO
        r = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{repo}", catalog.TAG)
        if r.status_code != 200:
            failures.append((i, r.status_code, r.text[:200]))

    threads = [threading.Thread(target=pull, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    # moto's expiresAt is in 2015: "short-lived", reused for a minute, never fetched per request.
    assert moto.requests_logged("POST", "/") - before == 1

    listed = {r["name"]: r for r in server.cli_json("registry", "ls")}[reg]
    assert (listed["provider"], listed["authType"], listed["region"], listed["username"]) == \
        ("ecr", "access-key", "us-east-1", moto.access_key)
    assert moto.secret_key not in json.dumps(listed)
    assert server.cli_ok("registry", "test", reg, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}").out.startswith("ok")


def test_ecr_with_a_wrong_secret_says_auth_failed_and_leaks_nothing(server, moto, ecr_upstream):
    app, license_id = _customer(server)
    wrong = "wrong-" + secrets.token_hex(16)
    server.secrets.append(wrong)
    refused = server.cli("registry", "add", "ecr", "--endpoint", ecr_upstream.url, "--region", "us-east-1", "--access-key-id",
                         moto.access_key, "--secret-access-key-stdin", "--app", app, "--name", "r" + secrets.token_hex(4), input=wrong + "\n")
    assert refused.code != 0 and "refused these credentials" in refused.err, refused.describe()
    reg = _add(server, "ecr", "--endpoint", ecr_upstream.url, "--region", "us-east-1", "--access-key-id", moto.access_key,
               "--secret-access-key-stdin", "--app", app, "--no-verify", input=wrong + "\n")
    test = server.cli("registry", "test", reg, "--image", f"{catalog.THREE_REPO}:{catalog.TAG}")
    assert test.code == 1 and test.out.startswith("auth failed"), test.describe()

    r = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{catalog.THREE_REPO}", catalog.TAG)
    assert r.status_code == 502 and error_codes(r) == ["UNAVAILABLE"], (r.status_code, r.text)
    assert "credentials" in r.json()["errors"][0]["message"]
    assert _metric(server, "portcullis_upstream_auth_failures_total", reg) >= 1
    for text in (r.text, test.out, test.err, refused.out, refused.err, server.log_text()):
        assert wrong not in text and moto.secret_key not in text


def test_ecr_needs_a_region_unless_the_host_names_one(server):
    refused = server.cli("registry", "add", "ecr", "--endpoint", "http://127.0.0.1:9", "--access-key-id", "AKIDEXAMPLE",
                         "--secret-access-key-stdin", input="secret\n")
    assert refused.code != 0 and "--region is required" in refused.err, refused.describe()
    reg = _add(server, "ecr", "--endpoint", "123456789012.dkr.ecr.eu-west-2.amazonaws.com", "--access-key-id", "AKIDEXAMPLE",
               "--secret-access-key-stdin", input="secret\n")
    listed = {r["name"]: r for r in server.cli_json("registry", "ls")}[reg]
    assert listed["region"] == "eu-west-2" and listed["endpoint"] == "https://123456789012.dkr.ecr.eu-west-2.amazonaws.com"
    no_key = server.cli("registry", "add", "ecr", "--endpoint", "123456789012.dkr.ecr.eu-west-2.amazonaws.com", "--anonymous")
    assert no_key.code != 0, no_key.describe()


# ------------------------------------------------------------ token-realm providers
@pytest.mark.parametrize("kind,login,secret_flag,account,secret", [
    ("gar", [], "--password-stdin", "_json_key", GAR_KEY),
    ("gcr", [], "--password-stdin", "_json_key", GAR_KEY),
    ("ghcr", ["--username", "vendor-bot"], "--token-stdin", "vendor-bot", GHCR_TOKEN),
    ("quay", ["--username", QUAY_ROBOT], "--password-stdin", QUAY_ROBOT, QUAY_TOKEN),
    ("other", ["--username", PUSHER], "--password-stdin", PUSHER, PUSHER_PASSWORD),
])
def test_each_provider_logs_in_at_the_token_realm_the_way_it_expects(server, token_service, token_upstream, images, tmp_path,
                                                                   kind, login, secret_flag, account, secret):
    app, license_id = _customer(server)
    server.secrets.append(secret)
    before_add = len(token_service.requests())
    reg = _add(server, kind, "--endpoint", token_upstream.url, *login, secret_flag, "--app", app, input=secret + "\n")
    # `registry add` tried the login once, the provider's way.
    tried = token_service.requests()[before_add:]
    assert len(tried) == 1 and tried[0].account == account and tried[0].status == 200, tried
    seen = len(token_service.requests())
    _pull_ok(server, app, reg, license_id, PRIVATE_REPO, images.three, tmp_path)
    asked = token_service.requests()[seen:]
    assert asked and all(r.account == account and r.status == 200 for r in asked), asked
    # One token for the repository's scope, reused for the manifest and every blob.
    assert len(asked) == 1, asked
    assert server.cli_ok("registry", "test", reg, "--image", f"{PRIVATE_REPO}:{catalog.TAG}").out.startswith("ok")
    assert secret not in server.log_text()


def test_a_wrong_token_at_the_realm_is_auth_failed(server, token_upstream):
    app, license_id = _customer(server)
    wrong = "ghp_" + secrets.token_hex(18)
    server.secrets.append(wrong)
    refused = server.cli("registry", "add", "ghcr", "--endpoint", token_upstream.url, "--username", "vendor-bot", "--token-stdin",
                         "--app", app, "--name", "r" + secrets.token_hex(4), input=wrong + "\n")
    assert refused.code != 0 and "refused these credentials" in refused.err and wrong not in refused.describe(), refused.describe()
    reg = _add(server, "ghcr", "--endpoint", token_upstream.url, "--username", "vendor-bot", "--token-stdin", "--app", app,
               "--no-verify", input=wrong + "\n")
    test = server.cli("registry", "test", reg, "--image", f"{PRIVATE_REPO}:{catalog.TAG}")
    assert test.code == 1 and test.out.startswith("auth failed"), test.describe()
    r = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{PRIVATE_REPO}", catalog.TAG)
    assert r.status_code == 502 and "credentials" in r.text and wrong not in r.text


def test_an_anonymous_registry_pulls_public_repositories_only(server, token_service, token_upstream, images, tmp_path):
    app, license_id = _customer(server)
    missing = server.cli("registry", "add", "other", "--endpoint", token_upstream.url)
    assert missing.code != 0 and "--anonymous" in missing.err, missing.describe()
    seen = len(token_service.requests())
    reg = _add(server, "other", "--endpoint", token_upstream.url, "--anonymous", "--app", app)
    assert {r["name"]: r for r in server.cli_json("registry", "ls")}[reg]["authType"] == "anonymous"
    _pull_ok(server, app, reg, license_id, PUBLIC_REPO, images.three, tmp_path)
    assert all(r.account is None for r in token_service.requests()[seen:])
    r = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{PRIVATE_REPO}", catalog.TAG)
    assert 400 <= r.status_code < 500 or r.status_code == 502, (r.status_code, r.text)
    assert r.status_code != 500 and error_codes(r), r.text


def test_tag_list_pages_reuse_one_upstream_token(server, token_service, token_upstream):
    app, license_id = _customer(server)
    for tag in ("a1", "a2", "a3", "a4"):
        token_upstream.tag(PRIVATE_REPO, catalog.TAG, tag)
    reg = _add(server, "other", "--endpoint", token_upstream.url, "--username", PUSHER, "--password-stdin", "--app", app,
               input=PUSHER_PASSWORD + "\n")
    seen = len(token_service.requests())
    session = server.session(license_id)
    url, tags = f"{server.url}/v2/proxy/{app}/{reg}/{PRIVATE_REPO}/tags/list?n=2", []
    while url:
        r = session.get(url, timeout=30)
        assert r.status_code == 200, r.text
        tags += r.json()["tags"]
        url = server.url + r.links["next"]["url"] if "next" in r.links else None
    assert sorted(tags) == sorted(["a1", "a2", "a3", "a4", catalog.TAG])
    assert len(token_service.requests()) - seen == 1


def test_a_rate_limited_token_endpoint_is_429_with_its_retry_after(server, token_service, token_upstream):
    app, license_id = _customer(server)
    reg = _add(server, "other", "--endpoint", token_upstream.url, "--username", PUSHER, "--password-stdin", "--app", app,
               input=PUSHER_PASSWORD + "\n")
    token_service.policy.throttle_next = 1
    r = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{PRIVATE_REPO}", catalog.TAG)
    assert r.status_code == 429 and error_codes(r) == ["TOOMANYREQUESTS"], (r.status_code, r.text)
    assert r.headers.get("Retry-After") == str(token_service.policy.retry_after)
    again = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{PRIVATE_REPO}", catalog.TAG)
    assert again.status_code == 200, again.text


# ---------------------------------------------------------------------- allowlists
def test_an_allowlist_limits_repositories_without_asking_upstream(server, ecr_upstream, images, tmp_path):
    """Any registry kind; here the htpasswd upstream with ECR's repositories, as kind other."""
    app, license_id = _customer(server)
    reg = _add(server, "other", "--endpoint", ecr_upstream.url, "--username", "AWS", "--password-stdin",
               "--allow", "e2e/three-*", "--app", app, input=ECR_PASSWORD + "\n")
    assert {r["name"]: r for r in server.cli_json("registry", "ls")}[reg]["allow"] == ["e2e/three-*"]
    _pull_ok(server, app, reg, license_id, catalog.THREE_REPO, images.three, tmp_path)
    asked_before = ecr_upstream.count_requests("GET", catalog.MULTI_REPO) + ecr_upstream.count_requests("HEAD", catalog.MULTI_REPO)
    r = get_manifest(server.session(license_id), server.url, f"proxy/{app}/{reg}/{catalog.MULTI_REPO}", catalog.TAG)
    assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"], (r.status_code, r.text)
    after = ecr_upstream.count_requests("GET", catalog.MULTI_REPO, settle=0.5) + ecr_upstream.count_requests("HEAD", catalog.MULTI_REPO)
    assert after == asked_before
    bad = server.cli("registry", "add", "other", "--endpoint", ecr_upstream.url, "--anonymous", "--allow", "Org/**")
    assert bad.code != 0 and "invalid repository pattern" in bad.err, bad.describe()


# ---------------------------------------------------------------------- multi-arch
def test_each_platform_of_an_index_is_fetched_once_when_asked_for(server, ecr_upstream, images, tmp_path):
    app, license_id = _customer(server)
    reg = _add(server, "other", "--endpoint", ecr_upstream.url, "--username", "AWS", "--password-stdin", "--app", app,
               input=ECR_PASSWORD + "\n")
    children = {img.platform["architecture"]: img.manifest.digest for img in images.multi.images}
    src = f"docker://{server.host}/proxy/{app}/{reg}/{catalog.MULTI_REPO}:{catalog.TAG}"

    def pull(arch: str) -> None:
        out = tmp_path / f"out-{arch}"
        cp = skopeo("--override-arch", arch, "--override-os", "linux", "copy", "--src-tls-verify=false", "--retry-times", "0",
                    "--src-creds", f"any:{license_id}", src, f"oci:{out}:{catalog.TAG}")
        assert cp.returncode == 0, cp.stderr
        got = set(layout_blobs(out))
        assert children[arch] in got and not (set(children.values()) - {children[arch]}) & got

    def fetched(digest: str) -> int:
        return ecr_upstream.count_requests("GET", f"{catalog.MULTI_REPO}/manifests/{digest}", settle=0.5)

    pull("arm64")
    assert (fetched(children["arm64"]), fetched(children["amd64"])) == (1, 0)
    pull("amd64")
    pull("arm64")
    assert (fetched(children["arm64"]), fetched(children["amd64"])) == (1, 1)
