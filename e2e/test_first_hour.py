"""The first hour of a new vendor (issue 27): the README's quick start run as written, plain HTTP
in what the portals print, `config check` refusing what `serve` refuses, `PORTCULLIS_APP` for
every per-app command, a busy port, registry credentials tried before they are kept and hosts
that do not resolve, duplicate customers and re-released chart versions, `--version` and every
`--help`, and error messages that say what to do next.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import requests

from portcullis_testkit.helm import CHART_DIR, Vendor, package_chart, parse_table
from portcullis_testkit.oci import layout_blobs, layout_index
from portcullis_testkit.portcullis import CliResult, PortcullisServer, env_without_portcullis, run_bounded
from portcullis_testkit.proc import ManagedProcess
from portcullis_testkit.upstream import MANIFEST_ACCEPT
from portcullis_testkit.util import REPO_ROOT, free_port, unique, wait_until

API_REPO, API_TAG = "org/api", "1.0"
BEFORE = REPO_ROOT / "e2e" / "charts" / "slackernews-before"
PULL_SECRET_TEMPLATE = (
    '{{ if hasKey ((.Values.global).replicated) "dockerconfigjson" }}\napiVersion: v1\nkind: Secret\nmetadata:\n'
    '  name: replicated-pull-secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n'
    '  .dockerconfigjson: {{ .Values.global.replicated.dockerconfigjson }}\n{{ end }}\n')


# ------------------------------------------------------------------- helpers
_env = env_without_portcullis
_run = run_bounded


def _cli(server: PortcullisServer, *args: str, env: Optional[Dict[str, str]] = None, input: Optional[str] = None) -> CliResult:
    """``portcullis ARGS`` against ``server`` with exactly the PORTCULLIS_* variables given here."""
    full = {"PORTCULLIS_API_URL": server.url, "PORTCULLIS_API_TOKEN": server.admin_token, **(env or {})}
    return _run([str(server.binary), *args], env=_env(full), input=input)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, f"no csrf field in the form:\n{html[:2000]}"
    return m.group(1)


def _customer_sign_in(server: PortcullisServer, license_id: str):
    """POST the customer portal's sign-in form; returns (session, response of the POST)."""
    s = requests.Session()
    token = _csrf(s.get(server.url + "/account", timeout=30).text)
    r = s.post(server.url + "/account/login", data={"csrf": token, "license": license_id}, allow_redirects=False, timeout=30)
    return s, r


