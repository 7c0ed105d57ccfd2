"""A hostile world: upstreams, charts, browsers and strangers that attack Portcullis.

A vendor registers an upstream endpoint, so an upstream is only as trustworthy as the vendor
(or whoever took over its DNS name); charts and configuration files are YAML from elsewhere;
the portals and ``/v2`` face the internet. The hostile registry of the testkit
(``portcullis_testkit.hostile.HostileUpstream``, four servers on 127.0.0.1 that record every
request) tries each attack, and these tests check that Portcullis does not fall for it:

1. a manifest that is an HTML page is never served (502 OCI error JSON); every response is
   ``nosniff`` and sandboxed by its CSP, portal pages allow only their own scripts;
2. the same page opened in a signed-in vendor's Chromium runs no script and creates no token;
3. redirects to loopback (also spelled ``0x7f000001``) and to the cloud metadata address are
   refused without ``--allow-private-upstreams``, and the internal ``secret`` server hears
   nothing; the metadata address is refused even with the opt-in;
4. a token realm the vendor did not approve gets no credentials, a redirect to a third host
   carries none; an approved realm (``--token-realm``) gets the vendor's;
5. private and metadata addresses are refused when registries and webhooks are configured;
6. YAML alias bombs (in a chart's values or Chart.yaml, in ``serve --config``) are refused
   quickly and the server stays healthy;
7. portal sign-ins are throttled (429 + Retry-After, even for the right password) and the CSRF
   token is bound by the server's key, not a double submit;
8. passwords longer than bcrypt's 72 bytes are refused; 9. the data directory is private;
10. strangers' random names leave no pull records; 11. ``/metrics`` can require a token;
12. ``registry test`` refuses a traversing image name; 13. the token realm ignores a forged
    ``Host``; 14. a negative page size is refused before the upstream is asked.

Every server binds to 127.0.0.1 and is stopped by a fixture finalizer or a ``finally``.
"""
from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import pytest
import requests

from portcullis_testkit.browser import headless_chromium
from portcullis_testkit.helm import package_chart
from portcullis_testkit.hostile import HTML_PAYLOAD, OCI_MANIFEST, YAML_BOMB, HostileUpstream, yaml_bomb_chart
from portcullis_testkit.oci import error_codes, get_manifest
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.proc import run
from portcullis_testkit.util import REPO_ROOT, free_port, unique

SCREENSHOTS = Path(os.environ.get("PORTCULLIS_SCREENSHOTS", REPO_ROOT / "e2e" / "screenshots"))
SANDBOX_CSP = "default-src 'none'; sandbox"
VENDOR_EMAIL, VENDOR_PASSWORD = "vendor@hostile.test", "correct horse battery staple"
BOMB_REFUSAL = ("expands to more than", "aliases")
DEADLINE = 20.0  # seconds a refusal of a YAML bomb may take


# --------------------------------------------------------------------------- fixtures
@dataclass
class World:
    """A server WITH --allow-private-upstreams, the hostile registry registered as ``hostile``
    for ``app``, and a customer of that app."""

    server: PortcullisServer
    app: str
    license_id: str

    def pull(self, repo: str, ref: str = "latest", registry: str = "hostile") -> requests.Response:
        return get_manifest(self.server.session(self.license_id), self.server.url,
                            f"proxy/{self.app}/{registry}/{repo}", ref)

    def blob(self, repo: str, digest: str, registry: str = "hostile") -> requests.Response:
        return self.server.session(self.license_id).get(
            f"{self.server.url}/v2/proxy/{self.app}/{registry}/{repo}/blobs/{digest}", timeout=60)


def register_hostile(server: PortcullisServer, up: HostileUpstream, name: str, *extra: str) -> None:
    """``registry add other`` for the hostile registry, the password on standard input."""
    server.secrets.append(up.password)
    # --no-verify: registered whatever the hostile registry is doing at that moment; what it does is tested on pulls.
    server.cli_ok("registry", "add", "other", "--endpoint", up.url, "--name", name, "--no-verify",
                  "--username", up.username, "--password-stdin", *extra, input=up.password + "\n")


