"""Hardening (issue 5): metrics, liveness/readiness and refused requests in pull records.

``GET /metrics`` (Prometheus text, unauthenticated):
  portcullis_http_requests_total{route,status}   route in manifest|blob|tags|referrers|token|ping|push|delete|admin|other
  portcullis_cache_hits_total{upstream}  portcullis_cache_misses_total{upstream}
  portcullis_cache_fill_bytes_total{upstream}  portcullis_upstream_errors_total{upstream}
  portcullis_upstream_request_duration_seconds (histogram)  portcullis_fills_in_flight (gauge)
  portcullis_stale_serves_total{upstream}  portcullis_denied_requests_total{reason}
``GET /healthz`` liveness; ``GET /readyz`` 200 when database and blob store are usable, else 503.
"""
from __future__ import annotations

import json

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.faults import ANY_REPO
from portcullis_testkit.hardening import (  # noqa: F401 - fixtures
    Metrics,
    fault_factory,
    guard_args,
    hardened_factory,
    scrape,
)
from portcullis_testkit.helm import create_token
from portcullis_testkit.oci import get_manifest, skopeo_copy
from portcullis_testkit.portcullis import random_license
from portcullis_testkit.util import wait_until

ROUTES = {"manifest", "blob", "tags", "referrers", "token", "ping", "push", "delete", "admin", "other"}
ALL_NAMES = [
    "portcullis_http_requests_total",
    "portcullis_cache_hits_total",
    "portcullis_cache_misses_total",
    "portcullis_cache_fill_bytes_total",
    "portcullis_upstream_errors_total",
    "portcullis_upstream_request_duration_seconds",
    "portcullis_fills_in_flight",
    "portcullis_stale_serves_total",
    "portcullis_denied_requests_total",
]


def _check_histogram(m: Metrics, name: str) -> float:
    buckets = m.select(name + "_bucket")
    assert buckets, f"{name} has no buckets"
    count = m.value(name + "_count")
    total = m.value(name + "_sum")
    inf = [v for l, v in buckets if l.get("le") in ("+Inf", "Inf", "inf")]
    assert inf, f"{name} has no le=\"+Inf\" bucket"
    assert sum(inf) == count, f"{name}: +Inf bucket {sum(inf)} != _count {count}"
    # Cumulative buckets per label set (without le).
    series = {}
    for labels, v in buckets:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        le = labels["le"]
        series.setdefault(key, []).append((float("inf") if "inf" in le.lower() else float(le), v))
    for key, pts in series.items():
        pts.sort()
        vals = [v for _, v in pts]
        assert vals == sorted(vals), f"{name}{dict(key)}: buckets are not cumulative: {pts}"
    assert total >= 0
    return count


