"""Air-gap bundles (issue 16): a release travels as one file into a registry with no internet.

Contract under test:
- ``portcullis release bundle SEQ --app A --customer ID -o FILE [--platform os/arch]`` writes an
  OCI image layout tar: the release's charts as that customer receives them (license injected)
  and every image they reference; an interrupted download leaves nothing under FILE and the
  next run resumes it.
- ``GET /bundles/<app>/<sequence>`` with the license (Basic, password = license ID) serves the
  same bytes, resumable with ``Range``.
- ``portcullis bundle ls FILE -o json`` shows bundle.json; ``portcullis bundle push FILE REGISTRY``
  pushes everything with digests preserved and prints the ``images rewrite --registry`` to use.
- Expired or archived licenses, and releases not on the customer's channel, get no bundle.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.helm import Vendor, create_token, render_chart
from portcullis_testkit.images import make_three_layer_image
from portcullis_testkit.oci import skopeo, skopeo_copy, skopeo_inspect_raw
from portcullis_testkit.relay import FaultRelay
from portcullis_testkit.util import unique

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: airgap
spec:
  selector:
    matchLabels: {app: airgap}
  template:
    metadata:
      labels: {app: airgap}
    spec:
      containers:
        - name: api
          image: {{ .Values.api.image }}
        - name: web
          image: {{ .Values.web.image | quote }}
        - name: worker
          image: "{{ .Values.worker.repository }}:{{ .Values.worker.tag }}"
"""


def chart_archive(dest: Path, values: str, version: str = "1.0.0") -> Path:
    """A chart with three containers, packed as Helm packs charts."""
    files = {
        "airgap/Chart.yaml": f"apiVersion: v2\nname: airgap\nversion: {version}\n",
        "airgap/values.yaml": values,
        "airgap/templates/deployment.yaml": DEPLOYMENT,
    }
    out = dest / f"airgap-{version}.tgz"
    with tarfile.open(out, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def bundle_members(path: Path) -> dict:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@pytest.fixture
def released(portcullis_factory, upstream, images, tmp_path):
    """A release whose chart names two proxied images (one by its upstream host, one already
    rewritten to the proxy) and one image the vendor pushed, promoted to Stable."""
    srv = portcullis_factory()
    tenant = srv.tenant(upstream)
    token = create_token(srv, scope="push")["token"]
    hosted_image = make_three_layer_image(tmp_path / "worker", tag="1.0.0", seed=unique("airgap-worker"))
    cp = skopeo("copy", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false", "--dest-creds", f"v:{token}",
                hosted_image.oci_ref(), f"docker://{srv.host}/{tenant.app}/worker:1.0.0")
    assert cp.returncode == 0, cp.stderr
    values = (f"api:\n  image: {upstream.host}/{catalog.THREE_REPO}:{catalog.TAG}\n"
              f"web:\n  image: {srv.host}/{tenant.repo(catalog.MULTI_REPO)}:{catalog.TAG}\n"
              f"worker:\n  repository: {srv.host}/{tenant.app}/worker\n  tag: \"1.0.0\"\n")
    tgz = chart_archive(tmp_path, values)
    sequence = Vendor(srv, tenant.app).create_release(tgz, "1.0.0", promote="Stable")
    return srv, tenant, sequence, hosted_image


def test_bundle_pushes_into_an_offline_registry_and_the_chart_installs_from_it(released, upstream_factory, images, tmp_path):
    srv, tenant, sequence, hosted_image = released
    out = tmp_path / "bundle.tar"
    res = srv.cli_ok("release", "bundle", str(sequence), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(out))
    assert out.is_file() and not Path(str(out) + ".partial").exists(), res.out

    doc = srv.cli_json("bundle", "ls", str(out))
    assert doc["app"] == tenant.app and doc["release"]["sequence"] == sequence and doc["customerId"] == tenant.customer_id
    by_repo = {i["repository"]: i for i in doc["images"]}
    assert set(by_repo) == {catalog.THREE_REPO, catalog.MULTI_REPO, f"{tenant.app}/worker"}, doc["images"]
    assert by_repo[catalog.THREE_REPO]["digest"] == images.three.digest
    assert by_repo[catalog.MULTI_REPO]["digest"] == images.multi.digest, "a multi-arch index travels whole"
    assert by_repo[f"{tenant.app}/worker"]["digest"] == hosted_image.digest
    assert by_repo[catalog.THREE_REPO]["proxy"].startswith(f"{srv.host}/proxy/{tenant.app}/")

    # The archive is an OCI layout whose blobs all match their names; the chart carries the license.
    members = bundle_members(out)
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in members.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1], name
    for image in (images.three, images.multi, hosted_image):
        missing = [d for d in image.all_blobs if f"blobs/sha256/{d.split(':')[1]}" not in members]
        assert not missing, f"bundle lacks {missing}"
    chart_file = tmp_path / "airgap.tgz"
    chart_file.write_bytes(members[doc["charts"][0]["file"]])
    assert tenant.license_id in render_chart(chart_file).values["global"]["replicated"]["licenseID"]

    # Into a fresh registry with its own credentials, nothing of Portcullis in reach.
    offline = upstream_factory()
    target = f"{offline.host}/airgap"
    push = srv.cli("bundle", "push", str(out), target, "--username", offline.username, "--password", offline.password,
                   "--plain-http")
    assert push.code == 0, push.describe()
    assert f"portcullis images rewrite <chart directory> --registry {target}" in push.out
    creds = (offline.username, offline.password)
    for repo, entry in by_repo.items():
        ref = f"{target}/{repo}:{entry['tag']}"
        raw = skopeo_inspect_raw(ref, creds)
        assert raw.returncode == 0, raw.stderr
        assert "sha256:" + hashlib.sha256(raw.stdout.encode() if isinstance(raw.stdout, str) else raw.stdout).hexdigest() == entry["digest"]
        copied = skopeo_copy(ref, f"oci:{tmp_path / repo.replace('/', '-')}:x", creds)
        assert copied.returncode == 0, f"{ref}: {copied.stderr}"
    chart_ref = f"{target}/charts/airgap:1.0.0"
    assert skopeo_inspect_raw(chart_ref, creds).returncode == 0

    # The chart, pointed at the offline registry, deploys only images that registry holds.
    chart_dir = tmp_path / "chart"
    with tarfile.open(chart_file) as tar:
        tar.extractall(chart_dir, filter="data")
    rewrite = srv.cli("images", "rewrite", str(chart_dir / "airgap"), "--registry", target, "--no-pull-secrets")
    assert rewrite.code == 0, rewrite.describe()
    repacked = tmp_path / "rewritten.tgz"
    with tarfile.open(repacked, "w:gz") as tar:
        tar.add(chart_dir / "airgap", arcname="airgap")
    rendered = render_chart(repacked)
    containers = rendered.one("Deployment", "airgap")["spec"]["template"]["spec"]["containers"]
    refs = [c["image"] for c in containers]
    assert refs == [f"{target}/{catalog.THREE_REPO}:{catalog.TAG}", f"{target}/{catalog.MULTI_REPO}:{catalog.TAG}",
                    f"{target}/{tenant.app}/worker:1.0.0"], refs
    for ref in refs:
        assert skopeo_inspect_raw(ref, creds).returncode == 0, f"{ref} is not in the offline registry"


