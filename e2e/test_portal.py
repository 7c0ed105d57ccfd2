"""The web portals in a real browser: headless Chromium driven by Selenium (chromedriver).

The vendor signs in, adds a registry, creates a customer, promotes a release; the customer signs
in to the customer portal with the license ID, follows its instructions with the real Helm
library, and is turned away once archived. A PNG of every page goes to e2e/screenshots/ (or
$PORTCULLIS_SCREENSHOTS) for a person to look at. The security checks use plain HTTP requests.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.helm import HelmClient, package_chart
from portcullis_testkit.browser import headless_chromium
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.util import REPO_ROOT, wait_until

SCREENSHOTS = Path(os.environ.get("PORTCULLIS_SCREENSHOTS", REPO_ROOT / "e2e" / "screenshots"))
ADMIN_EMAIL, ADMIN_PASSWORD = "vendor@acme.test", "correct horse battery staple"
VIEWER_EMAIL, VIEWER_PASSWORD = "viewer@acme.test", "read only but curious"
INJECTION = '<script>alert("x")</script><b>Globex</b>'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PortcullisServer(tmp_path_factory.mktemp("portal")).start()
    srv.cli_ok("user", "create", "--email", ADMIN_EMAIL, "--password-stdin", input=ADMIN_PASSWORD + "\n")
    srv.cli_ok("user", "create", "--email", VIEWER_EMAIL, "--password-stdin", "--role", "read-only", input=VIEWER_PASSWORD + "\n")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield from headless_chromium()


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def fill(driver, fields: dict, submit: str) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    for field, value in fields.items():
        element = driver.find_element(By.ID, field)
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, f"//button[normalize-space()='{submit}']").click()
    # The post answers with a redirect or a page: wait until the old page is gone and the new one loaded.
    def replaced(d) -> bool:
        try:
            page.is_enabled()
            return False
        except WebDriverException:  # stale, or already detached from the document
            return d.execute_script("return document.readyState") == "complete"

    WebDriverWait(driver, 15).until(replaced)


def test_the_vendor_and_the_customer_in_a_browser(server, browser, upstream, tmp_path):
    from selenium.webdriver.common.by import By

    app = "shop-" + os.urandom(3).hex()
    browser.get(server.url + "/portal")
    assert browser.current_url.endswith("/portal/login")
    shot(browser, "01-vendor-login")
    fill(browser, {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, "Sign in")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    fill(browser, {"aslug": app, "aname": "The Shop"}, "Create app")
    assert app in browser.find_element(By.TAG_NAME, "table").text
    shot(browser, "02-vendor-overview")

    browser.get(server.url + "/portal/registries")
    fill(browser, {"kind": "other", "endpoint": upstream.url, "rname": "vendor-upstream", "username": upstream.username,
                   "secret": upstream.password, "rapp": app}, "Add registry")
    assert "vendor-upstream" in browser.page_source and upstream.password not in browser.page_source
    fill(browser, {"test-vendor-upstream": f"{catalog.THREE_REPO}:{catalog.TAG}"}, "Test")
    assert "vendor-upstream: ok" in browser.find_element(By.CLASS_NAME, "notice").text
    shot(browser, "03-vendor-registries")

    browser.get(server.url + "/portal/customers")
    fill(browser, {"app": app, "name": INJECTION, "email": "ops@globex.test", "days": "20"}, "Create customer")
    assert browser.find_element(By.TAG_NAME, "h1").text == INJECTION, "the name is shown as text"
    license_id = browser.find_element(By.ID, "license").text
    assert re.fullmatch(r"\S{16,}", license_id)
    customer_id = browser.current_url.rstrip("/").rsplit("/", 1)[-1]
    shot(browser, "04-vendor-customer")
    browser.get(server.url + "/portal")
    assert INJECTION in browser.find_element(By.TAG_NAME, "main").text, "a license expiring within 30 days is listed"
    expiring = browser.find_elements(By.TAG_NAME, "table")[-1].text
    assert INJECTION in expiring

    # A release uploaded in the browser, then promoted to Beta and Stable.
    browser.get(f"{server.url}/portal/releases?app={app}")
    browser.find_element(By.ID, "chart").send_keys(str(package_chart(tmp_path, "1.0.0")))
    fill(browser, {"nversion": "1.0.0", "nnotes": '<img src=x onerror="alert(1)">', "promote": "Unstable"}, "Create release")
    rows = browser.find_element(By.TAG_NAME, "table").text
    assert "slackernews 1.0.0" in rows and "Unstable" in rows, rows
    sequence = int(re.search(r"^(\d+) slackernews 1\.0\.0", rows, re.M).group(1))
    for channel in ("Beta", "Stable"):
        browser.get(f"{server.url}/portal/releases?app={app}")
        fill(browser, {"sequence": str(sequence), "pchannel": channel, "version": "1.0.0"}, "Promote")
    assert "Stable" in browser.find_element(By.TAG_NAME, "table").text
    assert '<img src=x' not in browser.page_source and "&lt;img src=x" in browser.page_source
    shot(browser, "05-vendor-releases")

    browser.get(server.url + "/portal/tokens")
    fill(browser, {"tname": "ci-push", "tscope": "push"}, "Create token")
    token = browser.find_element(By.ID, "newtoken").text
    assert token.startswith("pct_") or len(token) > 20
    browser.refresh()
    assert token not in browser.page_source, "a token is shown once"
    shot(browser, "06-vendor-tokens")

    browser.get(server.url + "/portal/audit")
    audit = browser.find_element(By.TAG_NAME, "table").text
    assert f"user:{ADMIN_EMAIL}" in audit and "customer create" in audit and "release promote" in audit
    assert license_id not in browser.page_source and upstream.password not in browser.page_source
    shot(browser, "06-vendor-audit")
    server.secrets.append(token)

    # The customer portal, as the customer.
    browser.delete_all_cookies()
    browser.get(server.url + "/")
    shot(browser, "07-customer-login")
    fill(browser, {"license": license_id}, "Sign in")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert f"helm registry login {server.host}" in page
    install = browser.find_element(By.ID, "install-0").text
    # Plain HTTP here: Helm needs --plain-http, and the page says so.
    assert install == f"helm install slackernews oci://{server.host}/{app}/stable/slackernews --version 1.0.0 --plain-http", install
    assert browser.find_element(By.ID, "login").text.startswith(f"helm registry login {server.host} --plain-http ")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Install The Shop", "the customer sees the app's name"
    assert "kubectl create secret generic" in browser.find_element(By.ID, "secret").text
    assert browser.find_elements(By.CSS_SELECTOR, "button[data-copy='secret']"), "the kubectl line has a Copy button"
    assert license_id not in browser.page_source, "the license ID is not printed on the page"
    assert f"{server.host}/proxy/{app}/vendor-upstream/" in page
    shot(browser, "08-customer-install")

    # Follow the instructions with Helm's own library.
    helm = HelmClient(tmp_path / "helm", server.host)
    try:
        helm.login("ops@globex.test", license_id)
        chart = helm.pull(f"{app}/stable/slackernews", "1.0.0")
        assert chart.name == "slackernews-1.0.0.tgz"
    finally:
        helm.close()
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    secret = requests.get(server.url + "/account/pull-secret.json", cookies=cookies, timeout=30)
    assert secret.status_code == 200 and server.host in secret.json()["auths"]

    # Pull records are written in batches off the request path (every half second): wait for them.
    def recorded():
        summary = server.cli_json("customer", "pulls", customer_id, "--summary")
        chart_pulls = [i for i in summary["images"] if i["repository"] == f"{app}/stable/slackernews"]
        return summary if chart_pulls and chart_pulls[0]["bytes"] > 0 and sum(d["requests"] for d in summary["days"]) >= 2 else None

    wait_until(recorded, timeout=15, message=lambda: f"the chart pull was never recorded: "
                                                     f"{server.cli_json('customer', 'pulls', customer_id, '--summary')}")

    # Archived: the customer portal no longer lets the customer in.
    server.cli_ok("customer", "archive", customer_id)
    browser.refresh()
    assert browser.find_elements(By.ID, "license"), "an archived customer's session ends"
    shot(browser, "09-customer-archived")


def _signed_in(server, email, password) -> requests.Session:
    s = requests.Session()
    form = s.get(server.url + "/portal/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = s.post(server.url + "/portal/login", data={"csrf": token, "email": email, "password": password}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return s


def _csrf(session, server, path="/portal/customers") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', session.get(server.url + path, timeout=30).text).group(1)


def test_forms_without_the_right_csrf_token_are_refused(server):
    app = server.create_app()["slug"]
    s = _signed_in(server, ADMIN_EMAIL, ADMIN_PASSWORD)
    for token in (None, "wrong-token"):
        data = {"app": app, "name": "csrf-victim"} | ({"csrf": token} if token else {})
        r = s.post(server.url + "/portal/customers", data=data, allow_redirects=False, timeout=30)
        assert r.status_code == 403, r.text
    assert "csrf-victim" not in server.cli_ok("customer", "ls").out
    ok = s.post(server.url + "/portal/customers", data={"app": app, "name": "csrf-ok", "csrf": _csrf(s, server)},
                allow_redirects=False, timeout=30)
    assert ok.status_code == 303


def test_read_only_users_see_but_cannot_change(server):
    app = server.create_app()["slug"]
    s = _signed_in(server, VIEWER_EMAIL, VIEWER_PASSWORD)
    page = s.get(server.url + "/portal/customers", timeout=30)
    assert page.status_code == 200 and "New customer" not in page.text
    r = s.post(server.url + "/portal/customers", data={"app": app, "name": "by-viewer", "csrf": _csrf(s, server)},
               allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "read-only" in r.text


def test_wrong_passwords_and_removed_users_get_nothing(server):
    s = requests.Session()
    form = s.get(server.url + "/portal/login", timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = s.post(server.url + "/portal/login", data={"csrf": token, "email": ADMIN_EMAIL, "password": "not the password"},
               allow_redirects=False, timeout=30)
    assert r.status_code == 401 and "pc_portal" not in s.cookies
    server.cli_ok("user", "create", "--email", "leaver@acme.test", "--password-stdin", input="leaving soon, sadly\n")
    leaver = _signed_in(server, "leaver@acme.test", "leaving soon, sadly")
    assert leaver.get(server.url + "/portal", allow_redirects=False, timeout=30).status_code == 200
    server.cli_ok("user", "rm", "leaver@acme.test")
    assert leaver.get(server.url + "/portal", allow_redirects=False, timeout=30).headers["Location"] == "/portal/login"
    cookie = next(c for c in leaver.cookies if c.name == "pc_portal")
    assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in str(cookie._rest).lower()


def test_a_customer_session_opens_no_vendor_page_and_no_one_elses_data(server, upstream):
    tenant = server.tenant(upstream)
    other = server.tenant(upstream)
    s = requests.Session()
    # The registry host's root leads to the portal; its pages and cookie live under /account.
    token = re.search(r'name="csrf" value="([^"]+)"', s.get(server.url + "/", timeout=30).text).group(1)
    assert all(c.path == "/account" for c in s.cookies), [(c.name, c.path) for c in s.cookies]
    r = s.post(server.url + "/account/login", data={"csrf": token, "license": tenant.license_id}, allow_redirects=False, timeout=30)
    assert r.status_code == 303
    assert all(c.path == "/account" for c in s.cookies), "no portal cookie goes with /v2 requests"
    page = s.get(server.url + "/account", timeout=30).text
    assert tenant.app in page and other.app not in page and tenant.license_id not in page
    for path in ("/portal", f"/portal/customers/{other.customer_id}", f"/portal/customers/{tenant.customer_id}", "/portal/audit"):
        denied = s.get(server.url + path, allow_redirects=False, timeout=30)
        assert denied.status_code == 303 and denied.headers["Location"] == "/portal/login", path
    secret = s.get(server.url + "/account/pull-secret.json", timeout=30).text
    assert tenant.license_id in __import__("base64").b64decode(
        next(iter(__import__("json").loads(secret)["auths"].values()))["auth"]).decode()
    assert other.license_id not in secret
    # The form token is a MAC of the cookie under the server's key: a value an attacker sets in
    # both the cookie and the form (a double submit) is not one.
    bad = requests.post(server.url + "/account/login", data={"csrf": "x", "license": other.license_id}, cookies={"pc_customer_csrf": "x"},
                        allow_redirects=False, timeout=30)
    assert bad.status_code == 403, "a self-made double-submitted token is refused"
    assert requests.post(server.url + "/account/login", data={"license": other.license_id}, allow_redirects=False,
                         timeout=30).status_code == 403


def test_a_refused_form_shows_why_next_to_the_field_and_keeps_what_was_typed(server, browser, tmp_path):
    """Issue 27: refusals land on the form that caused them; pages say what to do when empty; the
    customer page reads as a table; an expired customer shows a banner and no install lines."""
    from selenium.webdriver.common.by import By

    app = "forms-" + os.urandom(3).hex()
    server.create_app(app, name="Form Works")
    browser.delete_all_cookies()
    browser.get(server.url + "/portal/login")
    # A failed sign-in keeps the email.
    fill(browser, {"email": ADMIN_EMAIL, "password": "not it"}, "Sign in")
    assert browser.find_element(By.ID, "email").get_attribute("value") == ADMIN_EMAIL
    assert "Wrong email or password" in browser.find_element(By.CLASS_NAME, "error").text
    fill(browser, {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, "Sign in")

    # A channel that does not exist: the customers page again, the refusal under the channel field.
    browser.get(server.url + "/portal/customers")
    fill(browser, {"app": app, "name": "Initech", "email": "ops@initech.test", "channel": "Nightly", "days": "30"}, "Create customer")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Customers", "the form's own page, not another"
    error = browser.find_element(By.ID, "newCustomer-channel-error").text
    assert "Nightly" in error or "channel" in error.lower(), error
    assert browser.find_element(By.ID, "name").get_attribute("value") == "Initech", "what was typed is kept"
    assert browser.find_element(By.ID, "email").get_attribute("value") == "ops@initech.test"
    assert browser.find_element(By.ID, "channel").get_attribute("value") == "Nightly"
    assert browser.find_element(By.ID, "days").get_attribute("value") == "30"
    assert "Initech" not in server.cli_ok("customer", "ls", "--app", app).out, "nothing was created"
    shot(browser, "10-vendor-form-error")

    # Fixed and sent again; then the same name again is refused under the name, unless allowed.
    fill(browser, {"channel": "Beta"}, "Create customer")
    customer_id = browser.current_url.rstrip("/").rsplit("/", 1)[-1]
    browser.get(server.url + "/portal/customers")
    fill(browser, {"app": app, "name": "Initech"}, "Create customer")
    assert "--allow-duplicate" in browser.find_element(By.ID, "newCustomer-name-error").text or \
        customer_id in browser.find_element(By.ID, "newCustomer-name-error").text

    # The customer page: details as a table, the license type a dropdown, the chart explained.
    browser.get(f"{server.url}/portal/customers/{customer_id}")
    details = browser.find_element(By.CSS_SELECTOR, "table.details").text
    assert "Channel Beta" in details and "License type" in details, details
    assert browser.find_element(By.ID, "etype").tag_name == "select"
    chart = browser.find_element(By.TAG_NAME, "svg").get_attribute("innerHTML")
    assert "bytes pulled a day" in chart and "requests refused" in chart, "the chart has axis labels and a legend"
    assert browser.find_elements(By.ID, "pullsecret"), "an active customer's page shows the pull secret"
    shot(browser, "11-vendor-customer-details")

    # An edit the control plane refuses stays on the edit form.
    fill(browser, {"echannel": "Nowhere"}, "Save")
    assert "Nowhere" in browser.find_element(By.ID, "editCustomer-channel-error").text or \
        "channel" in browser.find_element(By.ID, "editCustomer-channel-error").text.lower()
    assert browser.find_element(By.ID, "echannel").get_attribute("value") == "Nowhere"

    # Expired: a banner, no pull secret and no install lines.
    server.cli_ok("customer", "update", customer_id, "--expires-at", "2020-01-01T00:00:00Z")
    browser.get(f"{server.url}/portal/customers/{customer_id}")
    assert "expired" in browser.find_element(By.CLASS_NAME, "banner").text
    assert not browser.find_elements(By.ID, "pullsecret") and "helm install" not in browser.page_source
    shot(browser, "12-vendor-customer-expired")

    # A chart that is not a chart: the releases page again, the refusal under the file field.
    bogus = tmp_path / "bogus.tgz"
    bogus.write_bytes(b"not a gzip archive at all")
    browser.get(f"{server.url}/portal/releases?app={app}")
    assert "No releases yet" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.ID, "chart").send_keys(str(bogus))
    fill(browser, {"nversion": "9.9.9", "nnotes": "kept"}, "Create release")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Releases of {app}"
    refusal = browser.find_elements(By.ID, "newRelease-chart-error") or browser.find_elements(By.ID, "newRelease-form-error")
    assert refusal and refusal[0].text, "the upload's refusal is on the release form"
    assert browser.find_element(By.ID, "nversion").get_attribute("value") == "9.9.9"
    shot(browser, "13-vendor-release-error")

    # An unknown customer: a page that says so and leads back, not an empty audit log.
    browser.get(f"{server.url}/portal/customers/no-such-customer")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert browser.find_element(By.LINK_TEXT, "Back to Customers")

    # Each change is in the audit log once.
    browser.get(server.url + "/portal/audit")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
    created = [r for r in rows if "customer create" in r and customer_id in r]
    assert len(created) == 1, created
    # `user create` (admin API, from the fixture) is one line with the user's email, not two.
    assert len([r for r in rows if "user create" in r and ADMIN_EMAIL in r]) == 1, rows
    assert not [r for r in rows if "POST /api/v1/users" in r], rows