def test_metrics_after_cold_and_warm_pull(hardened_factory, upstream, images, tmp_path):
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    reg = tenant.registry
    # Liveness and readiness, unauthenticated.
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
    r = requests.get(srv.url + "/readyz", timeout=5)
    assert r.status_code == 200, f"/readyz -> {r.status_code} {r.text[:200]}"

    m0 = scrape(srv)
    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{tmp_path / 'cold'}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, cp.stderr
    wait_until(lambda: scrape(srv).value("portcullis_fills_in_flight") == 0, timeout=10,
               message="portcullis_fills_in_flight did not return to 0 after the pull")
    m1 = scrape(srv)
    cp = skopeo_copy(tenant.ref(catalog.THREE_REPO, catalog.TAG), f"oci:{tmp_path / 'warm'}:{catalog.TAG}", tenant.creds)
    assert cp.returncode == 0, cp.stderr
    m2 = scrape(srv)

    # Refused requests are counted with a reason.
    bogus = random_license()
    r = get_manifest(srv.session(bogus), srv.url, tenant.repo(catalog.THREE_REPO), catalog.TAG)
    assert r.status_code == 401
    other = srv.create_app()["slug"]
    r = get_manifest(srv.session(tenant.license_id), srv.url, f"{other}/anything", catalog.TAG)
    assert r.status_code in (401, 403, 404), r.status_code
    m3 = scrape(srv)

    problems = []
    for name in ALL_NAMES:
        if name in ("portcullis_upstream_errors_total", "portcullis_stale_serves_total"):
            continue  # exercised in test_metrics_count_upstream_errors_and_stale_serves
        if not m3.has(name):
            problems.append(f"{name} is not exposed")
    for name, kind in (("portcullis_http_requests_total", "counter"), ("portcullis_cache_hits_total", "counter"),
                       ("portcullis_cache_misses_total", "counter"), ("portcullis_cache_fill_bytes_total", "counter"),
                       ("portcullis_upstream_request_duration_seconds", "histogram"),
                       ("portcullis_fills_in_flight", "gauge"), ("portcullis_denied_requests_total", "counter")):
        if m3.types.get(name) not in (None, kind):
            problems.append(f"{name} has TYPE {m3.types.get(name)}, expected {kind}")
    assert not problems, "\n".join(problems)

    # http_requests_total: only the documented routes; the pulls show up under them.
    routes = {l.get("route") for l, _ in m3.select("portcullis_http_requests_total")}
    assert routes <= ROUTES, f"unexpected route labels: {routes - ROUTES}"
    req = "portcullis_http_requests_total"
    assert m2.value(req, route="manifest", status="200") - m0.value(req, route="manifest", status="200") >= 2
    layers = len(images.three.layer_blobs()) + 1  # + config
    assert m2.value(req, route="blob", status="200") - m0.value(req, route="blob", status="200") >= layers
    assert m2.value(req, route="ping") > m0.value(req, route="ping")
    assert m2.value(req, route="token", status="200") > m0.value(req, route="token", status="200"), (
        "skopeo's token requests are not counted under route=\"token\""
    )
    assert m3.value(req, route="admin") >= 1, "admin API requests (the CLI) are not counted"
    assert m3.value(req, route="manifest", status="401") > m2.value(req, route="manifest", status="401")

    # Cache: misses and fill bytes on the cold pull, hits (and nothing filled) on the warm one.
    hits, misses, fill = "portcullis_cache_hits_total", "portcullis_cache_misses_total", "portcullis_cache_fill_bytes_total"
    blob_bytes = sum(b.size for b in images.three.layer_blobs()) + images.three.images[0].config.size
    assert m1.value(misses, upstream=reg) - m0.value(misses, upstream=reg) >= 1, "cold pull: no cache miss counted"
    assert m1.value(fill, upstream=reg) - m0.value(fill, upstream=reg) >= blob_bytes, (
        f"cold pull: fill bytes {m1.value(fill, upstream=reg) - m0.value(fill, upstream=reg)} < {blob_bytes}"
    )
    assert m2.value(hits, upstream=reg) - m1.value(hits, upstream=reg) >= 1, "warm pull: no cache hit counted"
    assert m2.value(misses, upstream=reg) == m1.value(misses, upstream=reg), "warm pull counted cache misses"
    assert m2.value(fill, upstream=reg) == m1.value(fill, upstream=reg), "warm pull filled bytes"

    # Upstream request durations were observed.
    assert _check_histogram(m1, "portcullis_upstream_request_duration_seconds") >= 1
    assert m3.value("portcullis_fills_in_flight") == 0

    denied = m3.select("portcullis_denied_requests_total")
    assert m3.value("portcullis_denied_requests_total") - m2.value("portcullis_denied_requests_total") >= 2, denied
    assert all(l.get("reason") for l, _ in denied), f"denied requests without a reason label: {denied}"

    # No secrets in the metrics.
    for s in (tenant.license_id, bogus, upstream.password, srv.admin_token):
        assert s not in m3.text, "a secret appears in /metrics"


def test_metrics_count_pushes_and_the_cache_size_from_the_start(hardened_factory):
    """Vendor pushes are `route="push"` (they were lumped in with portal pages as "other"), and
    the cache's size is exposed from start, without `--cache-max-size` too."""
    import hashlib

    srv = hardened_factory(*guard_args())
    wait_until(lambda: scrape(srv).has("portcullis_cache_bytes"), timeout=10,
               message="portcullis_cache_bytes is not exposed after start (no --cache-max-size)")
    assert scrape(srv).value("portcullis_cache_bytes") == 0
    app = srv.create_app()["slug"]
    vendor = ("vendor", create_token(srv)["token"])
    blob = b"pushed-for-metrics"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    before = scrape(srv).value("portcullis_http_requests_total", route="push", status="201")
    r = requests.post(f"{srv.url}/v2/{app}/metrics/blobs/uploads/?digest={digest}", data=blob, auth=vendor, timeout=30)
    assert r.status_code == 201, f"{r.status_code} {r.text[:300]}"
    after = scrape(srv).value("portcullis_http_requests_total", route="push", status="201")
    assert after - before == 1, f"a vendor push was not counted under route=push: {before} -> {after}"