def test_customers_download_their_bundle_with_the_license_resumably(released, images, tmp_path):
    srv, tenant, sequence, _ = released
    url = f"{srv.url}/bundles/{tenant.app}/{sequence}"
    anonymous = requests.get(url, timeout=120)
    assert anonymous.status_code == 401 and "Basic" in anonymous.headers.get("WWW-Authenticate", "")
    whole = requests.get(url, auth=("x", tenant.license_id), timeout=300)
    assert whole.status_code == 200, whole.text[:300]
    digest = whole.headers["Docker-Content-Digest"]
    assert "sha256:" + hashlib.sha256(whole.content).hexdigest() == digest
    assert whole.headers["Content-Type"] == "application/x-tar"

    part = requests.get(url, auth=("x", tenant.license_id), headers={"Range": "bytes=1000-1999"}, timeout=120)
    assert part.status_code == 206 and part.content == whole.content[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(whole.content)}"
    # The URL gives another archive once the license changes: a resume is safe with If-Range, and
    # nothing caches the archive as if it never changed.
    assert whole.headers["ETag"] == f'"{digest}"' and whole.headers["Cache-Control"] == "private, no-cache", whole.headers
    same = requests.get(url, auth=("x", tenant.license_id), headers={"Range": "bytes=1000-1999", "If-Range": f'"{digest}"'}, timeout=120)
    assert same.status_code == 206 and same.content == whole.content[1000:2000]
    other = requests.get(url, auth=("x", tenant.license_id), headers={"Range": "bytes=1000-1999", "If-Range": '"sha256:' + "0" * 64 + '"'},
                         timeout=300)
    assert other.status_code == 200 and other.content == whole.content, "a resume of another archive got a piece of this one"

    # The vendor's CLI gets the very same archive: bundles are deterministic.
    out = tmp_path / "vendor.tar"
    srv.cli_ok("release", "bundle", str(sequence), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(out))
    assert sha256_file(out) == digest

    # One platform: the multi-arch image is that platform's own manifest.
    arm = requests.get(url + "?platform=linux/arm64", auth=("x", tenant.license_id), timeout=300)
    assert arm.status_code == 200, arm.text[:300]
    doc = json.loads(bundle_members_bytes(arm.content)["bundle.json"])
    arm64 = [img.manifest.digest for img in images.multi.images if img.platform.get("architecture") == "arm64"]
    assert [i["digest"] for i in doc["images"] if i["repository"] == catalog.MULTI_REPO] == arm64
    assert doc["platforms"] == ["linux/arm64"]
    # The platform list is one bundle however it is ordered or repeated.
    both = requests.get(url + "?platform=linux/arm64&platform=linux/amd64", auth=("x", tenant.license_id), timeout=300)
    again = requests.get(url + "?platform=linux/amd64&platform=linux/arm64&platform=linux/amd64", auth=("x", tenant.license_id), timeout=300)
    assert both.status_code == again.status_code == 200, (both.text[:300], again.text[:300])
    assert both.headers["Docker-Content-Digest"] == again.headers["Docker-Content-Digest"]
    bad = requests.get(url + "?platform=linux/s390x", auth=("x", tenant.license_id), timeout=300)
    assert bad.status_code == 422 and "linux/s390x" in bad.json()["error"]


