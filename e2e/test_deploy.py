"""Running Portcullis itself: the Helm chart in deploy/helm/portcullis and the container image recipe.

The chart is linted and rendered with Helm's own library (helm-python-sdk) in both modes: one
replica on a volume, and several over PostgreSQL and S3. The image is built with podman from the
binary under test, FROM scratch; if this machine's OCI runtime may not start containers (no
rlimit permission in some sandboxes), the image's filesystem is exported and the binary run in it
with chroot instead, and that substitution is stated in the test's output.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import helm_python as helm
import pytest

from portcullis_testkit.helm import parse_manifests
from portcullis_testkit.portcullis import portcullis_bin
from portcullis_testkit.runtimes import Podman
from portcullis_testkit.util import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "portcullis"
SHARED = {
    "replicaCount": 3,
    "database": {"existingSecret": "portcullis-db"},
    "blobStore": {"url": "s3://acme-registry/blobs", "region": "eu-west-1", "existingSecret": "portcullis-s3"},
    "secretKey": {"existingSecret": "portcullis-key"},
    "adminToken": {"existingSecret": "portcullis-admin"},
    "publicURL": "https://registry.acme.example",
    "tls": {"secretName": "portcullis-tls"},
}


def _render(values):
    chart = helm.Chart.load(str(CHART))
    try:
        out = chart.render(values, name="registry", namespace="portcullis")
    finally:
        chart.close()
    docs = []
    for path, text in sorted(out.items()):
        if not path.endswith("NOTES.txt"):
            docs += [d for d in parse_manifests(text) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _container(objects):
    deployment = objects[("Deployment", "registry-portcullis")]
    return deployment, deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("values", [{}, SHARED], ids=["embedded", "replicas"])
def test_the_chart_lints_clean(values):
    report = helm.lint(str(CHART), values, strict=True, namespace="portcullis")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def test_one_replica_on_a_volume():
    objects = _render({})
    deployment, container = _container(objects)
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert ("PersistentVolumeClaim", "registry-portcullis") in objects
    volume = deployment["spec"]["template"]["spec"]["volumes"][0]
    assert volume["persistentVolumeClaim"]["claimName"] == "registry-portcullis"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" and container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["memory"]
    assert not any(kind == "PodDisruptionBudget" for kind, _ in objects)
    assert "--data-dir=/data" in container["args"]


def test_replicas_over_postgres_and_s3_with_secrets_from_secrets():
    objects = _render(SHARED)
    deployment, container = _container(objects)
    assert deployment["spec"]["replicas"] == 3
    assert "emptyDir" in deployment["spec"]["template"]["spec"]["volumes"][0]
    assert not any(kind == "PersistentVolumeClaim" for kind, _ in objects)
    env = {e["name"]: e for e in container["env"]}
    for name, secret in (("PORTCULLIS_SECRET_KEY", "portcullis-key"), ("PORTCULLIS_DATABASE_URL", "portcullis-db"),
                         ("PORTCULLIS_ADMIN_TOKEN", "portcullis-admin")):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == secret, env[name]
    assert env["PORTCULLIS_BLOB_STORE"]["value"] == "s3://acme-registry/blobs"
    assert container["envFrom"] == [{"secretRef": {"name": "portcullis-s3"}}]
    # The secret key is never a value in a ConfigMap (or anywhere in the rendered output).
    assert not any(kind in ("ConfigMap", "Secret") for kind, _ in objects)
    assert objects[("PodDisruptionBudget", "registry-portcullis")]["spec"]["minAvailable"] == 1
    assert "--tls-cert=/tls/tls.crt" in container["args"] and container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert "--public-url=https://registry.acme.example" in container["args"]
    # Behind native TLS the certificate names the public host, so replicas do not stream from pod IPs.
    assert "PORTCULLIS_ADVERTISE_URL" not in env


def test_replicas_without_native_tls_advertise_their_pod_address():
    objects = _render({**SHARED, "tls": {"secretName": ""}})
    _, container = _container(objects)
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["PORTCULLIS_ADVERTISE_URL"]["value"] == "http://$(POD_IP):8080"
    # Kubernetes expands $(POD_IP) only from a variable defined before it.
    names = [e["name"] for e in container["env"]]
    assert names.index("POD_IP") < names.index("PORTCULLIS_ADVERTISE_URL")
    assert "PORTCULLIS_ADVERTISE_URL" not in {e["name"] for e in (_container(_render({}))[1].get("env") or [])}


@pytest.mark.parametrize("values,reason", [
    ({"replicaCount": 2}, "replicaCount > 1 needs database.existingSecret and blobStore.url"),
    ({**SHARED, "secretKey": {"existingSecret": ""}}, "secretKey.existingSecret is required"),
    ({"database": {"existingSecret": "db"}}, "database.existingSecret and blobStore.url go together"),
])
def test_impossible_settings_are_refused_with_the_reason(values, reason):
    with pytest.raises(helm.HelmError) as refused:
        _render(values)
    assert reason in str(refused.value)


def test_the_ingress_streams_large_layers():
    objects = _render({"ingress": {"enabled": True, "host": "registry.acme.example", "tlsSecretName": "acme-tls"}})
    ingress = objects[("Ingress", "registry-portcullis")]
    assert ingress["spec"]["rules"][0]["host"] == "registry.acme.example"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert ingress["spec"]["tls"][0]["secretName"] == "acme-tls"


def test_the_container_image_builds_and_runs_the_binary(tmp_path):
    reason = Podman.unavailable_reason()
    if reason:
        pytest.skip(reason)
    staged = tmp_path / "image"
    stage = subprocess.run([str(REPO_ROOT / "deploy" / "container" / "stage-rootfs"), str(portcullis_bin()), str(staged)],
                           capture_output=True, text=True, timeout=300)
    assert stage.returncode == 0, stage.stderr
    podman = Podman()
    try:
        built = podman.podman("build", "-q", "-t", "portcullis-e2e", str(staged), timeout=600)
        assert built.returncode == 0, built.stderr
        config = podman.podman("image", "inspect", "--format", "{{.Config.User}} {{.Config.Entrypoint}}", "portcullis-e2e").stdout
        assert config.strip() == "65532:65532 [/usr/local/bin/portcullis]", config
        ran = podman.podman("run", "--rm", "--network", "none", "portcullis-e2e", "keygen", timeout=120)
        if ran.returncode != 0 and "permission denied" in ran.stderr.lower():
            # The runtime may not start containers here: run the image's own files under chroot.
            print(f"podman run refused by this machine ({ran.stderr.strip()}); checking the image with chroot")
            created = podman.podman("create", "portcullis-e2e", "keygen").stdout.strip()
            root = tmp_path / "fs"
            root.mkdir()
            exported = subprocess.run(f"podman --root {podman.dir / 'root'} --runroot {podman.dir / 'run'} --storage-driver vfs "
                                      f"export {created} | tar -x -C {root}", shell=True, capture_output=True, text=True, timeout=300)
            assert exported.returncode == 0, exported.stderr
            if shutil.which("unshare") is None or shutil.which("chroot") is None:
                pytest.skip("neither podman run nor unshare + chroot can run the image here")
            ran = subprocess.run(["unshare", "--fork", "--pid", f"--mount-proc={root / 'proc'}", "chroot", "--userspec=65532:65532",
                                  str(root), "/usr/local/bin/portcullis", "keygen"], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        key = ran.stdout.strip().splitlines()[-1]
        assert len(key) == 44 and key.endswith("="), ran.stdout
    finally:
        podman.stop()