@pytest.fixture(scope="module")
def hostile_upstream():
    with HostileUpstream() as up:
        yield up


@pytest.fixture
def hostile(hostile_upstream) -> HostileUpstream:
    """The module's hostile registry with its request records cleared."""
    hostile_upstream.reset()
    return hostile_upstream


@pytest.fixture(scope="module")
def world(tmp_path_factory, portcullis_binary, hostile_upstream) -> World:
    srv = PortcullisServer(tmp_path_factory.mktemp("hostile-world"), portcullis_binary,
                           ["--login-failure-limit", "100000"]).start()
    try:
        app = srv.create_app()["slug"]
        register_hostile(srv, hostile_upstream, "hostile", "--app", app)
        yield World(srv, app, srv.create_customer(app)["licenseId"])
    finally:
        srv.stop()


@pytest.fixture
def start_server(tmp_path_factory, portcullis_binary) -> Callable[..., PortcullisServer]:
    """``start(*extra_args, workdir=, allow_private_upstreams=, env=, start=True)``: a private
    server (``start=False`` returns it unstarted); all are stopped at teardown."""
    started: List[PortcullisServer] = []

    def start(*extra_args: str, workdir: Optional[Path] = None, allow_private_upstreams: bool = True,
              env: Optional[dict] = None, start: bool = True) -> PortcullisServer:
        srv = PortcullisServer(workdir or tmp_path_factory.mktemp("hostile-portcullis"), portcullis_binary,
                               extra_args, env=env, allow_private_upstreams=allow_private_upstreams)
        started.append(srv)
        return srv.start() if start else srv

    yield start
    for srv in started:
        srv.stop()


# ---------------------------------------------------------------------------- helpers
def message(resp: requests.Response) -> str:
    """The first OCI error message of a response ("" when the body is no OCI error JSON)."""
    try:
        return resp.json()["errors"][0].get("message", "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def show(resp: requests.Response) -> str:
    return f"{resp.request.method} {resp.url} -> {resp.status_code} {dict(resp.headers)} {resp.text[:400]!r}"


def assert_unavailable(resp: requests.Response, *needles: str) -> str:
    """A 502 with OCI error JSON, code UNAVAILABLE, whose message holds every needle."""
    assert resp.status_code == 502, show(resp)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), show(resp)
    assert error_codes(resp) == ["UNAVAILABLE"], show(resp)
    text = message(resp)
    missing = [n for n in needles if n not in text]
    assert not missing, f"the error message does not name {missing}: {text!r}"
    return text


def paths(up: HostileUpstream, server: str) -> List[str]:
    return [f"{r.method} {r.path}" for r in up.requests(server)]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def csp_directives(value: str) -> dict:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, f"no csrf field in the page: {html[:400]!r}"
    return found.group(1)


def chart_archive(chart_dir: Path, dest: Path) -> Path:
    """``<name>-0.1.0.tgz`` with ``<name>/...`` members (Helm's own packaging refuses bombs)."""
    out = dest / f"{chart_dir.name}-0.1.0.tgz"
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(chart_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"{chart_dir.name}/{path.relative_to(chart_dir)}")
    return out


def package_bomb(chart_dir: Path, dest: Path) -> Path:
    """The testkit's ``package_chart`` when Helm accepts the chart, else a tarfile archive."""
    try:
        return package_chart(dest, chart_dir=chart_dir)
    except Exception:  # noqa: BLE001 - Helm refuses "excessive aliasing": package it ourselves
        return chart_archive(chart_dir, dest)