def _vendor_sign_in(server: PortcullisServer, email: str, password: str) -> requests.Session:
    s = requests.Session()
    token = _csrf(s.get(server.url + "/portal/login", timeout=30).text)
    r = s.post(server.url + "/portal/login", data={"csrf": token, "email": email, "password": password},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303, f"vendor sign-in answered {r.status_code}:\n{r.text[:1000]}"
    return s


def _oci_messages(r: requests.Response) -> List[str]:
    try:
        return [f"{e.get('code')}: {e.get('message')}" for e in r.json().get("errors") or []]
    except ValueError:
        return []


def _pull_with_token_flow(server: PortcullisServer, license_id: str, repo: str, ref: str) -> requests.Response:
    """GET a manifest as a registry client does: unauthenticated, then a token for the challenged scope."""
    url = f"{server.url}/v2/{repo}/manifests/{ref}"
    first = requests.get(url, headers={"Accept": MANIFEST_ACCEPT}, timeout=30)
    challenge = first.headers.get("WWW-Authenticate", "")
    assert first.status_code == 401 and challenge.lower().startswith("bearer "), \
        f"expected a Bearer challenge, got {first.status_code} {challenge!r}: {first.text[:300]}"
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    tok = requests.get(params["realm"], params={"service": params.get("service", ""), "scope": params.get("scope", "")},
                       auth=("e2e-client", license_id), timeout=30)
    assert tok.status_code == 200, f"token endpoint answered {tok.status_code}: {tok.text[:300]}"
    return requests.get(url, headers={"Accept": MANIFEST_ACCEPT, "Authorization": "Bearer " + tok.json()["token"]}, timeout=30)


def _rfc3339(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory, portcullis_binary):
    """One plain-HTTP server for the tests that need no private one."""
    srv = PortcullisServer(tmp_path_factory.mktemp("first-hour"), portcullis_binary, ["--login-failure-limit", "100000"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api_image(upstream, images) -> str:
    """The README's image: ``org/api:1.0`` on the upstream (the 3-layer test image)."""
    upstream.push(images.three, API_REPO, tag=API_TAG)
    return f"{API_REPO}:{API_TAG}"


# -------------------------------------------------- 1. the README quick start
def _quick_start_blocks() -> List[str]:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert "## Quick start" in lines, "README.md has no `## Quick start` line"
    start = lines.index("## Quick start")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("### ")), len(lines))
    blocks = re.findall(r"^```sh\n(.*?)^```", "\n".join(lines[start:end]) + "\n", re.M | re.S)
    assert len(blocks) >= 2, f"expected the serve block and at least one more ```sh block in the quick start, got {blocks}"
    return blocks


def _commands(block: str) -> List[str]:
    """The block's commands: comment-only and blank lines dropped, `\\` continuations kept together."""
    out, cur = [], ""
    for line in block.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line + "\n"
        if not line.rstrip().endswith("\\"):
            out.append(cur)
            cur = ""
    assert not cur, f"a command ends in a continuation: {cur!r}"
    return out


def _start_serve(args: List[str], cwd: Path, url: str, data_dir: Path) -> ManagedProcess:
    proc = ManagedProcess(args, cwd / "serve.log", env=_env(), cwd=cwd)
    try:
        def up():
            assert proc.alive(), f"serve exited ({proc.proc.returncode}):\n{proc.log_tail()}"
            return requests.get(url + "/healthz", timeout=2).status_code == 200 and (data_dir / "admin-token").is_file()
        wait_until(up, timeout=60, message=lambda: f"serve never became healthy:\n{proc.log_tail()}")
    except BaseException:
        proc.stop()
        raise
    return proc


README_FN = 'portcullis() { swift run -q portcullis "$@"; }'


def test_readme_quick_start_runs_as_written(tmp_path, portcullis_binary, upstream, api_image):
    serve_block, *blocks = _quick_start_blocks()
    serve = _commands(serve_block)
    assert len(serve) == 1, f"the first quick-start block should be the one serve command: {serve}"
    words = shlex.split(serve[0], comments=True)
    assert words[:4] == ["swift", "run", "portcullis", "serve"], f"first block is not `swift run portcullis serve`: {serve[0]!r}"
    port = free_port()
    host, data_dir = f"127.0.0.1:{port}", tmp_path / "portcullis-data"
    # --allow-private-upstreams only because the test upstream listens on 127.0.0.1 (loopback is
    # refused by default); --listen and --data-dir stand in for the README's 127.0.0.1:8080 and
    # ./portcullis-data, which this test must not take from the machine.
    proc = _start_serve([str(portcullis_binary), "serve", *words[4:], "--listen", host, "--data-dir", str(data_dir),
                         "--allow-private-upstreams"], tmp_path, f"http://{host}", data_dir)
    try:
        subs = {"127.0.0.1:8080": host, "registry.example.com": upstream.url, "--username robot": f"--username {upstream.username}"}
        # No PORTCULLIS_API_URL/TOKEN: the CLI must find the server through ./portcullis-data.
        env = _env({"REGISTRY_PASSWORD": upstream.password})
        prelude, outputs = "", {}
        for block in blocks:
            for cmd in _commands(block):
                if cmd.lstrip().startswith("portcullis()"):
                    assert README_FN in cmd, f"the README defines portcullis() differently than this test expects: {cmd!r}"
                    cmd = cmd.replace(README_FN, f'portcullis() {{ {shlex.quote(str(portcullis_binary))} "$@"; }}')
                    prelude += cmd
                    continue
                for old, new in subs.items():
                    cmd = cmd.replace(old, new)
                left = re.findall(r"<[A-Za-z][\w-]*>", cmd)
                assert not left, f"README quick start has a placeholder this test cannot fill: {left} in {cmd!r}"
                res = _run(["bash", "-euo", "pipefail", "-c", prelude + cmd], env=env, cwd=tmp_path, timeout=300)
                assert res.code == 0, f"README command failed:\n{cmd}\n{res.describe()}\nserver log:\n{proc.log_tail()}"
                if re.search(r"\bportcullis customer create\b", cmd):
                    rows = parse_table(res.out)
                    assert len(rows) == 1 and rows[0].get("ID") and rows[0].get("LICENSE_ID"), \
                        f"`customer create` did not print one row with ID and LICENSE_ID:\n{res.out}"
                    subs["<customer-id>"], subs["<license-id>"] = rows[0]["ID"], rows[0]["LICENSE_ID"]
                for key in ("registry test", "customer pull-secret"):
                    if f"portcullis {key} " in cmd:
                        outputs[key] = res.out
    finally:
        proc.stop()

    assert re.search(r"^ok\b", outputs.get("registry test", ""), re.M), f"`registry test` printed {outputs.get('registry test')!r}"
    secret = json.loads(base64.b64decode(outputs["customer pull-secret"].strip(), validate=True))
    assert host in secret.get("auths", {}), f"pull secret has no auths entry for {host}: {secret}"

    layout = tmp_path / "api"
    assert (layout / "oci-layout").is_file(), f"skopeo wrote no OCI layout at {layout}"
    manifests = [m for m in layout_index(layout)["manifests"]
                 if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == API_TAG]
    assert len(manifests) == 1, f"index.json of {layout} has no single manifest tagged {API_TAG}: {layout_index(layout)}"
    body, _, digest = upstream.get_manifest(API_REPO, API_TAG)
    blobs = layout_blobs(layout)
    assert manifests[0]["digest"] == digest, f"pulled {manifests[0]['digest']}, upstream has {digest}"
    assert blobs[digest].read_bytes() == body, "the pulled manifest is not byte-identical to the upstream's"
    wanted = json.loads(body)
    for d in [wanted["config"], *wanted["layers"]]:
        assert d["digest"] in blobs, f"blob {d['digest']} missing from {layout}"


# ------------------------------------------------- 2. plain HTTP in the portals
@pytest.fixture(scope="module")
def portal(server, tmp_path_factory):
    """An app with a display name, a chart released on Stable, a customer allowed to install it
    with Helm, and a vendor portal user."""
    app, name, version = unique("shop"), "Umbrella Widgets", "1.0.0"
    server.create_app(app, name=name)
    Vendor(server, app).create_release(package_chart(tmp_path_factory.mktemp("chart"), version), version, promote="Stable")
    cust = server.cli_json("customer", "create", "--app", app, "--name", "Initech", "--email", "ops@initech.test", "--helm-install")
    email, password = f"{unique('vendor')}@acme.test", "correct horse battery staple"
    server.cli_ok("user", "create", "--email", email, "--password-stdin", input=password + "\n")
    return {"app": app, "name": name, "version": version, "customer": cust["id"], "license": cust["licenseId"],
            "email": email, "password": password}


def test_customer_portal_prints_plain_http_commands(server, portal):
    s, r = _customer_sign_in(server, portal["license"])
    assert r.status_code == 303, f"sign-in answered {r.status_code}:\n{r.text[:1000]}"
    page = s.get(server.url + "/account", timeout=30).text
    assert f"helm registry login {server.host} --plain-http" in page, page
    install = rf"helm install \S+ oci://{re.escape(server.host)}/{portal['app']}/\S+ --version {re.escape(portal['version'])} --plain-http"
    assert re.search(install, page), f"no `{install}` line:\n{page}"
    title, h1 = re.search(r"<title>(.*?)</title>", page, re.S), re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert title and portal["name"] in title.group(1), f"<title> does not use the app's name: {title and title.group(1)!r}"
    assert h1 and portal["name"] in h1.group(1), f"<h1> does not use the app's name: {h1 and h1.group(1)!r}"
    secret = re.search(r'<\w+[^>]*\bid="([^"]+)"[^>]*>\s*kubectl create secret generic (\S+) ', page)
    assert secret, f"no element with an id holding a `kubectl create secret generic` line:\n{page}"
    # The name rewritten charts and the post-renderer make pods pull with (README, post-renderer).
    assert secret.group(2) == "replicated-pull-secret", f"the portal creates {secret.group(2)!r}, which no pod names"
    assert f'data-copy="{secret.group(1)}"' in page, f"no Copy button for #{secret.group(1)}:\n{page}"


def test_an_archived_customers_open_session_says_why_and_stays_ended(server, portal):
    """Archiving ends the customer's portal session (README: a license that stops being valid
    ends the session): the open page says why, and unarchiving does not bring the session back."""
    app = portal["app"]
    cust = server.cli_json("customer", "create", "--app", app, "--name", unique("leaving"), "--email", "gone@initech.test")
    s, r = _customer_sign_in(server, cust["licenseId"])
    assert r.status_code == 303, r.text[:500]
    assert "helm registry login" in s.get(server.url + "/account", timeout=30).text
    server.cli_ok("customer", "archive", cust["id"])
    page = s.get(server.url + "/account", timeout=30)
    assert page.status_code == 401 and "no longer active" in page.text, f"{page.status_code}:\n{page.text[:1500]}"
    assert "helm registry login" not in page.text
    server.cli_ok("customer", "unarchive", cust["id"])
    again = s.get(server.url + "/account", timeout=30)
    assert "helm registry login" not in again.text and 'name="license"' in again.text, "the ended session came back"
    secret = s.get(server.url + "/account/pull-secret.json", timeout=30, allow_redirects=False)
    assert secret.status_code == 303, f"pull secret served to an ended session: {secret.status_code}"


def test_vendor_portal_customer_page_prints_plain_http(server, portal):
    s = _vendor_sign_in(server, portal["email"], portal["password"])
    page = s.get(f"{server.url}/portal/customers/{portal['customer']}", timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert f"helm registry login {server.host} --plain-http" in page.text, page.text


# ---------------------------------------------- 3. config check refuses like serve
@pytest.mark.parametrize("text,key", [("logLevel: verbose\n", "logLevel"), ("logFormat: xml\n", "logFormat")])
def test_config_check_refuses_what_serve_refuses(tmp_path, portcullis_binary, text, key):
    cfg = tmp_path / "portcullis.yaml"
    cfg.write_text(text)
    # `config check` takes the file as its argument (`portcullis config check --help`: <file>).
    check = _run([portcullis_binary, "config", "check", cfg])
    assert check.code != 0 and key in check.err, f"config check accepted or did not name {key}:\n{check.describe()}"
    serve = _run([portcullis_binary, "serve", "--config", cfg, "--listen", f"127.0.0.1:{free_port()}",
                  "--data-dir", tmp_path / "data"], timeout=30)
    assert serve.code != 0, f"serve started with a config file config check refuses:\n{serve.describe()}"
    complaint = check.err.strip().splitlines()[-1]
    assert complaint in serve.err, f"serve's complaint differs from config check's {complaint!r}:\n{serve.describe()}"


def test_config_check_accepts_a_valid_file(tmp_path, portcullis_binary):
    cfg = tmp_path / "portcullis.yaml"
    cfg.write_text("logLevel: debug\n")
    res = _run([portcullis_binary, "config", "check", cfg])
    assert res.code == 0, res.describe()


# --------------------------------------------------- 4. PORTCULLIS_APP everywhere
def test_portcullis_app_serves_for_every_per_app_command(server):
    app = server.create_app()["slug"]
    env = {"PORTCULLIS_APP": app}
    cust = _cli(server, "customer", "create", "--name", "Hooli", "-o", "json", env=env)
    assert cust.code == 0, cust.describe()
    assert json.loads(cust.out).get("app") == app, f"customer not created in {app}: {cust.out}"
    for args in (["license-field", "create", "--name", "seats", "--title", "Seats", "--type", "integer"],
                 ["channel", "ls"], ["release", "ls"]):
        res = _cli(server, *args, env=env)
        assert res.code == 0, f"`portcullis {' '.join(args)}` with PORTCULLIS_APP={app}:\n{res.describe()}"
    listed = _cli(server, "license-field", "ls", env=env)
    assert listed.code == 0 and "seats" in listed.out, listed.describe()
    removed = _cli(server, "license-field", "rm", "seats", env=env)
    assert removed.code == 0, removed.describe()
    assert "seats" not in _cli(server, "license-field", "ls", env=env).out, "seats still listed after rm"
    lint = _cli(server, "chart", "lint", str(CHART_DIR), env=env)
    assert lint.code in (0, 1) and "PORTCULLIS_APP" not in lint.err, f"chart lint with PORTCULLIS_APP:\n{lint.describe()}"


def test_without_portcullis_app_customer_create_says_how(server):
    res = _cli(server, "customer", "create", "--name", "Hooli")
    assert res.code != 0 and "PORTCULLIS_APP" in res.out + res.err, res.describe()


def test_apps_and_channels_are_named_by_the_ids_ls_shows(server):
    app = server.create_app()
    customer = server.cli_json("customer", "create", "--app", app["id"], "--name", "Initech")
    assert customer.get("app") == app["slug"], f"customer not created in {app['slug']}: {customer}"
    beta = next(c for c in server.cli_json("channel", "ls", "--app", app["id"]) if c["name"] == "Beta")
    moved = server.cli("customer", "update", customer["id"], "--channel", beta["id"])
    assert moved.code == 0, moved.describe()
    listed = server.cli_json("customer", "ls", "--app", app["slug"])
    assert [c["channel"] for c in listed if c["id"] == customer["id"]] == ["Beta"], listed
    missing = server.cli("customer", "ls", "--app", "no-such-app")
    assert missing.code != 0 and "slug or ID" in missing.out + missing.err, missing.describe()


# ----------------------------------------------------------------- 5. busy port
def test_busy_port_is_named_and_leaves_nothing(tmp_path, portcullis_binary):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        address = f"127.0.0.1:{held.getsockname()[1]}"
        res = _run([portcullis_binary, "serve", "--listen", address, "--data-dir", tmp_path / "d"], timeout=15)
    assert res.code != 0, res.describe()
    assert address in res.err and "--listen" in res.err, f"stderr does not name {address} and --listen:\n{res.describe()}"
    assert "errno" not in res.err.lower() and "bind(descriptor" not in res.err, res.describe()
    assert not (tmp_path / "d").exists(), "a server that never listened created its data directory"


# ------------------------------------------------------- 6. registry credentials
def _add_registry(server, name, password, *extra, endpoint=None, username=None) -> CliResult:
    return _cli(server, "registry", "add", "other", "--endpoint", endpoint, "--name", name, "--username", username,
                "--password-stdin", *extra, input=password + "\n")


def _registry_test(server, name) -> CliResult:
    return _cli(server, "registry", "test", name, "--image", f"{API_REPO}:{API_TAG}")


def test_registry_add_refuses_wrong_credentials(server, upstream, api_image):
    name, wrong = unique("reg"), "wrong-" + os.urandom(8).hex()
    res = _add_registry(server, name, wrong, endpoint=upstream.url, username=upstream.username)
    said = res.out + res.err
    assert res.code != 0, f"registry add kept credentials the registry refuses:\n{res.describe()}"
    assert re.search(r"refused\b.*\bcredentials", said, re.I) and "--no-verify" in said, res.describe()
    assert wrong not in said, "the password is echoed"
    assert name not in server.cli_ok("registry", "ls").out, "a refused registry is listed"


def test_registry_add_no_verify_keeps_them_and_test_says_auth_failed(server, upstream, api_image):
    name = unique("reg")
    res = _add_registry(server, name, "wrong-" + os.urandom(8).hex(), "--no-verify", endpoint=upstream.url, username=upstream.username)
    assert res.code == 0, res.describe()
    t = _registry_test(server, name)
    assert t.code == 1 and "auth failed" in t.out + t.err, t.describe()


def test_registry_update_tries_credentials_before_keeping_them(server, upstream, api_image):
    name = unique("reg")
    assert _add_registry(server, name, "wrong-" + os.urandom(8).hex(), "--no-verify", endpoint=upstream.url,
                         username=upstream.username).code == 0
    good = _cli(server, "registry", "update", name, "--password-stdin", input=upstream.password + "\n")
    assert good.code == 0, good.describe()
    t = _registry_test(server, name)
    assert t.code == 0 and re.search(r"^ok\b", t.out, re.M), t.describe()
    bad = _cli(server, "registry", "update", name, "--password-stdin", input="wrong-again\n")
    assert bad.code != 0, f"update kept credentials the registry refuses:\n{bad.describe()}"
    t = _registry_test(server, name)
    assert t.code == 0 and re.search(r"^ok\b", t.out, re.M), f"the old credentials were not kept:\n{t.describe()}"


def test_registry_on_a_host_that_does_not_resolve(server):
    name = unique("reg")
    res = _add_registry(server, name, "whatever", endpoint="https://portcullis-test.invalid", username="u")
    assert res.code == 0, res.describe()
    assert "portcullis-test.invalid" in res.err, f"no warning on stderr:\n{res.describe()}"
    t = _registry_test(server, name)
    said = t.out + t.err
    lines = [ln for ln in said.splitlines() if ln.startswith("unreachable:")]
    assert t.code == 1 and lines and "portcullis-test.invalid does not resolve" in lines[0], t.describe()
    for word in ("NIO", "getaddrinfo", "errno"):
        assert word not in said, f"{word} in:\n{t.describe()}"


def test_registry_given_without_http_that_serves_plain_http_says_so(server, upstream, api_image):
    """An endpoint without a scheme is HTTPS; a plain-HTTP registry answers TLS with HTTP. The
    warning says what to change, in words, with no TLS library internals or source paths."""
    name = unique("reg")
    endpoint = upstream.url.split("://", 1)[1]
    res = _add_registry(server, name, upstream.password, endpoint=endpoint, username=upstream.username)
    assert res.code == 0, res.describe()
    t = _registry_test(server, name)
    for said in (res.err, t.out + t.err):
        assert "does not answer TLS" in said and "http://host:port" in said, f"no plain-HTTP hint:\n{res.describe()}\n{t.describe()}"
        for word in ("NIOSSL", "BoringSSL", ".build/", ".cc:"):
            assert word not in said, f"{word} in:\n{said}"


def test_registry_nobody_listens_on_is_said_at_once(server):
    """A refused connection is an answer: said in words, without waiting out the connect timeout."""
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name = unique("reg")
    started = time.monotonic()
    res = _add_registry(server, name, "whatever", endpoint=f"http://127.0.0.1:{port}", username="u")
    t = _registry_test(server, name)
    took = time.monotonic() - started
    assert res.code == 0 and t.code == 1, f"{res.describe()}\n{t.describe()}"
    for said in (res.err, t.out + t.err):
        assert "connection was refused" in said and "errno" not in said, said
    assert took < 8, f"add and test took {took:.1f} s: the refused connection was retried"


# ---------------------------------------------------------------- 7. duplicates
def test_duplicate_customer_names_need_allow_duplicate(server):
    a, b = server.create_app()["slug"], server.create_app()["slug"]
    first = server.cli_json("customer", "create", "--app", a, "--name", "Globex")
    again = server.cli("customer", "create", "--app", a, "--name", "Globex")
    said = again.out + again.err
    assert again.code != 0, f"a second Globex in {a} was created silently:\n{again.describe()}"
    assert first["id"] in said and "--allow-duplicate" in said, again.describe()
    forced = server.cli("customer", "create", "--app", a, "--name", "Globex", "--allow-duplicate")
    assert forced.code == 0, forced.describe()
    elsewhere = server.cli("customer", "create", "--app", b, "--name", "Globex")
    assert elsewhere.code == 0, f"the same name in another app was refused:\n{elsewhere.describe()}"


def test_rereleasing_a_chart_version_warns(server, tmp_path):
    app = server.create_app()["slug"]
    vendor = Vendor(server, app)
    vendor.create_release(package_chart(tmp_path / "a", "4.5.5"), "4.5.5")
    earlier = vendor.create_release(package_chart(tmp_path / "b", "4.5.6"), "4.5.6")
    res = server.cli("release", "create", "--app", app, "--chart", str(package_chart(tmp_path / "c", "4.5.6")), "--version", "5.0.0")
    assert res.code == 0, res.describe()
    assert "4.5.6" in res.err and re.search(rf"(?<![\w.]){earlier}(?![\w.])", res.err), \
        f"no warning naming chart 4.5.6 and release {earlier}:\n{res.describe()}"


# ---------------------------------------------------------- 8. version and help
_ENTRY = re.compile(r"^  (?P<entry>\S+(?: \S+)*)(?:\s{2,}(?P<desc>\S.*))?$")


def _sections(text: str) -> Dict[str, List[str]]:
    """Help sections (``OPTIONS``, ``ARGUMENTS``, ``SUBCOMMANDS``…) -> their lines up to a blank line."""
    out: Dict[str, List[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Z ]*?):(?:\s|$)", line)
        if m:
            current = m.group(1)
            out[current] = []
        elif not line.strip():
            current = None
        elif current:
            out[current].append(line)
    return out


def _undescribed(lines: List[str]) -> List[str]:
    bad = []
    for i, line in enumerate(lines):
        m = _ENTRY.match(line)
        if not m or m.group("desc"):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not (following.startswith("   ") and following.strip()):
            bad.append(m.group("entry"))
    return bad


def test_version_is_the_builds(portcullis_binary):
    version = re.search(r'portcullisVersion = "([^"]+)"', (REPO_ROOT / "Sources/PortcullisAPI/Version.swift").read_text()).group(1)
    res = _run([portcullis_binary, "--version"])
    assert res.code == 0 and res.out.strip() == version, f"expected {version}:\n{res.describe()}"


def test_every_help_describes_every_entry_and_wraps(portcullis_binary):
    problems, queue, seen = [], [[]], 0
    while queue:
        path = queue.pop(0)
        seen += 1
        name = " ".join(["portcullis", *path])
        res = _run([portcullis_binary, *path, "--help"])
        if res.code != 0:
            problems.append(f"{name} --help: exit {res.code}: {res.err.strip()[:200]}")
            continue
        sections = _sections(res.out)
        for section in ("ARGUMENTS", "OPTIONS"):
            for entry in _undescribed(sections.get(section, [])):
                problems.append(f"{name}: {section} entry `{entry}` has no description")
        for line in res.out.splitlines():
            if len(line) > 100:
                problems.append(f"{name}: line of {len(line)} columns: {line[:60]}…")
        for line in sections.get("SUBCOMMANDS", []):
            m = _ENTRY.match(line)
            if m:
                queue.append([*path, m.group("entry").split()[0]])
    assert seen > 20, f"only {seen} help pages found; is the SUBCOMMANDS parsing right?"
    assert not problems, f"{len(problems)} help problems in {seen} pages:\n" + "\n".join(problems)


# ------------------------------------------------ 9. messages that say what to do
@pytest.fixture(scope="module")
def acme(server, upstream, api_image):
    app = unique("acme")
    server.create_app(app, name="Acme Widgets")
    server.add_registry(upstream.url, upstream.username, upstream.password, apps=[app], slug="vendor-reg")
    cust = server.create_customer(app)
    return {"app": app, "name": "Acme Widgets", "license": cust["licenseId"]}


def test_misspelt_registry_is_named(server, acme):
    r = _pull_with_token_flow(server, acme["license"], f"proxy/{acme['app']}/vendro-reg/{API_REPO}", API_TAG)
    msgs = _oci_messages(r)
    assert r.status_code == 404 and any(m.startswith("NAME_UNKNOWN") for m in msgs), f"{r.status_code}: {r.text[:500]}"
    # It names the misspelt registry and says it is not one of this app's.
    assert any("vendro-reg" in m and acme["app"] in m and re.search(r"\b(not|no)\b", m) for m in msgs), \
        f"message does not say vendro-reg is not a registry of {acme['app']}: {msgs}"


def test_forgotten_proxy_prefix_is_pointed_out(server, acme):
    r = _pull_with_token_flow(server, acme["license"], f"{acme['app']}/vendor-reg/{API_REPO}", API_TAG)
    want = f"proxy/{acme['app']}/vendor-reg/{API_REPO}"
    assert r.status_code == 404 and any(want in m for m in _oci_messages(r)), f"no mention of {want}: {r.status_code} {r.text[:500]}"


def test_admin_api_tells_refused_from_missing_tokens(server):
    wrong = requests.get(server.url + "/api/v1/apps", headers={"Authorization": "Bearer not-the-token-" + os.urandom(8).hex()}, timeout=30)
    assert wrong.status_code == 401 and "refused" in wrong.text.lower() and "required" not in wrong.text.lower(), \
        f"wrong token: {wrong.status_code} {wrong.text[:300]}"
    none = requests.get(server.url + "/api/v1/apps", timeout=30)
    assert none.status_code == 401 and "required" in none.text.lower(), f"no token: {none.status_code} {none.text[:300]}"


def test_expired_license_sign_in_says_whom_to_ask(server, acme):
    cust = server.create_customer(acme["app"], expires_at=_rfc3339(-timedelta(hours=1)))
    _, r = _customer_sign_in(server, cust["licenseId"])
    assert r.status_code != 303, "an expired license signed in"
    assert "expired" in r.text and acme["name"] in r.text, f"{r.status_code}:\n{r.text[:2000]}"


def test_release_lint_lists_findings_with_locations(server, tmp_path):
    app = server.create_app()["slug"]
    tgz = package_chart(tmp_path, chart_dir=BEFORE,
                        edit=lambda d: (d / "templates" / "imagepullsecret.yaml").write_text(PULL_SECRET_TEMPLATE))
    res = server.cli("release", "create", "--app", app, "--chart", str(tgz), "--version", "0.4.0", "--lint")
    assert res.code != 0 and "SEQUENCE" not in res.out, res.describe()
    findings = [ln for ln in (res.err + res.out).splitlines() if re.search(r"\b(error|warning):", ln) and "lint failed" not in ln]
    bypass = [ln for ln in findings if "bypasses the proxy" in ln]
    assert len(bypass) >= 2 and all(ln.count("bypasses the proxy") == 1 for ln in bypass), res.describe()
    unlocated = [ln for ln in findings if not re.search(r"[\w.!/-]+\.(?:ya?ml|tpl|json):\d+", ln)]
    assert not unlocated, f"findings without file:line: {unlocated}\n{res.describe()}"
