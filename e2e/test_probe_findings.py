"""Fixes found by probing: referrers from upstreams without the API, Docker schema 1 manifests,
other apps' registry names, SDK report limits, chart versions Helm accepts, and schemas that
refuse ``global.replicated``. Every server here binds to 127.0.0.1 and is stopped at teardown.
"""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from portcullis_testkit.helm import HelmClient, Vendor, package_chart, render_chart
from portcullis_testkit.images import make_three_layer_image
from portcullis_testkit.oci import error_codes, get_manifest, skopeo
from portcullis_testkit.util import free_port, unique

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def show(r: requests.Response) -> str:
    return f"{r.request.method} {r.url} -> {r.status_code} {r.text[:400]!r}"


def message(r: requests.Response) -> str:
    try:
        return r.json()["errors"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


# ------------------------------------------------------------ 1. referrers fallback
def put_blob(reg, repo: str, data: bytes) -> dict:
    start = reg.session().post(f"{reg.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert start.status_code == 202, show(start)
    done = reg.session().put(urljoin(reg.url + "/", start.headers["Location"]), params={"digest": digest_of(data)},
                             data=data, headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert done.status_code == 201, show(done)
    return {"digest": digest_of(data), "size": len(data)}


def put_manifest(reg, repo: str, ref: str, doc: dict, media_type: str) -> bytes:
    body = json.dumps(doc, separators=(",", ":")).encode()
    r = reg.session().put(f"{reg.url}/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type})
    assert r.status_code == 201, show(r)
    return body


def test_referrers_from_an_upstream_without_the_api_fall_back_to_the_digest_tag(portcullis, upstream_factory, tmp_path):
    """distribution 2.x answers 404 to the referrers API; an empty 200 index made clients believe
    there were no signatures. Portcullis now says 404 naming the tag, and the tag is served."""
    reg, repo = upstream_factory(), "probe/signed"
    reg.push(make_three_layer_image(tmp_path / "img", tag="1.0"), repo)
    subject, subject_type, subject_digest = reg.get_manifest(repo, "1.0")
    empty = {"mediaType": "application/vnd.oci.empty.v1+json", **put_blob(reg, repo, b"{}")}
    sbom = {"mediaType": "application/spdx+json", **put_blob(reg, repo, b'{"spdxVersion":"SPDX-2.3"}')}
    referrer = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
                "config": empty, "layers": [sbom],
                "subject": {"mediaType": subject_type, "digest": subject_digest, "size": len(subject)}}
    body = json.dumps(referrer, separators=(",", ":")).encode()
    put_manifest(reg, repo, digest_of(body), referrer, OCI_MANIFEST)
    fallback_tag = subject_digest.replace(":", "-")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest_of(body), "size": len(body), "artifactType": "application/spdx+json"}]}
    index_body = put_manifest(reg, repo, fallback_tag, index, OCI_INDEX)

    t = portcullis.tenant(reg)
    s = portcullis.session(t.license_id)
    r = s.get(f"{portcullis.url}/v2/{t.repo(repo)}/referrers/{subject_digest}", timeout=60)
    assert r.status_code == 404, f"clients fall back to the tag only after a 404: {show(r)}"
    assert error_codes(r) == ["MANIFEST_UNKNOWN"] and fallback_tag in message(r), show(r)

    tagged = get_manifest(s, portcullis.url, t.repo(repo), fallback_tag)
    assert tagged.status_code == 200, show(tagged)
    assert tagged.content == index_body and tagged.headers.get("Content-Type") == OCI_INDEX, show(tagged)
    assert tagged.headers.get("Docker-Content-Digest") == digest_of(index_body), tagged.headers
    ref = get_manifest(s, portcullis.url, t.repo(repo), digest_of(body))
    assert ref.status_code == 200 and ref.content == body, show(ref)