# ------------------------------------------------------------------ 1. manifests, headers
def test_an_html_manifest_is_refused_and_every_response_is_inert(world, hostile):
    srv = world.server
    html = world.pull("html/app")
    assert_unavailable(html)
    assert HTML_PAYLOAD.encode() not in html.content, show(html)
    for fragment in ("<script", "<html", "XSS-RAN", "document.title"):
        assert fragment not in html.text, f"the upstream's HTML reached the client: {show(html)}"
    assert "GET /v2/html/app/manifests/latest" in paths(hostile, "main"), "the upstream was never asked"

    good = world.pull("good/app")
    assert good.status_code == 200, show(good)
    assert good.headers.get("Content-Type") == OCI_MANIFEST, show(good)
    assert good.headers.get("Docker-Content-Digest") == hostile.good_manifest_digest, show(good)
    blobs = {digest: world.blob("good/app", digest) for digest in hostile.blobs}
    for digest, resp in blobs.items():
        assert resp.status_code == 200 and resp.content == hostile.blobs[digest], show(resp)

    token_url = (f"{srv.url}/v2/token?service={srv.host}"
                 f"&scope=repository:proxy/{world.app}/hostile/good/app:pull")
    responses = {
        "good manifest": good,
        "good blob": next(iter(blobs.values())),
        "html manifest (502)": html,
        "/v2/ without credentials (401)": requests.get(srv.url + "/v2/", timeout=10),
        "manifest without credentials (401)": get_manifest(srv.session(), srv.url, f"proxy/{world.app}/hostile/good/app", "latest"),
        "/v2/token without credentials (401)": requests.get(token_url, timeout=10),
        "/v2/token with the license": requests.get(token_url, auth=("x", world.license_id), timeout=10),
        "/healthz": requests.get(srv.url + "/healthz", timeout=10),
        "unknown repository (404)": world.pull("no-such/repo"),
        "no route (404)": requests.get(srv.url + "/no/such/page", timeout=10),
    }
    assert responses["/v2/token with the license"].status_code == 200, show(responses["/v2/token with the license"])
    problems = []
    for what, resp in responses.items():
        if resp.headers.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{what}: X-Content-Type-Options={resp.headers.get('X-Content-Type-Options')!r}")
        if resp.headers.get("Content-Security-Policy") != SANDBOX_CSP:
            problems.append(f"{what}: Content-Security-Policy={resp.headers.get('Content-Security-Policy')!r}")
    for page in ("/portal/login", "/account"):
        resp = requests.get(srv.url + page, timeout=10)
        csp = resp.headers.get("Content-Security-Policy", "")
        script_src = csp_directives(csp).get("script-src")
        if resp.status_code != 200 or resp.headers.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{page}: {resp.status_code} X-Content-Type-Options={resp.headers.get('X-Content-Type-Options')!r}")
        if script_src != ["'self'"]:
            problems.append(f"{page}: script-src is {script_src!r}, not 'self' alone (CSP {csp!r})")
    assert not problems, "responses without the headers that keep them inert:\n" + "\n".join(problems)


# ---------------------------------------------------------------------- 2. in a browser
@pytest.fixture
def browser():
    yield from headless_chromium()


def test_a_signed_in_vendor_opening_the_hostile_manifest_runs_no_script(world, hostile, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    srv = world.server
    srv.cli_ok("user", "create", "--email", VENDOR_EMAIL, "--password-stdin", input=VENDOR_PASSWORD + "\n")
    register_hostile(srv, hostile, "hostile-public", "--anonymous-pull", "--app", world.app)
    tokens_before = srv.cli_json("token", "ls")

    browser.get(srv.url + "/portal/login")
    browser.find_element(By.ID, "email").send_keys(VENDOR_EMAIL)
    browser.find_element(By.ID, "password").send_keys(VENDOR_PASSWORD)
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    WebDriverWait(browser, 15).until(lambda d: not d.current_url.endswith("/portal/login"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview", browser.page_source[:400]
    assert any(c["name"] == "pc_portal" for c in browser.get_cookies()), "the browser is not signed in"

    # A browser does not do the registry token dance: it is handed the anonymous token anyone
    # gets for this public registry, so its plain navigation reaches the upstream's page.
    repo = f"proxy/{world.app}/hostile-public/html/app"
    anonymous = requests.get(f"{srv.url}/v2/token", params={"service": srv.host, "scope": f"repository:{repo}:pull"},
                             timeout=10)
    assert anonymous.status_code == 200 and anonymous.json().get("token"), show(anonymous)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                            {"headers": {"Authorization": f"Bearer {anonymous.json()['token']}"}})
    browser.get(f"{srv.url}/v2/{repo}/manifests/latest")
    time.sleep(1)  # what the script would have fetched has had time to arrive
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "hostile-manifest.png"))
    assert "GET /v2/html/app/manifests/latest" in paths(hostile, "main"), \
        f"the browser's request never reached the upstream: {browser.page_source[:400]!r}"
    assert browser.title != "XSS-RAN", f"the upstream's script ran: {browser.page_source[:400]!r}"
    assert not browser.find_elements(By.ID, "xss"), f"the upstream's script ran: {browser.page_source[:400]!r}"
    assert "<script" not in browser.page_source and "UNAVAILABLE" in browser.page_source, browser.page_source[:400]
    tokens_after = srv.cli_json("token", "ls")
    assert tokens_after == tokens_before, f"a vendor token was created: {tokens_before} -> {tokens_after}"


