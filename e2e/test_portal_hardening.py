"""Portal hardening: what the portals accept, what they print for a shell, and whom they let in.

Emails and names are checked before they reach a page or a command; install commands are valid
shell with the username quoted; cross-site form posts, unknown routes and another app's licenses
on a custom domain are refused; Copy buttons work where the clipboard API does not exist.
"""
from __future__ import annotations

import html
import re
import subprocess

import pytest
import requests

from portcullis_testkit.helm import package_chart
from portcullis_testkit.browser import headless_chromium
from portcullis_testkit.portcullis import PortcullisServer

ADMIN_EMAIL, ADMIN_PASSWORD = "vendor@hardening.test", "correct horse battery staple"
BAD_EMAIL = "x@y.z; touch /tmp/PWNED #"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PortcullisServer(tmp_path_factory.mktemp("portal-hardening")).start()
    srv.cli_ok("user", "create", "--email", ADMIN_EMAIL, "--password-stdin", input=ADMIN_PASSWORD + "\n")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def released_app(server, tmp_path_factory) -> str:
    """An app with a release on Stable, so the portals show a `helm install` line too."""
    app = server.create_app()["slug"]
    chart = package_chart(tmp_path_factory.mktemp("chart"), "1.0.0")
    server.cli_ok("release", "create", "--app", app, "--chart", str(chart), "--version", "1.0.0", "--promote", "Stable")
    return app


