"""Traces through the pull path (issue 17): OpenTelemetry spans exported over OTLP/HTTP to a
receiver this test starts, checked as a tree.

Contract under test:
- ``serve --otel-endpoint URL`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) exports spans to
  ``URL/v1/traces``; ``OTEL_EXPORTER_OTLP_PROTOCOL=http/json`` makes them JSON.
- A cold blob pull is one trace: the request's server span → ``authorize`` and ``cache.lookup``;
  the fill (``cache.fill``) under the lookup, with ``upstream.request`` (each request to the
  upstream, its challenge included; a token exchange is ``upstream.token``), ``upstream.body``
  and ``store.commit`` under it.
- No span attribute holds a license ID, the vendor's upstream password or the admin token.
- The request's log line carries the trace id.
"""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.util import free_port, wait_until


class OTLPReceiver:
    """Accepts OTLP/HTTP JSON trace exports on 127.0.0.1 and keeps every span."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bodies = []
        self.paths = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.paths.append(self.path)
                receiver.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self):
        out = []
        for body in list(self.bodies):
            doc = json.loads(body)
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    out.extend(ss.get("spans", []))
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = OTLPReceiver()
    yield r
    r.stop()


@pytest.fixture
def traced_server(tmp_path_factory, portcullis_binary, backend, receiver):
    """A server exporting JSON spans to the receiver, in batches of at most 200 ms."""
    srv = PortcullisServer(tmp_path_factory.mktemp("traced"), portcullis_binary, ["--otel-endpoint", receiver.url],
                           store=backend.attach(),
                           env={"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "200"})
    yield srv.start()
    srv.stop()


def attrs(span):
    """Attribute values, with OTLP JSON's int64-as-string turned back into ints."""
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        kind, value = next(iter(v.items())) if v else (None, None)
        out[a["key"]] = int(value) if kind == "intValue" else value
    return out


def hex_id(value):
    """A trace or span id as hex: OTLP JSON says hex, protobuf's JSON mapping gives base64."""
    if len(value) in (16, 32) and all(c in "0123456789abcdef" for c in value):
        return value
    return base64.b64decode(value).hex()


def test_a_cold_pull_is_one_trace_from_request_to_store_commit(traced_server, upstream, images, receiver):
    srv = traced_server
    tenant = srv.tenant(upstream)
    repo = tenant.repo(catalog.THREE_REPO)
    layer = images.three.largest_layer()
    r = requests.get(f"{srv.url}/v2/{repo}/blobs/{layer.digest}", auth=tenant.creds, timeout=60)
    assert r.status_code == 200 and len(r.content) == layer.size

    def blob_trace():
        spans = receiver.spans()
        fills = [s for s in spans if s["name"] == "cache.fill" and attrs(s).get("portcullis.digest") == layer.digest]
        commits = [s for s in spans if s["name"] == "store.commit"]
        if not fills or not commits:
            return None
        trace = fills[0]["traceId"]
        in_trace = [s for s in spans if s["traceId"] == trace]
        return in_trace if any(s["name"] == "store.commit" for s in in_trace) else None

    trace = wait_until(blob_trace, timeout=30, interval=0.2, message="the cold pull's spans to be exported")
    assert all(p == "/v1/traces" for p in receiver.paths)
    by_id = {s["spanId"]: s for s in trace}
    names = {s["name"] for s in trace}
    assert {"authorize", "cache.lookup", "cache.fill", "upstream.request", "upstream.body", "store.commit"} <= names, names

    def parent(span):
        return by_id.get(span.get("parentSpanId", ""))

    roots = [s for s in trace if not s.get("parentSpanId")]
    assert len(roots) == 1, [s["name"] for s in roots]
    root = roots[0]
    assert attrs(root).get("http.request.method") == "GET" and root["kind"] in (2, "SPAN_KIND_SERVER")

    def one(name, **where):
        hits = [s for s in trace if s["name"] == name and all(attrs(s).get(k) == v for k, v in where.items())]
        assert hits, f"no {name} {where} in {sorted(names)}"
        return hits[0]

    authorize = one("authorize")
    assert parent(authorize) is root
    assert attrs(authorize)["portcullis.decision"] == "allowed" and attrs(authorize)["portcullis.principal"] == "customer"
    lookup = one("cache.lookup", **{"portcullis.digest": layer.digest})
    assert parent(lookup) is root and attrs(lookup)["portcullis.cache"] == "filling"
    fill = one("cache.fill", **{"portcullis.digest": layer.digest})
    assert parent(fill) is lookup, "the fill belongs to the request that started it"
    body = one("upstream.body")
    assert parent(body) is fill and attrs(body)["portcullis.bytes"] == layer.size
    assert parent(one("store.commit")) is fill
    # The upstream answers the first GET with a challenge, the retry with the blob: both under the fill.
    blob_gets = [s for s in trace if s["name"] == "upstream.request" and attrs(s).get("url.path", "").endswith(layer.digest)]
    assert blob_gets and all(parent(s) is fill for s in blob_gets)
    assert [attrs(s)["http.response.status_code"] for s in blob_gets][-1] == 200

    # Nothing secret anywhere in what was exported.
    exported = b"".join(receiver.bodies).decode()
    for secret in (tenant.license_id, upstream.password, srv.admin_token):
        assert secret not in exported

    # The request's log line names the trace.
    lines = [ln for ln in srv.log_text().splitlines() if "registry request" in ln and layer.digest in ln]
    assert lines and f"trace_id={hex_id(root['traceId'])}" in lines[0].replace('"', ""), lines[:1]


def test_without_an_endpoint_nothing_is_exported_and_no_trace_ids_are_logged(portcullis_factory, upstream, receiver):
    srv = portcullis_factory()
    tenant = srv.tenant(upstream)
    r = requests.get(f"{srv.url}/v2/{tenant.repo(catalog.THREE_REPO)}/manifests/{catalog.TAG}", auth=tenant.creds, timeout=60)
    assert r.status_code == 200
    assert "trace_id=" not in srv.log_text()
    assert receiver.bodies == []