# --------------------------------------------------------------------- 3. redirects (SSRF)
def test_redirects_to_private_addresses_are_refused_without_the_opt_in(start_server, hostile, tmp_path):
    opted_in = start_server(workdir=tmp_path / "portcullis")
    app = opted_in.create_app()["slug"]
    register_hostile(opted_in, hostile, "hostile", "--app", app)
    license_id = opted_in.create_customer(app)["licenseId"]
    opted_in.stop()

    srv = start_server(workdir=tmp_path / "portcullis", allow_private_upstreams=False)
    assert "--allow-private-upstreams" not in srv.extra_args and srv.data_dir == opted_in.data_dir
    session = srv.session(license_id)

    def pull(repo: str) -> requests.Response:
        return get_manifest(session, srv.url, f"proxy/{app}/hostile/{repo}", "latest")

    loopback = assert_unavailable(pull("loopback/app"), "127.0.0.1")
    assert "loopback" in loopback, loopback
    assert_unavailable(pull("hex/app"), "loopback")  # 0x7f000001 is 127.0.0.1
    assert_unavailable(pull("metadata/app"), "169.254.169.254")

    manifest = pull("loopback-blob/app")
    assert manifest.status_code == 200, f"the registered endpoint itself stays reachable: {show(manifest)}"
    layer = manifest.json()["layers"][0]["digest"]
    blob = session.get(f"{srv.url}/v2/proxy/{app}/hostile/loopback-blob/app/blobs/{layer}", timeout=60)
    assert_unavailable(blob)

    assert hostile.requests("secret") == [], f"the internal service was reached: {paths(hostile, 'secret')}"
    asked = paths(hostile, "main")
    for repo in ("loopback/app", "hex/app", "metadata/app"):
        assert f"GET /v2/{repo}/manifests/latest" in asked, f"{repo} never reached the upstream: {asked}"


def test_the_metadata_address_is_refused_even_with_the_opt_in(world, hostile):
    assert "--allow-private-upstreams" in world.server.extra_args
    assert_unavailable(world.pull("metadata/app"), "169.254.169.254")
    assert hostile.requests("secret") == [], paths(hostile, "secret")


# ----------------------------------------------------------------- 4. foreign token realms
def test_an_unapproved_token_realm_gets_no_credentials(world, hostile):
    realm = f"localhost:{hostile.ports['realm']}"
    text = assert_unavailable(world.pull("realm/app"), realm)
    assert "no credentials were sent" in text, text
    assert hostile.requests("realm") == [], f"the foreign realm was asked: {paths(hostile, 'realm')}"


def test_a_redirect_to_a_third_host_carries_no_credentials(world, hostile):
    resp = world.pull("third/app")
    third = hostile.requests("third")
    assert third, f"the redirect was not followed: {show(resp)}"
    leaked = [r.path for r in third if "authorization" in r.headers]
    assert not leaked, f"the vendor's credentials went to the third host: {leaked}"
    assert hostile.requests("realm") == [], f"the third host's realm was asked: {paths(hostile, 'realm')}"
    assert_unavailable(resp, f"127.0.0.1:{hostile.ports['third']}")