def _token(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def _customer_post(server, license_id, headers=None, host=None) -> requests.Response:
    """GET /account (csrf cookie + token), then POST the login form; the session is on `.session`."""
    s, on = requests.Session(), ({"Host": host} if host else {})
    token = _token(s.get(server.url + "/account", headers=on, timeout=30).text)
    r = s.post(server.url + "/account/login", data={"csrf": token, "license": license_id},
               headers={**on, **(headers or {})}, allow_redirects=False, timeout=30)
    r.session = s
    return r


def _vendor_post(server, headers=None) -> requests.Response:
    s = requests.Session()
    token = _token(s.get(server.url + "/portal/login", timeout=30).text)
    r = s.post(server.url + "/portal/login", data={"csrf": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
               headers=headers or {}, allow_redirects=False, timeout=30)
    r.session = s
    return r


def _vendor(server) -> requests.Session:
    r = _vendor_post(server)
    assert r.status_code == 303, r.text
    return r.session


def _email_of(server, app, customer_id):
    return next(c for c in server.cli_json("customer", "ls", "--app", app) if c["id"] == customer_id).get("email")


def test_an_email_that_is_not_an_address_is_refused_and_an_empty_one_is_none(server):
    """An email is pasted into the customer's shell command: a non-address is refused by the CLI
    and the vendor portal alike, and clearing it stores no email rather than ""."""
    app = server.create_app()["slug"]
    res = server.cli("customer", "create", "--app", app, "--name", "evil-cli", "--email", BAD_EMAIL)
    assert res.code != 0 and "is not an address" in res.err, res.describe()
    vendor = _vendor(server)
    token = _token(vendor.get(server.url + "/portal/customers", timeout=30).text)
    page = vendor.post(server.url + "/portal/customers", data={"csrf": token, "app": app, "name": "evil-form", "email": BAD_EMAIL},
                       allow_redirects=False, timeout=30)
    assert page.status_code != 303 and "is not an address" in html.unescape(page.text), page.status_code
    refusal = re.search(r'<p class="field-error"[^>]*id="newCustomer-(\w+)-error"', page.text)
    assert refusal and refusal.group(1) == "email", "the refusal is shown at the email field"
    assert server.cli_json("customer", "ls", "--app", app) == [], "no customer was created"

    by_cli = server.create_customer(app, email="ops@cleared.test")["id"]
    server.cli_ok("customer", "update", by_cli, "--email", "")
    assert _email_of(server, app, by_cli) is None
    by_form = server.create_customer(app, email="ops@form.test")["id"]
    token = _token(vendor.get(f"{server.url}/portal/customers/{by_form}", timeout=30).text)
    r = vendor.post(f"{server.url}/portal/customers/{by_form}/edit", allow_redirects=False, timeout=30,
                    data={"csrf": token, "name": "form", "email": "", "channel": "Stable", "type": "dev", "days": "", "helm": "on"})
    assert r.status_code == 303, r.text
    assert _email_of(server, app, by_form) is None


def _commands(page: str) -> list:
    """Every <pre> of the customer portal, and the vendor's "What the customer sees" one."""
    customer = re.findall(r"<pre[^>]*>(.*?)</pre>", page, re.S)
    vendor = re.findall(r"What the customer sees</h2>.*?<pre[^>]*>(.*?)</pre>", page, re.S)
    return [html.unescape(c) for c in (vendor or customer)]


def _pages(server, app, email):
    """The install commands as the customer's portal and the vendor's customer page show them."""
    cust = server.create_customer(app, email=email)
    signed_in = _customer_post(server, cust["licenseId"])
    assert signed_in.status_code == 303, signed_in.text
    mine = _commands(signed_in.session.get(server.url + "/account", timeout=30).text)
    theirs = _commands(_vendor(server).get(f"{server.url}/portal/customers/{cust['id']}", timeout=30).text)
    assert len(mine) >= 3 and len(theirs) == 1, (mine, theirs)
    return mine, theirs


def _login_line(commands) -> str:
    return next(line for c in commands for line in c.splitlines() if line.startswith("helm registry login"))


def test_install_commands_are_valid_shell_and_never_ask_for_a_password_placeholder(server, released_app):
    """The commands are pasted into a shell: they must parse, hold no <placeholder>, and let Helm prompt."""
    for email, username in ((None, "customer"), ("ops@globex.test", "ops@globex.test")):
        for commands in _pages(server, released_app, email):
            for text in commands:
                assert "<" not in text and ">" not in text, text
                check = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
                assert check.returncode == 0, f"{text!r}: {check.stderr}"
            login = _login_line(commands)
            assert "--password" not in login, login
            assert login == f"helm registry login {server.host} --plain-http --username {username}", login
            assert any(f"helm install slackernews oci://{server.host}/{released_app}/stable/" in c for c in commands)


@pytest.mark.parametrize("email", ["o'brien@example.com", "ops+`id`$HOME&x|y{z}*!~#@example.com"])
def test_an_email_with_shell_characters_is_quoted_and_round_trips(server, released_app, tmp_path, email):
    """RFC 5322 allows ' ` $ & | in the local part: the shell must see the username as typed."""
    for commands in _pages(server, released_app, email):
        login = _login_line(commands)
        assert login.startswith("helm "), login
        out = subprocess.run(["bash", "-c", "printf '%s\\n'" + login[len("helm"):]], capture_output=True, text=True,
                             cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home"})
        assert out.returncode == 0 and out.stdout.splitlines()[-1] == email, (login, out.stdout, out.stderr)


def test_cross_site_form_posts_are_refused(server):
    """A valid token from a page is no use to another site: its browser says so in Sec-Fetch-Site / Origin."""
    app = server.create_app()["slug"]
    lic = server.create_customer(app)["licenseId"]
    other = f"http://127.0.0.1:{server.port ^ 1}"  # another port on the same host
    for headers in ({"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": other}):
        for r, cookie in ((_customer_post(server, lic, headers), "pc_customer="), (_vendor_post(server, headers), "pc_portal=")):
            assert r.status_code == 403, (headers, r.url, r.status_code)
            assert cookie not in r.headers.get("Set-Cookie", ""), (headers, r.headers)
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": server.url}, {}):
        for r, cookie in ((_customer_post(server, lic, headers), "pc_customer="), (_vendor_post(server, headers), "pc_portal=")):
            assert r.status_code == 303, (headers, r.url, r.status_code, r.text)
            assert cookie in r.headers.get("Set-Cookie", ""), (headers, r.headers)


def test_behind_a_proxy_that_rewrites_host_the_public_url_is_the_origin(tmp_path):
    """Plain HTTP behind nginx's default `proxy_set_header Host $proxy_host`: browsers send no
    Sec-Fetch-Site to a plain-HTTP origin, only Origin, which names the public URL, not the Host
    the server receives. The portal takes that origin, and still refuses another."""
    srv = PortcullisServer(tmp_path / "behind", extra_args=["--public-url", "http://portcullis.corp"]).start()
    try:
        lic = srv.create_customer(srv.create_app()["slug"])["licenseId"]
        assert _customer_post(srv, lic, headers={"Origin": "http://portcullis.corp"}).status_code == 303
        assert _customer_post(srv, lic, headers={"Origin": "http://portcullis.corp:8081"}).status_code == 403
        assert _customer_post(srv, lic, headers={"Origin": "https://portcullis.corp"}).status_code == 403
    finally:
        srv.stop()


def test_unknown_portal_routes_are_an_html_not_found_page(server):
    """A mistyped address says so and leads back, rather than an empty body."""
    vendor = _vendor(server)
    for path in ("/portal/nope", "/account/nope", "/portal/customers/x/y"):
        for client in (requests, vendor):
            r = client.get(server.url + path, allow_redirects=False, timeout=30)
            assert r.status_code == 404, (path, r.status_code, r.headers)
            assert r.headers.get("Content-Type", "").startswith("text/html"), (path, r.headers)
            assert "Not found" in r.text and re.search(r'<a href="/(portal|account)[^"]*">', r.text), (path, r.text)


def test_on_a_custom_domain_only_that_apps_licenses_sign_in(server):
    """App B's domain is B's registry: A's license neither signs in there nor carries its session there."""
    app_a, app_b = server.create_app()["slug"], server.create_app()["slug"]
    domain = f"registry.{app_b}.test"
    server.cli_ok("domain", "add", domain, "--app", app_b)
    on_b = f"{domain}:{server.port}"
    lic_a = server.create_customer(app_a)["licenseId"]
    refused = _customer_post(server, lic_a, host=on_b)
    assert refused.status_code == 403 and "another app's registry" in html.unescape(refused.text), refused.text
    assert "pc_customer=" not in refused.headers.get("Set-Cookie", "")
    assert _customer_post(server, server.create_customer(app_b)["licenseId"], host=on_b).status_code == 303

    signed_in = _customer_post(server, lic_a)
    assert signed_in.status_code == 303
    cookies = {c.name: c.value for c in signed_in.session.cookies}
    home = requests.get(server.url + "/account/pull-secret.json", cookies=cookies, allow_redirects=False, timeout=30)
    assert home.status_code == 200 and "auths" in home.json()
    there = requests.get(server.url + "/account/pull-secret.json", cookies=cookies, headers={"Host": on_b},
                         allow_redirects=False, timeout=30)
    assert there.status_code in (302, 303) and "auths" not in there.text, (there.status_code, there.text)


def test_names_are_limited_in_length_and_direction(server):
    """A name heads pages: 200 characters at most, and no right-to-left override that reorders it."""
    app = server.create_app()["slug"]
    long = server.cli("customer", "create", "--app", app, "--name", "n" * 201)
    assert long.code != 0 and "200 characters" in long.err, long.describe()
    rlo = server.cli("customer", "create", "--app", app, "--name", "invoice\u202Efdp.exe")
    assert rlo.code != 0, rlo.describe()
    assert [c["name"] for c in server.cli_json("customer", "ls", "--app", app)] == []
    assert server.create_customer(app, name="n" * 200)["name"] == "n" * 200, "200 characters are fine"


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium(["--host-resolver-rules=MAP portal.test 127.0.0.1"], console_log=True)


def test_copy_buttons_select_the_command_where_there_is_no_clipboard_api(server, browser):
    """http://portal.test is not a secure context (no navigator.clipboard): Copy selects the text instead."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    lic = server.create_customer(server.create_app()["slug"], email="ops@insecure.test")["licenseId"]
    browser.get(f"http://portal.test:{server.port}/account")
    assert browser.execute_script("return window.isSecureContext") is False, "the premise: not a secure context"
    browser.find_element(By.ID, "license").send_keys(lic)
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[data-copy]"))
    button = browser.find_elements(By.CSS_SELECTOR, "button[data-copy]")[0]
    command = browser.execute_script("return document.getElementById(arguments[0]).textContent", button.get_attribute("data-copy"))
    button.click()
    WebDriverWait(browser, 5).until(lambda d: button.text != "Copy")
    assert button.text == "Selected: press Ctrl+C"
    assert browser.execute_script("return window.getSelection().toString()") == command
    try:
        log = browser.get_log("browser")
    except Exception:  # noqa: BLE001 - not every driver keeps the console log
        log = []
    errors = [e for e in log if e.get("level") == "SEVERE" and e.get("source") != "network"]
    assert not errors, errors


def test_archiving_from_the_portal_asks_first(server, browser):
    """Archive sits under the install commands and stops pulls at once: the browser asks, and
    dismissing the question leaves the customer as it was."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    app = server.create_app()["slug"]
    customer = server.create_customer(app, name="Confirm Corp")
    browser.get(f"{server.url}/portal/login")
    browser.find_element(By.ID, "email").send_keys(ADMIN_EMAIL)
    browser.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    WebDriverWait(browser, 15).until(lambda d: "/portal/login" not in d.current_url)
    browser.get(f"{server.url}/portal/customers/{customer['id']}")

    def archived() -> bool:
        return next(c for c in server.cli_json("customer", "ls", "--app", app) if c["id"] == customer["id"])["archived"]

    for accept in (False, True):
        browser.find_element(By.XPATH, "//button[starts-with(normalize-space(), 'Archive')]").click()
        alert = WebDriverWait(browser, 5).until(lambda d: d.switch_to.alert)
        assert "Confirm Corp" in alert.text and "stops pulling" in alert.text, alert.text
        if accept:
            alert.accept()
            WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.XPATH, "//button[normalize-space()='Unarchive']"))
        else:
            alert.dismiss()
        assert archived() is accept


def test_commands_for_an_address_the_server_does_not_know_say_so(server):
    """Without --public-url the commands name the server's own address; reached under another
    name (a DNS name, a load balancer's), the page says which and what setting fixes it."""
    lic = server.create_customer(server.create_app()["slug"], email="ops@elsewhere.test")["licenseId"]
    signed_in = _customer_post(server, lic)
    assert signed_in.status_code == 303, signed_in.text
    own = signed_in.session.get(server.url + "/account", timeout=30).text
    assert "--public-url" not in own
    # requests matches cookies against a Host header when one is given: the session cookie goes by hand.
    cookie = "; ".join(f"{c.name}={c.value}" for c in signed_in.session.cookies)
    foreign = requests.get(server.url + "/account", headers={"Host": f"registry.example.com:{server.port}", "Cookie": cookie},
                           timeout=30).text
    assert f"helm registry login {server.host}" in foreign, "commands still name the server's own address"
    assert "reached as registry.example.com" in html.unescape(foreign) and "--public-url" in foreign
