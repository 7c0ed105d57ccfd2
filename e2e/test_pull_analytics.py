"""Pull analytics (issue 16): per customer, per image and per day, from the pull log, with the
vendor's own and anonymous traffic counted apart.

Contract under test:
- ``portcullis customer pulls ID --summary [--since 30d] -o json`` -> {"days", "images", "refusals"}.
- ``portcullis customer pulls --summary -o json`` (no ID): all traffic, plus "customers"
  (per customer) and "unattributed" (vendor tokens and anonymous pulls), each with requests,
  bytes and refused.
- ``serve --pull-retention`` takes a duration of at least an hour.
"""
from __future__ import annotations

import subprocess

import requests

from portcullis_testkit import catalog
from portcullis_testkit.helm import create_token
from portcullis_testkit.oci import get_manifest
from portcullis_testkit.util import wait_until


def test_summaries_split_customers_from_unattributed_traffic(portcullis_factory, upstream, images):
    srv = portcullis_factory()
    tenant = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    layer = images.three.largest_layer()
    customer = requests.Session()
    customer.auth = tenant.creds
    assert get_manifest(customer, srv.url, repo, catalog.TAG).status_code == 200
    assert customer.get(f"{srv.url}/v2/{repo}/blobs/{layer.digest}", timeout=60).status_code == 200
    vendor = requests.Session()
    vendor.auth = ("vendor", create_token(srv)["token"])
    assert get_manifest(vendor, srv.url, repo, catalog.TAG).status_code == 200
    refused = requests.get(f"{srv.url}/v2/{repo}/manifests/{catalog.TAG}", auth=("x", "not-a-license"), timeout=30)
    assert refused.status_code == 401

    def all_traffic():
        body = srv.cli_json("customer", "pulls", "--summary", "--since", "30d")
        return body if body["unattributed"]["requests"] >= 1 and body["customers"] else None

    body = wait_until(all_traffic, timeout=10, message="pull records to be counted")
    assert len(body["days"]) == 30
    mine = [c for c in body["customers"] if c["customerId"] == tenant.customer_id]
    assert mine and mine[0]["requests"] >= 2 and mine[0]["bytes"] >= layer.size, body["customers"]
    assert body["unattributed"]["requests"] >= 1 and body["unattributed"]["bytes"] > 0, "the vendor's pull is unattributed"
    assert sum(d["requests"] for d in body["days"]) == sum(c["requests"] for c in body["customers"]) + body["unattributed"]["requests"]

    one = srv.cli_json("customer", "pulls", tenant.customer_id, "--summary")
    assert "customers" not in one and "unattributed" not in one
    image = [i for i in one["images"] if i["repository"] == repo]
    assert image and image[0]["requests"] == mine[0]["requests"] and image[0]["bytes"] == mine[0]["bytes"]

    table = srv.cli_ok("customer", "pulls", "--summary").out
    assert "unattributed (vendor tokens and anonymous)" in table and tenant.customer_id in table


def test_pull_retention_must_be_a_duration_of_an_hour_or_more(portcullis_binary, tmp_path):
    cp = subprocess.run([str(portcullis_binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                         "--pull-retention", "5m"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 2 and "--pull-retention: pullRetention: must be at least 1h" in cp.stderr, cp.stderr