def test_urls_with_impossible_ports_from_an_upstream_are_refused_not_followed(world, hostile):
    """A redirect or a token realm at 127.0.0.1:99999 is refused as a 502 naming the port: the
    HTTP client traps on such a port, which once took the whole server down with one answer."""
    for repo in ("badport/app", "badport-realm/app"):
        text = assert_unavailable(world.pull(repo), "99999")
        assert "not a TCP port" in text or "no credentials were sent" in text, text
    assert world.server.alive(), "the server died on an upstream's answer"
    assert world.pull("good/app").status_code == 200


def test_an_approved_token_realm_gets_the_vendors_credentials(world, hostile):
    realm = f"localhost:{hostile.ports['realm']}"
    register_hostile(world.server, hostile, "hostile2", "--token-realm", realm, "--app", world.app)
    resp = world.pull("realm/app", registry="hostile2")
    sent = [r.headers.get("authorization") for r in hostile.requests("realm")]
    assert basic(hostile.username, hostile.password) in sent, \
        f"the approved realm did not get the vendor's login: {sent} ({show(resp)})"
    assert resp.status_code != 500, show(resp)


# ------------------------------------------------------ 5. addresses at configuration time
def test_private_and_metadata_addresses_are_refused_when_configured(start_server, world):
    closed = start_server(allow_private_upstreams=False)
    for args in (("registry", "add", "other", "--endpoint", "http://127.0.0.1:9", "--name", "x", "--anonymous"),
                 ("webhook", "add", "--url", "http://127.0.0.1:9/hook", "--event", "customer.created")):
        res = closed.cli(*args)
        assert res.code != 0 and "--allow-private-upstreams" in res.out + res.err, \
            f"`{' '.join(args)}` without the opt-in:\n{res.describe()}"
    for args in (("registry", "add", "other", "--endpoint", "http://169.254.169.254", "--name", "x", "--anonymous"),
                 ("webhook", "add", "--url", "http://169.254.169.254/x", "--event", "customer.created")):
        res = world.server.cli(*args)
        assert res.code != 0 and "169.254.169.254" in res.out + res.err, \
            f"`{' '.join(args)}` with the opt-in:\n{res.describe()}"
    assert "x" not in [r.get("name") for r in world.server.cli_json("registry", "ls")]
    assert world.server.cli_json("webhook", "ls") == []


# ------------------------------------------------------------------- 6. YAML alias bombs
@pytest.mark.parametrize("where", ["values", "chart"])
def test_a_yaml_alias_bomb_chart_is_refused_quickly(world, portcullis_binary, tmp_path, where):
    chart_dir = yaml_bomb_chart(tmp_path / "src", name=f"bomb-{where}", where=where)
    archive = package_bomb(chart_dir, tmp_path / "out")
    app = world.server.create_app()["slug"]

    started = time.monotonic()
    res = world.server.cli("release", "create", "--app", app, "--chart", archive, "--version", "1.0.0", timeout=DEADLINE)
    took = time.monotonic() - started
    assert res.code != 0 and any(n in res.out + res.err for n in BOMB_REFUSAL), \
        f"release create with a bomb in {where} ({took:.1f}s):\n{res.describe()}"
    assert took < DEADLINE, f"release create took {took:.1f}s"

    assert requests.get(world.server.url + "/healthz", timeout=5).status_code == 200
    good = world.pull("good/app")
    assert good.status_code == 200, f"the server is unwell after the bomb: {show(good)}"

    started = time.monotonic()
    cp = run([portcullis_binary, "images", "ls", chart_dir], timeout=DEADLINE)
    took = time.monotonic() - started
    assert cp.returncode != 0 and any(n in cp.stdout + cp.stderr for n in BOMB_REFUSAL), \
        f"images ls on a bomb in {where} ({took:.1f}s): exit={cp.returncode}\n{cp.stdout[:400]}\n{cp.stderr[:400]}"
    assert took < DEADLINE, f"images ls took {took:.1f}s"