def test_metrics_count_upstream_errors_and_stale_serves(hardened_factory, fault_factory, upstream, images):
    srv = hardened_factory("--tag-ttl", "0s", "--upstream-timeout", "2s", *guard_args())
    fault = fault_factory(upstream)
    tenant = srv.tenant(upstream, endpoint=fault.url)
    reg = tenant.registry
    s = srv.session(tenant.license_id)
    repo = tenant.repo(catalog.THREE_REPO)
    assert get_manifest(s, srv.url, repo, catalog.TAG).status_code == 200
    m0 = scrape(srv)
    fault.set(ANY_REPO, action="status", code=503)
    r = get_manifest(s, srv.url, repo, catalog.TAG)
    assert r.status_code == 200, f"stale serve: {r.status_code} {r.text[:200]}"
    r = get_manifest(s, srv.url, tenant.repo(catalog.MULTI_REPO), catalog.TAG)
    assert r.status_code in (502, 503, 504), r.status_code
    m1 = scrape(srv)
    # (counters with labels appear once observed: only those this test exercises are required here)
    missing = [n for n in ("portcullis_stale_serves_total", "portcullis_upstream_errors_total",
                           "portcullis_upstream_request_duration_seconds", "portcullis_http_requests_total")
               if not m1.has(n)]
    assert not missing, f"not exposed: {missing}"
    assert m1.value("portcullis_stale_serves_total", upstream=reg) - m0.value("portcullis_stale_serves_total", upstream=reg) >= 1
    assert m1.value("portcullis_upstream_errors_total", upstream=reg) - m0.value("portcullis_upstream_errors_total", upstream=reg) >= 2
    assert m1.value("portcullis_http_requests_total", route="manifest", status="503") >= 1 or \
        m1.value("portcullis_http_requests_total", route="manifest", status="502") >= 1


@pytest.mark.embedded_only("breaks the blob directory on disk")
def test_readyz_reflects_blob_store_health(hardened_factory):
    srv = hardened_factory(*guard_args())
    assert requests.get(srv.url + "/readyz", timeout=5).status_code == 200
    moved = []
    try:
        for name in ("blobs", "spool"):
            d = srv.data_dir / name
            d.rename(srv.data_dir / f"{name}.away")
            (srv.data_dir / name).write_text("not a directory\n")
            moved.append(name)

        def not_ready():
            r = requests.get(srv.url + "/readyz", timeout=5)
            return [r] if r.status_code != 200 else None

        [r] = wait_until(not_ready, timeout=10, interval=0.2, message="/readyz stayed 200 with an unusable blob store")
        assert r.status_code == 503, f"/readyz -> {r.status_code}"
        assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200, "liveness must not follow readiness"
    finally:
        for name in moved:
            (srv.data_dir / name).unlink()
            (srv.data_dir / f"{name}.away").rename(srv.data_dir / name)
    wait_until(lambda: requests.get(srv.url + "/readyz", timeout=5).status_code == 200, timeout=10,
               message="/readyz did not recover once the blob store was back")


def _refused_records(srv, customer_id, status, repo_part):
    def find():
        pulls = srv.cli_json("customer", "pulls", customer_id)
        assert isinstance(pulls, list), pulls
        hits = [p for p in pulls if p.get("status") == status and repo_part in str(p.get("repository", ""))]
        return hits or None

    return wait_until(find, timeout=10, message=lambda: f"no status-{status} record for {repo_part} in the pull record: "
                      f"{srv.cli_json('customer', 'pulls', customer_id)}")


def _assert_reason(records, license_id):
    for rec in records:
        assert isinstance(rec.get("reason"), str) and rec["reason"].strip(), f"refused request without a reason: {rec}"
        assert license_id not in json.dumps(rec), "a pull record contains the license ID"


def test_pull_record_lists_access_denied_requests(hardened_factory, upstream):
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    s = srv.session(tenant.license_id)
    assert get_manifest(s, srv.url, tenant.repo(catalog.THREE_REPO), catalog.TAG).status_code == 200
    other = srv.create_app()["slug"]
    token = create_token(srv)["token"]
    cp = requests.post(f"{srv.url}/v2/{other}/x/blobs/uploads/", auth=("v", token), timeout=10)
    assert cp.status_code in (201, 202), cp.status_code
    r = get_manifest(s, srv.url, f"{other}/x", catalog.TAG)
    assert r.status_code == 403, f"another app's repository: {r.status_code} {r.text[:200]}"
    _assert_reason(_refused_records(srv, tenant.customer_id, 403, f"{other}/x"), tenant.license_id)
    ok = _refused_records(srv, tenant.customer_id, 200, catalog.THREE_REPO)
    assert not ok[0].get("reason"), f"a served request carries a refusal reason: {ok[0]}"


def test_pull_record_lists_requests_of_an_archived_license(hardened_factory, upstream):
    """A known license that is refused (archived) is still attributed to its customer."""
    srv = hardened_factory(*guard_args())
    tenant = srv.tenant(upstream)
    s = srv.session(tenant.license_id)
    repo = tenant.repo(catalog.THREE_REPO)
    srv.cli_ok("customer", "archive", tenant.customer_id)
    r = get_manifest(s, srv.url, repo, catalog.TAG)
    assert r.status_code == 401, r.status_code
    _assert_reason(_refused_records(srv, tenant.customer_id, 401, catalog.THREE_REPO), tenant.license_id)
