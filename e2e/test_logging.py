"""`--log-format json`: every log line is one JSON object with stable fields."""
from __future__ import annotations

import json

from portcullis_testkit import catalog
from portcullis_testkit.oci import get_manifest
from portcullis_testkit.portcullis import PortcullisServer


def test_json_logs_are_one_object_per_line_with_stable_fields(tmp_path, upstream):
    srv = PortcullisServer(tmp_path / "json-logs", extra_args=["--log-format", "json"]).start()
    try:
        tenant = srv.tenant(upstream)
        assert get_manifest(srv.session(tenant.license_id), srv.url, tenant.repo(catalog.THREE_REPO), catalog.TAG).status_code == 200
        assert get_manifest(srv.session("not-a-license-at-all-1234"), srv.url, tenant.repo(catalog.THREE_REPO),
                            catalog.TAG).status_code == 401
    finally:
        srv.stop()
    banner = ("Portcullis listening on", "Data directory:", "Storage:", "Admin API token:")
    lines = [line for line in srv.log_text().splitlines() if line.strip() and not line.startswith(banner)]
    objects = [json.loads(line) for line in lines]  # every line parses
    assert objects and all({"ts", "level", "label", "msg", "source"} <= set(o) for o in objects)
    requests_logged = [o for o in objects if o["msg"] == "registry request" and o.get("reference") == catalog.TAG]
    assert {o["status"] for o in requests_logged} == {"200", "401"}, requests_logged
    assert all(o["repository"] == tenant.repo(catalog.THREE_REPO) and o["remote"] == "127.0.0.1" for o in requests_logged)
    assert not [o for o in objects if o["level"] in ("error", "critical")], "a clean start and stop logs no error"
    assert tenant.license_id not in srv.log_text() and upstream.password not in srv.log_text()
