"""Webhooks: the vendor told what happens, with signed payloads, off the request path.

A receiver in the test records every POST; Portcullis runs with a low refused-pull threshold
and a one-second expiry scan so each event can be provoked in seconds.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import get_manifest
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.util import wait_until
from portcullis_testkit.webhooks import WebhookReceiver

EVENTS = ["customer.created", "customer.archived", "release.promoted", "pull.refused", "license.expiring", "upstream.auth_failed"]


@pytest.fixture(scope="module")
def receiver():
    r = WebhookReceiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PortcullisServer(tmp_path_factory.mktemp("webhooks"),
                           extra_args=["--refused-pull-threshold", "3", "--expiry-scan-interval", "1s"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hook(server, receiver):
    added = server.cli_ok("webhook", "add", "--url", receiver.url + "/hook", *[a for e in EVENTS for a in ("--event", e)])
    secret = re.search(r"Signing secret \(shown once\): (\S+)", added.out).group(1)
    server.secrets.append(secret)
    webhook_id = server.cli_json("webhook", "ls")[0]["id"]
    return webhook_id, secret


def _verified(receiver, secret):
    """Every post so far carries a valid signature over its timestamp and body."""
    with receiver.lock:
        posts = list(receiver.posts)
    for path, headers, body in posts:
        if path != "/hook":
            continue
        t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["Portcullis-Signature"]).groups()
        assert hmac.compare_digest(v1, hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest())
        assert abs(int(t) - time.time()) < 300


def test_customer_events_and_an_expiring_license_once(server, receiver, hook):
    _, secret = hook
    app = server.create_app()["slug"]
    customer = server.create_customer(app, expires_in="72h")
    wait_until(lambda: any(e["data"]["customerID"] == customer["id"] for e in receiver.events("customer.created")), timeout=10,
               message="no customer.created event")
    wait_until(lambda: any(e["data"]["customerID"] == customer["id"] for e in receiver.events("license.expiring")), timeout=10,
               message="no license.expiring event")
    time.sleep(3)  # three more scans: still one notice
    expiring = [e for e in receiver.events("license.expiring") if e["data"]["customerID"] == customer["id"]]
    assert len(expiring) == 1 and expiring[0]["data"]["withinDays"] == "7", expiring
    server.cli_ok("customer", "archive", customer["id"])
    wait_until(lambda: any(e["data"]["customerID"] == customer["id"] for e in receiver.events("customer.archived")), timeout=10,
               message="no customer.archived event")
    assert customer["licenseId"] not in json.dumps(receiver.events("customer.created"))
    _verified(receiver, secret)


def test_refused_pulls_above_the_threshold_and_refused_upstream_credentials(server, receiver, hook, upstream):
    _, secret = hook
    tenant = server.tenant(upstream)
    server.cli_ok("customer", "archive", tenant.customer_id)
    for _ in range(4):
        r = get_manifest(server.session(tenant.license_id), server.url, tenant.repo(catalog.THREE_REPO), catalog.TAG)
        assert r.status_code == 401
    wait_until(lambda: any(e["data"]["customerID"] == tenant.customer_id for e in receiver.events("pull.refused")), timeout=10,
               message="no pull.refused event")
    assert len([e for e in receiver.events("pull.refused") if e["data"]["customerID"] == tenant.customer_id]) == 1

    app = server.create_app()["slug"]
    wrong = server.add_registry(upstream.url, upstream.username, "wrong-" + upstream.password, apps=[app], verify=False)
    customer = server.create_customer(app)
    for _ in range(2):
        r = get_manifest(server.session(customer["licenseId"]), server.url, f"proxy/{app}/{wrong}/{catalog.THREE_REPO}", catalog.TAG)
        assert r.status_code == 502
    wait_until(lambda: any(e["data"]["registry"] == wrong for e in receiver.events("upstream.auth_failed")), timeout=10,
               message="no upstream.auth_failed event")
    assert len([e for e in receiver.events("upstream.auth_failed") if e["data"]["registry"] == wrong]) == 1, "once an hour"
    assert upstream.password not in json.dumps(receiver.events("upstream.auth_failed"))
    _verified(receiver, secret)


def test_deliveries_are_logged_and_a_test_send_arrives(server, receiver, hook):
    webhook_id, _ = hook
    server.cli_ok("webhook", "test", webhook_id)
    wait_until(lambda: receiver.events("webhook.test"), timeout=10, message="no webhook.test event")
    deliveries = server.cli_json("webhook", "deliveries", webhook_id)
    assert any(d["event"] == "webhook.test" and d["status"] == 204 and d["attempt"] == 1 for d in deliveries), deliveries


def test_a_hanging_receiver_does_not_slow_pulls(server, receiver, upstream):
    server.cli_ok("webhook", "add", "--url", receiver.url + "/hang", "--event", "pull.refused", "--event", "customer.created")
    tenant = server.tenant(upstream)  # customer.created goes to /hang and hangs there
    session = server.session(tenant.license_id)
    started = time.monotonic()
    for _ in range(10):
        assert get_manifest(session, server.url, tenant.repo(catalog.THREE_REPO), catalog.TAG).status_code == 200
    # Ten cached manifest GETs while a delivery waits 20 s: the delivery is not in their path.
    assert time.monotonic() - started < 10


def test_bad_webhooks_are_refused(server):
    for url in ("ftp://example.test/x", "not a url", "http://"):
        r = server.cli("webhook", "add", "--url", url, "--event", "customer.created")
        assert r.code != 0 and "http:// or https://" in r.err, r.describe()
    r = server.cli("webhook", "add", "--url", "https://example.test/x", "--event", "no.such.event")
    assert r.code != 0 and "unknown event" in r.err
    r = server.cli("webhook", "add", "--url", "https://ops:hunter2@example.test/x", "--event", "customer.created")
    assert r.code != 0 and "cannot carry credentials" in r.err and "hunter2" not in r.err + r.out, r.describe()
    r = server.cli("webhook", "add", "--url", "http://127.0.0.1:99999/hook", "--event", "customer.created")
    assert r.code != 0 and "not a TCP port" in r.err, r.describe()
    r = requests.post(f"{server.url}/api/v1/webhooks", headers={"Authorization": f"Bearer {server.admin_token}"},
                      json={"url": "https://example.test/x", "events": []}, timeout=10)
    assert r.status_code == 400