def bundle_members_bytes(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_an_interrupted_bundle_leaves_no_file_and_resumes(released, tmp_path):
    srv, tenant, sequence, _ = released
    out = tmp_path / "bundle.tar"
    relay = FaultRelay("127.0.0.1", srv.port)
    args = ["release", "bundle", str(sequence), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(out),
            "--api-url", relay.url]
    try:
        relay.cut_after(300_000)
        cut = srv.cli(*args)
        assert cut.code != 0 and "run the command again to resume" in cut.err, cut.describe()
        assert not out.exists(), "nothing under the output name"
        partial = Path(str(out) + ".partial")
        assert 0 < partial.stat().st_size < 1 << 30
        relay.passthrough()
        resumed = srv.cli(*args)
    finally:
        relay.close()
    assert resumed.code == 0, resumed.describe()
    assert "resumed at byte" in resumed.out, resumed.out
    assert out.is_file() and not partial.exists()
    whole = requests.get(f"{relay.url.replace(str(relay.port), str(srv.port))}/bundles/{tenant.app}/{sequence}",
                         auth=("x", tenant.license_id), headers={"Host": relay.host}, timeout=300)
    assert sha256_file(out) == whole.headers["Docker-Content-Digest"], "the joined file is the server's archive"

    # The relay's name is not one the server was told of, so the archive names the server's own
    # address either way (a made-up Host is never echoed into a pull secret): the same archive,
    # and a leftover partial file of it is resumed.
    partial.write_bytes(out.read_bytes()[:100_000])
    Path(str(out) + ".partial.digest").write_text(whole.headers["Docker-Content-Digest"])
    out.unlink()
    direct = srv.cli_ok("release", "bundle", str(sequence), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(out))
    assert "resumed at byte 100000" in direct.out, direct.out
    assert sha256_file(out) == whole.headers["Docker-Content-Digest"]
    # Changed content (here, leftover bytes of another archive) is not joined to it but replaced.
    partial.write_bytes(b"x" * 100_000)
    Path(str(out) + ".partial.digest").write_text("sha256:" + "0" * 64)
    out.unlink()
    again = srv.cli_ok("release", "bundle", str(sequence), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(out))
    assert "resumed" not in again.out and sha256_file(out) == whole.headers["Docker-Content-Digest"]


def test_no_bundle_for_a_lapsed_license_or_a_release_off_its_channel(released, tmp_path):
    srv, tenant, sequence, _ = released
    vendor = Vendor(srv, tenant.app)
    unstable = vendor.create_release(chart_archive(tmp_path, "api:\n  image: busybox:1.36\n", version="2.0.0"), "2.0.0",
                                     promote="Unstable")
    off = srv.cli("release", "bundle", str(unstable), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(tmp_path / "x.tar"))
    assert off.code != 0 and "never promoted to the Stable channel" in off.err, off.describe()

    expired = srv.create_customer(tenant.app, expires_at="2020-01-01T00:00:00Z")
    r = requests.get(f"{srv.url}/bundles/{tenant.app}/{sequence}", auth=("x", expired["licenseId"]), timeout=120)
    assert r.status_code in (401, 403) and "expired" in r.text, r.text
    # Through the admin API the lapsed license is the customer's standing, not the vendor's
    # credentials: 403, never a 401 that reads like a wrong admin token.
    admin = requests.get(f"{srv.url}/api/v1/apps/{tenant.app}/releases/{sequence}/bundle?customer={expired['id']}",
                         headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=120)
    assert admin.status_code == 403 and "expired" in admin.text, f"{admin.status_code} {admin.text}"

    srv.cli_ok("customer", "archive", tenant.customer_id)
    out = tmp_path / "archived.tar"
    refused = srv.cli("release", "bundle", str(sequence), "--app", tenant.app, "--customer", tenant.customer_id, "-o", str(out))
    assert refused.code != 0 and "refused" in refused.err, refused.describe()
    assert not out.exists()
    assert not Path(str(out) + ".partial").exists(), "a refused bundle leaves no empty partial file"
    r = requests.get(f"{srv.url}/bundles/{tenant.app}/{sequence}", auth=("x", tenant.license_id), timeout=120)
    assert r.status_code in (401, 403), r.text


def test_an_index_the_chart_pins_by_digest_goes_in_whole_whatever_the_platforms(portcullis_factory, upstream, images, tmp_path):
    """With `--platform`, a multi-arch image went in as a smaller index (another digest) or one
    platform's manifest: a chart pinning the index by digest then pulled a digest the customer's
    registry never received. A pinned index keeps every platform; one named by tag is still cut."""
    srv = portcullis_factory()
    tenant = srv.tenant(upstream)
    pinned = images.multi.digest
    values = (f"api:\n  image: {srv.host}/{tenant.repo(catalog.MULTI_REPO)}@{pinned}\n"
              f"web:\n  image: {srv.host}/{tenant.repo(catalog.MULTI_REPO)}:{catalog.TAG}\n"
              f"worker:\n  repository: {upstream.host}/{catalog.THREE_REPO}\n  tag: \"{catalog.TAG}\"\n")
    sequence = Vendor(srv, tenant.app).create_release(chart_archive(tmp_path, values), "1.0.0", promote="Stable")
    arm = requests.get(f"{srv.url}/bundles/{tenant.app}/{sequence}?platform=linux/arm64", auth=("x", tenant.license_id), timeout=300)
    assert arm.status_code == 200, arm.text[:300]
    members = bundle_members_bytes(arm.content)
    doc = json.loads(members["bundle.json"])
    by_original = {i["original"]: i for i in doc["images"]}
    by_digest = next(i for o, i in by_original.items() if o.endswith("@" + pinned))
    assert by_digest["digest"] == pinned, "the pinned index keeps its digest"
    children = [img.manifest.digest for img in images.multi.images]
    for child in children:
        assert any(name.endswith(child.split(":", 1)[1]) for name in members), f"{child} of the pinned index is missing"
    by_tag = next(i for o, i in by_original.items() if o.endswith(":" + catalog.TAG) and catalog.MULTI_REPO in o)
    arm64 = [img.manifest.digest for img in images.multi.images if img.platform.get("architecture") == "arm64"]
    assert [by_tag["digest"]] == arm64, "an image named by tag is still that platform's manifest"


def test_a_bundle_that_cannot_be_built_names_the_image(portcullis_factory, upstream, tmp_path):
    """A release naming an image no registry of the app serves gets no bundle; the refusal says
    which reference, among however many the charts name (it said only "repository name not
    known to registry")."""
    srv = portcullis_factory()
    tenant = srv.tenant(upstream)
    missing = f"{srv.host}/proxy/{tenant.app}/no-such-registry/org/gone:1.0"
    values = (f"api:\n  image: {missing}\nweb:\n  image: {upstream.host}/{catalog.THREE_REPO}:{catalog.TAG}\n"
              f"worker:\n  repository: {upstream.host}/{catalog.THREE_REPO}\n  tag: \"{catalog.TAG}\"\n")
    sequence = Vendor(srv, tenant.app).create_release(chart_archive(tmp_path, values), "1.0.0", promote="Stable")
    r = requests.get(f"{srv.url}/bundles/{tenant.app}/{sequence}", auth=("x", tenant.license_id), timeout=300)
    assert r.status_code == 422 and missing in r.json()["error"], f"{r.status_code} {r.text[:300]}"