def test_a_yaml_alias_bomb_config_stops_serve_before_it_binds(portcullis_binary, tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(YAML_BOMB)
    port = free_port()
    proc = subprocess.Popen([str(portcullis_binary), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                             "--data-dir", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    bound = False
    try:
        deadline = time.monotonic() + DEADLINE
        while proc.poll() is None and time.monotonic() < deadline:
            with socket.socket() as s:
                bound = bound or s.connect_ex(("127.0.0.1", port)) == 0
            time.sleep(0.02)
        assert proc.poll() is not None, f"serve --config bomb.yaml still running after {DEADLINE:.0f}s"
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert proc.returncode == 2, f"exit={proc.returncode}\nstdout:\n{out[-400:]}\nstderr:\n{err[-400:]}"
    assert any(n in err for n in BOMB_REFUSAL), f"stderr does not say why: {err[-400:]!r}"
    assert not bound, f"serve listened on 127.0.0.1:{port} before refusing its configuration"


# ---------------------------------------------------------------------- 7. login throttle
PORTALS = {
    # page with the form, where it posts, its CSRF cookie, its session cookie
    "vendor": ("/portal/login", "/portal/login", "pc_portal_csrf", "pc_portal"),
    "customer": ("/account", "/account/login", "pc_customer_csrf", "pc_customer"),
}


@pytest.mark.parametrize("portal", sorted(PORTALS))
def test_portal_sign_ins_are_throttled_even_with_the_right_secret(start_server, portal):
    srv = start_server("--login-failure-limit", "5")
    page, post, csrf_cookie, session_cookie = PORTALS[portal]
    if portal == "vendor":
        srv.cli_ok("user", "create", "--email", VENDOR_EMAIL, "--password-stdin", input=VENDOR_PASSWORD + "\n")
        wrong = [{"email": VENDOR_EMAIL, "password": f"wrong password {i}"} for i in range(5)]
        right = {"email": VENDOR_EMAIL, "password": VENDOR_PASSWORD}
    else:
        license_id = srv.create_customer(srv.create_app()["slug"])["licenseId"]
        wrong = [{"license": f"lic-{secrets.token_hex(16)}"} for _ in range(5)]
        right = {"license": license_id}

    session = requests.Session()
    answers = []
    for fields in [*wrong, right]:
        form = session.get(srv.url + page, timeout=10)
        assert form.status_code == 200 and csrf_cookie in session.cookies, show(form)
        resp = session.post(srv.url + post, data={"csrf": form_csrf(form.text), **fields},
                            allow_redirects=False, timeout=10)
        answers.append(resp)
    statuses = [r.status_code for r in answers]
    assert 500 not in statuses, statuses
    assert statuses == [401] * 5 + [429], f"{portal} portal sign-ins: {statuses}"
    last = answers[-1]
    retry = last.headers.get("Retry-After", "")
    assert retry.isdigit() and int(retry) >= 1, f"Retry-After {retry!r}: {show(last)}"
    assert session_cookie not in last.cookies and session_cookie not in session.cookies, \
        f"a throttled sign-in got a session: {last.headers.get('Set-Cookie')}"


@pytest.mark.parametrize("portal", sorted(PORTALS))
def test_an_attacker_chosen_csrf_token_is_refused(world, portal):
    srv = world.server
    page, post, csrf_cookie, session_cookie = PORTALS[portal]
    if portal == "vendor":
        email = f"{unique('csrf')}@hostile.test"
        srv.cli_ok("user", "create", "--email", email, "--password-stdin", input=VENDOR_PASSWORD + "\n")
        fields = {"email": email, "password": VENDOR_PASSWORD}
    else:
        fields = {"license": world.license_id}
    resp = requests.post(srv.url + post, data={"csrf": "x", **fields}, cookies={csrf_cookie: "x"},
                         allow_redirects=False, timeout=10)
    assert resp.status_code == 403, f"a double-submitted token of the attacker's choosing: {show(resp)}"
    assert session_cookie not in resp.cookies, resp.headers.get("Set-Cookie")


# ------------------------------------------------------------------------------ 8. bcrypt
def test_passwords_longer_than_bcrypt_reads_are_refused(world):
    res = world.server.cli("user", "create", "--email", "long@acme.test", "--password-stdin", input="p" * 80 + "\n")
    assert res.code != 0 and "72 bytes" in res.out + res.err, res.describe()
    assert "long@acme.test" not in world.server.cli_ok("user", "ls").out


# ---------------------------------------------------------------------- 9. data directory
def test_the_data_directory_is_private_even_if_created_open(start_server):
    srv = start_server(start=False)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    srv.data_dir.chmod(0o755)
    srv.start()
    mode = srv.data_dir.stat().st_mode & 0o777
    assert mode == 0o700, f"{srv.data_dir} is {oct(mode)}"
    database = srv.data_dir / "metadata.sqlite"
    assert database.is_file(), sorted(p.name for p in srv.data_dir.iterdir())
    files = [database] + [p for p in (srv.data_dir / "metadata.sqlite-wal", srv.data_dir / "metadata.sqlite-shm") if p.exists()]
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert all(m == oct(0o600) for m in modes.values()), modes


# --------------------------------------------------------------------------- 10. strangers
def test_strangers_random_names_leave_no_pull_records(world):
    names = set()
    for _ in range(60):
        app, registry = secrets.token_hex(6), secrets.token_hex(6)
        names |= {app, registry}
        resp = requests.get(f"{world.server.url}/v2/proxy/{app}/{registry}/x/manifests/latest", timeout=10)
        assert resp.status_code == 401, show(resp)
    time.sleep(2)
    db = sqlite3.connect(f"file:{world.server.data_dir / 'metadata.sqlite'}?mode=ro", uri=True)
    try:
        pulls = db.execute("SELECT repository, reference, app_slug, customer_id FROM pulls").fetchall()
        days = db.execute("SELECT repository, app_slug FROM pull_days").fetchall()
    finally:
        db.close()
    recorded = [row for row in pulls if any(n in str(v) for v in row for n in names)]
    assert not recorded, f"pull records for strangers' names: {recorded[:5]}"
    daily = [row for row in days if any(n in row[0] for n in names)]
    assert not daily, f"daily pull summaries for strangers' names: {daily[:5]}"


# ----------------------------------------------------------------------------- 11. metrics
def test_metrics_require_the_token_when_one_is_set(start_server, world):
    token = f"mt-{secrets.token_hex(16)}"
    srv = start_server(env={"PORTCULLIS_METRICS_TOKEN": token})
    srv.secrets.append(token)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": basic("x", token)}):
        resp = requests.get(srv.url + "/metrics", headers=headers, timeout=10)
        assert resp.status_code == 401, f"/metrics with {headers}: {show(resp)}"
    resp = requests.get(srv.url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, show(resp)
    open_metrics = requests.get(world.server.url + "/metrics", timeout=10)
    assert open_metrics.status_code == 200, f"without PORTCULLIS_METRICS_TOKEN: {show(open_metrics)}"


# -------------------------------------------------------------------------- 12. registry test
def test_registry_test_refuses_a_traversing_image_name(world, hostile):
    res = world.server.cli("registry", "test", "hostile", "--image", "../../x:1")
    assert res.code != 0 and "image" in res.err and "Fatal error" not in res.err, res.describe()
    assert hostile.requests("main") == [], f"the upstream was asked: {paths(hostile, 'main')}"


# ------------------------------------------------------------------------- 13. forged Host
def test_the_token_realm_ignores_a_forged_host(world):
    srv = world.server
    resp = requests.get(srv.url + "/v2/", headers={"Host": f"evil.example:{srv.port}"}, timeout=10)
    challenge = resp.headers.get("WWW-Authenticate", "")
    realm = re.search(r'realm="([^"]*)"', challenge)
    assert resp.status_code == 401 and realm, show(resp)
    assert srv.host in realm.group(1) and "evil.example" not in challenge, f"WWW-Authenticate: {challenge}"


# ------------------------------------------------------------------------- 14. tag paging
def test_a_negative_page_size_is_refused_before_the_upstream_is_asked(world, hostile):
    resp = world.server.session(world.license_id).get(
        f"{world.server.url}/v2/proxy/{world.app}/hostile/good/app/tags/list?n=-1", timeout=30)
    asked = [p for p in paths(hostile, "main") if "/tags/list" in p]
    assert resp.status_code == 400 and error_codes(resp) == ["PAGINATION_NUMBER_INVALID"], \
        f"{show(resp)}; upstream asked: {asked}"
    assert not asked, f"the upstream was asked for tags: {asked}"