# ------------------------------------------------------------ 2. Docker schema 1
SCHEMA1 = {"schemaVersion": 1, "name": "old/app", "tag": "latest", "architecture": "amd64",
           "fsLayers": [{"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
           "history": [{"v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}"}]}


class Schema1Handler(BaseHTTPRequestHandler):
    """An anonymous registry whose every manifest is schema 1: ``signed/app`` with the prettyjws
    type, ``plain/app`` as ``application/json`` (only the body says schema 1)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.paths.append(self.path)
        body, ctype = b"{}", "application/json"
        if "/manifests/" in self.path:
            doc = {**SCHEMA1, "name": self.path.split("/")[2] + "/app"}
            if self.path.startswith("/v2/signed/"):
                doc["signatures"] = [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "e30"}]
                ctype = SCHEMA1_SIGNED
            body = json.dumps(doc, indent=3).encode()
        self.send_response(200)
        for k, v in (("Content-Type", ctype), ("Docker-Distribution-API-Version", "registry/2.0"),
                     ("Docker-Content-Digest", digest_of(body)), ("Content-Length", str(len(body)))):
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b"" if self.command == "HEAD" else body)

    do_HEAD = do_GET


@pytest.fixture
def schema1_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Schema1Handler)
    server.paths, server.url = [], f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_docker_schema_1_manifest_is_a_4xx_that_says_so(portcullis, schema1_upstream):
    """A schema 1 manifest was a bare 502, which clients print without a reason."""
    app = portcullis.create_app()["slug"]
    name = unique("old")
    portcullis.cli_ok("registry", "add", "other", "--endpoint", schema1_upstream.url, "--name", name,
                      "--anonymous", "--app", app)
    license_id = portcullis.create_customer(app)["licenseId"]
    for repo in ("signed/app", "plain/app"):
        r = get_manifest(portcullis.session(license_id), portcullis.url, f"proxy/{app}/{name}/{repo}", "latest")
        assert r.status_code == 404 and error_codes(r) == ["MANIFEST_UNKNOWN"], show(r)
        assert "Docker schema 1" in message(r), show(r)
        assert any(p.startswith(f"/v2/{repo}/manifests/") for p in schema1_upstream.paths), schema1_upstream.paths
        cp = skopeo("inspect", "--tls-verify=false", "--retry-times", "0", "--creds", f"x:{license_id}",
                    f"docker://{portcullis.host}/proxy/{app}/{name}/{repo}:latest", timeout=120)
        assert cp.returncode != 0 and "schema 1" in cp.stdout + cp.stderr, (cp.returncode, cp.stdout, cp.stderr)


# ------------------------------------------------- 3. other apps' registry names
def test_another_apps_registry_name_reads_like_any_unknown_name(portcullis):
    """`proxy/A/regb/...` was an immediate NAME_UNKNOWN naming B's registry while an unknown name
    went on as a Docker Hub path: the difference told A's customers B's registry names. The Docker
    Hub registry's allowlist refuses both paths before any request to Docker Hub."""
    app_a, app_b = portcullis.create_app()["slug"], portcullis.create_app()["slug"]
    regb = unique("regb")
    portcullis.cli_ok("registry", "add", "other", "--endpoint", f"http://127.0.0.1:{free_port()}", "--name", regb,
                      "--anonymous", "--app", app_b)
    portcullis.cli_ok("registry", "add", "dockerhub", "--name", unique("hub"), "--anonymous",
                      "--allow", "library/nginx", "--app", app_a)
    s = portcullis.session(portcullis.create_customer(app_a)["licenseId"])
    other = get_manifest(s, portcullis.url, f"proxy/{app_a}/{regb}/org/x", "latest")
    unknown = get_manifest(s, portcullis.url, f"proxy/{app_a}/zzz-no-such/org/x", "latest")
    assert other.status_code == unknown.status_code, f"{show(other)}\n{show(unknown)}"
    assert error_codes(other) == error_codes(unknown) != [], f"{show(other)}\n{show(unknown)}"
    assert message(other).replace(regb, "NAME") == message(unknown).replace("zzz-no-such", "NAME"), \
        f"{show(other)}\n{show(unknown)}"


# ------------------------------------------------------------ 4. SDK reports
def test_sdk_instance_reports_are_bounded(portcullis):
    """Labels and maps of a check-in end up in the vendor's pages: unbounded or direction-flipping
    text was stored as sent."""
    app = portcullis.create_app()["slug"]
    license_id = portcullis.create_customer(app)["licenseId"]

    def post(**change):
        body = {"instanceID": unique("inst"), "appSlug": app, "clusterID": "cluster-1", "appStatus": "ready",
                "versionLabel": "1.0.0", "releaseSequence": 0, "channelSequence": 0, "k8sVersion": "v1.30.0",
                "k8sDistribution": "kind", "customMetrics": {"x": 1}, "tags": {"env": "prod"}, **change}
        return requests.post(portcullis.url + "/sdk/v1/instances", auth=("x", license_id), json=body, timeout=15)

    for ok in ({}, {"k8sVersion": "v" * 256}):  # a normal report, and 256 characters exactly
        r = post(**ok)
        assert r.status_code == 204, f"{list(ok)}: {r.status_code} {r.text}"
    for field in ("k8sVersion", "appStatus", "versionLabel", "k8sDistribution"):
        for value in ("v" * 257, "v1.30\u202egnirts"):
            r = post(**{field: value})
            assert r.status_code == 400 and field in r.text, f"{field}={value[:20]!r}: {r.status_code} {r.text}"
    for field, many in (("tags", {f"t{i}": "v" for i in range(101)}), ("customMetrics", {f"m{i}": i for i in range(101)})):
        r = post(**{field: many})
        assert r.status_code == 400 and "more than 100" in r.text, f"101 {field}: {r.status_code} {r.text}"
        assert post(**{field: dict(list(many.items())[:100])}).status_code == 204, f"100 {field} are allowed"


def test_a_license_keeps_a_bounded_number_of_instances(portcullis):
    """A script inventing instance IDs grew a license's instances (and the vendor's page) without
    end: at 1000, a new instance is refused while every known one keeps checking in."""
    app = portcullis.create_app()["slug"]
    license_id = portcullis.create_customer(app)["licenseId"]
    s = requests.Session()
    s.auth = ("x", license_id)

    def check_in(instance: str) -> int:
        return s.post(portcullis.url + "/sdk/v1/instances", json={"instanceID": instance, "appSlug": app}, timeout=15).status_code

    statuses = {check_in(f"i-{n}") for n in range(1000)}
    assert statuses == {204}, statuses
    refused = s.post(portcullis.url + "/sdk/v1/instances", json={"instanceID": "i-new", "appSlug": app}, timeout=15)
    assert refused.status_code == 409 and "1000 instances" in refused.text, f"{refused.status_code} {refused.text}"
    assert check_in("i-0") == 204 and check_in("i-999") == 204, "known instances keep checking in"


# ------------------------------------------------------------ 5./6. charts
def write_chart(root: Path, name: str, version: str, schema: dict | None = None) -> Path:
    chart = root / unique("src") / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\n")
    if schema is not None:
        (chart / "values.schema.json").write_text(json.dumps(schema))
    return chart


def ship(server, tmp_path, name: str, version: str):
    """Release a one-ConfigMap chart at Chart.yaml ``version`` on Stable; (app, customer)."""
    app = server.create_app()["slug"]
    tgz = package_chart(tmp_path / unique("dist"), chart_dir=write_chart(tmp_path, name, version))
    Vendor(server, app).create_release(tgz, "1.0.0", promote="Stable")
    return app, server.create_customer(app, email=f"{unique('c')}@example.com", channel="Stable")


def helm_pull(server, tmp_path, customer, path: str, version: str) -> Path:
    client = HelmClient(tmp_path / unique("helm"), server.host)
    try:
        client.login(customer["email"], customer["licenseId"])
        return client.pull(path, version)
    finally:
        client.close()


def test_a_v_prefixed_chart_version_is_released_and_pulled(portcullis, tmp_path):
    """cert-manager's charts are `v1.21.1`: Helm accepts them, Portcullis refused the release."""
    app, customer = ship(portcullis, tmp_path, "vchart", "v1.2.3")
    rendered = render_chart(helm_pull(portcullis, tmp_path, customer, f"{app}/stable/vchart", "v1.2.3"))
    assert rendered.metadata["version"] == "v1.2.3", rendered.metadata
    assert rendered.values["global"]["replicated"]["licenseID"] == customer["licenseId"], rendered.values


def test_build_metadata_is_tagged_with_an_underscore_and_pulled_with_a_plus(portcullis, tmp_path):
    """OCI tags allow no `+`: Helm pushes and looks up `0.3.0+build.1` as the tag `0.3.0_build.1`."""
    app, customer = ship(portcullis, tmp_path, "buildchart", "0.3.0+build.1")
    tags = portcullis.session(customer["licenseId"]).get(f"{portcullis.url}/v2/{app}/stable/buildchart/tags/list", timeout=30)
    assert tags.status_code == 200 and "0.3.0_build.1" in tags.json().get("tags", []), show(tags)
    rendered = render_chart(helm_pull(portcullis, tmp_path, customer, f"{app}/stable/buildchart", "0.3.0+build.1"))
    assert rendered.metadata["version"] == "0.3.0+build.1", rendered.metadata


def test_release_create_names_a_file_that_is_not_a_chart(portcullis, tmp_path):
    """With several --chart files the server's "chart 2" did not say which file was wrong."""
    app = portcullis.create_app()["slug"]
    bogus = tmp_path / "notes.tgz"
    bogus.write_bytes(b"this is not a gzip archive\n")
    res = portcullis.cli("release", "create", "--app", app, "--chart", str(bogus), "--version", "1.0.0")
    assert res.code != 0 and f"{bogus} is not a valid Helm chart" in res.out + res.err, res.describe()


def test_a_values_schema_closed_to_global_replicated_is_refused(portcullis, tmp_path):
    """Helm validates values against the schema, so every customer's install would have failed."""
    app = portcullis.create_app()["slug"]
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {
        "greeting": {"type": "string"},
        "global": {"type": "object", "additionalProperties": False, "properties": {"region": {"type": "string"}}}}}
    tgz = package_chart(tmp_path / "dist", chart_dir=write_chart(tmp_path, "closed", "0.1.0", schema))
    res = portcullis.cli("release", "create", "--app", app, "--chart", str(tgz), "--version", "1.0.0")
    assert res.code != 0 and "global.replicated" in res.out + res.err, res.describe()
    # Control: the same schema once global allows `replicated` is released.
    schema["properties"]["global"]["properties"]["replicated"] = {"type": "object"}
    tgz = package_chart(tmp_path / "dist2", chart_dir=write_chart(tmp_path, "closed", "0.1.0", schema))
    portcullis.cli_ok("release", "create", "--app", app, "--chart", str(tgz), "--version", "1.0.0")


def test_a_chunk_cut_off_midway_leaves_the_upload_to_resume(portcullis):
    """A PATCH whose client goes away midway used to end the whole upload session (404 after);
    the session now stays at the bytes before that chunk, as distribution keeps it, and the
    client resumes from the Range a GET reports."""
    import base64
    import os
    import socket
    import time
    from urllib.parse import urlsplit

    from portcullis_testkit.helm import create_token

    app = portcullis.create_app()["slug"]
    token = create_token(portcullis, "push")["token"]
    s = portcullis.session()
    s.auth = ("ci", token)
    repo, data = f"{app}/resumable", os.urandom(300_000)
    digest = digest_of(data)
    started = s.post(f"{portcullis.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, show(started)
    location = urljoin(portcullis.url + "/", started.headers["Location"])
    first = s.patch(location, data=data[:100_000], timeout=30,
                    headers={"Content-Type": "application/octet-stream", "Content-Range": "0-99999"})
    assert first.status_code == 202, show(first)
    location = urljoin(portcullis.url + "/", first.headers["Location"])

    # The second chunk: 100,000 bytes announced, 40,000 sent, then the connection closes.
    path = urlsplit(location)
    target = path.path + (f"?{path.query}" if path.query else "")
    credentials = base64.b64encode(f"ci:{token}".encode()).decode()
    with socket.create_connection(("127.0.0.1", portcullis.port), timeout=10) as raw:
        raw.sendall((f"PATCH {target} HTTP/1.1\r\nHost: {portcullis.host}\r\nAuthorization: Basic {credentials}\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Range: 100000-199999\r\nContent-Length: 100000\r\n\r\n").encode())
        raw.sendall(data[100_000:140_000])

    def kept():
        r = s.get(location, timeout=30)
        return r if r.status_code == 204 else None

    deadline, status = time.monotonic() + 15, None
    while status is None and time.monotonic() < deadline:
        status = kept()
        time.sleep(0.1)
    assert status is not None, f"the upload session is gone after the broken chunk: {show(s.get(location, timeout=30))}"
    assert status.headers.get("Range") == "0-99999", status.headers
    rest = s.patch(location, data=data[100_000:200_000], timeout=30,
                   headers={"Content-Type": "application/octet-stream", "Content-Range": "100000-199999"})
    assert rest.status_code == 202, show(rest)
    done = s.put(urljoin(portcullis.url + "/", rest.headers["Location"]), params={"digest": digest}, data=data[200_000:], timeout=30,
                 headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, show(done)
    blob = s.get(f"{portcullis.url}/v2/{repo}/blobs/{digest}", timeout=30)
    assert blob.status_code == 200 and blob.content == data, f"{blob.status_code}, {len(blob.content)} bytes"


def test_updates_after_the_license_moves_to_another_channel(portcullis, tmp_path):
    """The SDK asks for releases after its running one by its position on the channel it was
    installed from; positions of two channels do not compare, so a customer moved to Beta was
    told of only some of Beta's newer releases (the vendor's `instance ls` counted them all)."""
    app = portcullis.create_app()["slug"]
    vendor = Vendor(portcullis, app)
    sequences = []
    for version, channel in (("1.0.0", "Stable"), ("1.1.0", "Beta"), ("1.2.0", "Beta")):
        tgz = package_chart(tmp_path / unique("dist"), chart_dir=write_chart(tmp_path, "web", version))
        sequences.append(vendor.create_release(tgz, version, promote=channel))
    channels = {c["name"]: c["id"] for c in portcullis.cli_json("channel", "ls", "--app", app)}
    customer = portcullis.create_customer(app, channel="Stable")

    def updates() -> list:
        # What `portcullis sdk serve` asks, running release 1.0.0 from Stable at position 0.
        r = requests.get(f"{portcullis.url}/sdk/v1/updates", auth=("x", customer["licenseId"]), timeout=15,
                         params={"channelSequence": "0", "releaseSequence": str(sequences[0]), "channelID": channels["Stable"]})
        assert r.status_code == 200, r.text
        return [u["versionLabel"] for u in r.json()["channelReleases"]]

    assert updates() == []
    portcullis.cli_ok("customer", "update", customer["id"], "--channel", "Beta")
    assert updates() == ["1.2.0", "1.1.0"], "every Beta release after the running one, newest first"
