"""Image tooling (issue 6): `images ls|rewrite` and `chart lint` on the tutorial's chart as it
was before the tutorial, rendered with Helm's own library; the private/public probe against
real registries with and without auth."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import requests

from portcullis_testkit.helm import package_chart, render_chart
from portcullis_testkit.portcullis import portcullis_bin
from portcullis_testkit.proc import ManagedProcess
from portcullis_testkit.util import free_port, wait_until

BEFORE = Path(__file__).parent / "charts" / "slackernews-before"
PROXY_HOST = "registry.portcullis.test"


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(portcullis_bin()), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def rewritten_chart(tmp_path: Path, app: str) -> Path:
    chart = tmp_path / "slackernews"
    shutil.copytree(BEFORE, chart)
    res = cli("images", "rewrite", str(chart), "--app", app, "--proxy-host", PROXY_HOST)
    assert res.returncode == 0, res.stderr + res.stdout
    return chart


def test_images_ls_lists_both_images_with_file_and_line():
    res = cli("images", "ls", str(BEFORE), "-o", "json")
    assert res.returncode == 0, res.stderr
    found = {(Path(r["file"]).name, r["line"], r["image"]) for r in json.loads(res.stdout)}
    assert found == {("values.yaml", 4, "ghcr.io/slackernews/slackernews-web:1.0.17"), ("values.yaml", 7, "nginx:1.25.3")}


def test_lint_flags_the_chart_before_the_tutorial(tmp_path):
    res = cli("chart", "lint", str(BEFORE), "--app", "slackernews", "--proxy-host", PROXY_HOST)
    assert res.returncode == 1
    assert "values.yaml:4: error: image ghcr.io/slackernews/slackernews-web:1.0.17 bypasses the proxy" in res.stdout
    assert "no pull-secret template" in res.stdout

    # Images pointed at the proxy by hand and the secret template added, but one workload's pods
    # still name no pull secret: the lint reads that off what the chart renders.
    chart = tmp_path / "slackernews"
    shutil.copytree(BEFORE, chart)
    values = (chart / "values.yaml").read_text()
    values = values.replace("ghcr.io/", f"{PROXY_HOST}/proxy/slackernews/ghcr.io/")
    values = values.replace("repository: nginx", f"repository: {PROXY_HOST}/proxy/slackernews/docker.io/library/nginx")
    (chart / "values.yaml").write_text(values)
    (chart / "templates" / "imagepullsecret.yaml").write_text(
        '{{ if hasKey ((.Values.global).replicated) "dockerconfigjson" }}\napiVersion: v1\nkind: Secret\nmetadata:\n'
        '  name: replicated-pull-secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n'
        '  .dockerconfigjson: {{ .Values.global.replicated.dockerconfigjson }}\n{{ end }}\n')
    res = cli("chart", "lint", str(chart), "--app", "slackernews", "--proxy-host", PROXY_HOST)
    assert res.returncode == 1, res.stdout
    pods = [line for line in res.stdout.splitlines() if "name no pull secret" in line]
    assert len(pods) == 1 and "nginx-deployment.yaml:" in pods[0] and "Deployment/" in pods[0], res.stdout


def test_rewrite_gives_the_tutorial_end_state_and_renders_through_the_proxy(tmp_path):
    app = "slackernews-app"
    chart = rewritten_chart(tmp_path, app)
    values = (chart / "values.yaml").read_text()
    assert f"repository: {PROXY_HOST}/proxy/{app}/ghcr.io/slackernews/slackernews-web:1.0.17" in values
    assert "# The web application image" in values, "comments must survive"
    secret_template = (chart / "templates" / "imagepullsecret.yaml").read_text()
    assert 'hasKey ((.Values.global).replicated) "dockerconfigjson"' in secret_template
    assert "name: replicated-pull-secret" in secret_template

    lint = cli("chart", "lint", str(chart), "--app", app, "--proxy-host", PROXY_HOST)
    assert lint.returncode == 0, lint.stdout

    tgz = package_chart(tmp_path / "pkg", chart_dir=chart)
    secret = base64.b64encode(json.dumps({"auths": {PROXY_HOST: {"auth": "eA=="}}}).encode()).decode()
    rendered = render_chart(tgz, values={"global": {"replicated": {"dockerconfigjson": secret}}})
    deployments = rendered.find("Deployment")
    assert len(deployments) == 2
    for d in deployments:
        spec = d["spec"]["template"]["spec"]
        assert spec.get("imagePullSecrets") == [{"name": "replicated-pull-secret"}], d["metadata"]["name"]
        for c in spec["containers"]:
            assert c["image"].startswith(f"{PROXY_HOST}/proxy/{app}/"), c["image"]
    secrets = rendered.find("Secret", "replicated-pull-secret")
    assert len(secrets) == 1 and secrets[0]["type"] == "kubernetes.io/dockerconfigjson"
    assert secrets[0]["data"][".dockerconfigjson"] == secret

    # Installed without Portcullis (no injected value): no secret, no pull-secret reference.
    plain = render_chart(tgz)
    assert plain.find("Secret") == []
    assert all("imagePullSecrets" not in d["spec"]["template"]["spec"] for d in plain.find("Deployment"))


def test_malformed_yaml_is_reported_and_nothing_is_written(tmp_path):
    good = tmp_path / "a-good.yaml"
    good.write_text("kind: Pod\nspec:\n  containers:\n    - name: x\n      image: ghcr.io/acme/x:1\n")
    bad = tmp_path / "b-bad.yaml"
    bad.write_text("kind: Pod\nspec:\n  containers: [unclosed\n")
    before = good.read_text()
    res = cli("images", "rewrite", str(tmp_path), "--app", "acme", "--proxy-host", PROXY_HOST)
    assert res.returncode != 0
    assert "b-bad.yaml:" in res.stderr and "invalid YAML" in res.stderr, res.stderr
    assert good.read_text() == before, "a file was written although another input was invalid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-good.yaml", "b-bad.yaml"]


def test_kustomize_output(tmp_path):
    (tmp_path / "deploy.yaml").write_text("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
                                          "        - name: a\n          image: quay.io/acme/api:2\n")
    res = cli("images", "rewrite", str(tmp_path), "--app", "acme", "--proxy-host", PROXY_HOST, "--kustomize")
    assert res.returncode == 0, res.stderr
    k = (tmp_path / "kustomization.yaml").read_text()
    assert "- deploy.yaml" in k
    assert "- name: quay.io/acme/api\n  newName: registry.portcullis.test/proxy/acme/quay.io/acme/api" in k
    assert "quay.io/acme/api:2" in (tmp_path / "deploy.yaml").read_text(), "kustomize mode leaves manifests alone"


def _kustomize_tree(root: Path) -> None:
    """A base with nginx and a sidecar, an overlay that pins both by name (kustomize's images:)."""
    (root / "base").mkdir(parents=True)
    (root / "overlay").mkdir()
    (root / "base" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: web\n          image: nginx:1.25\n        - name: side\n          image: quay.io/org/sidecar:1.0\n")
    (root / "base" / "kustomization.yaml").write_text("resources:\n- deploy.yaml\n")
    (root / "overlay" / "kustomization.yaml").write_text(
        "resources:\n- ../base\nimages:\n- name: nginx\n  newName: ghcr.io/acme/nginx\n  newTag: '1.27'\n"
        "- name: quay.io/org/sidecar\n  digest: sha256:" + "d" * 64 + "\n")


def test_a_rewrite_that_would_unpin_a_kustomize_override_writes_nothing(tmp_path):
    """An overlay's images: entry matches by name: rewriting the base's nginx would leave it
    matching nothing, and the overlay would deploy the base's image instead of the one it pins."""
    _kustomize_tree(tmp_path)
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    res = cli("images", "rewrite", str(tmp_path), "--app", "acme", "--proxy-host", PROXY_HOST)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "nothing written" in res.stderr and "overlay/kustomization.yaml:4" in res.stderr and "overrides nginx" in res.stderr, res.stderr
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == before
    # The base alone (no overlay among the inputs) is rewritten as before.
    alone = cli("images", "rewrite", str(tmp_path / "base"), "--app", "acme", "--proxy-host", PROXY_HOST)
    assert alone.returncode == 0 and "2 image reference(s) rewritten" in alone.stdout, alone.stdout + alone.stderr


def test_kustomize_mode_never_replaces_a_kustomization_and_says_what_it_cannot_reach(tmp_path):
    _kustomize_tree(tmp_path)
    overlay = tmp_path / "overlay" / "kustomization.yaml"
    before = overlay.read_text()
    res = cli("images", "rewrite", str(tmp_path / "overlay"), "--app", "acme", "--proxy-host", PROXY_HOST, "--kustomize")
    assert res.returncode == 1 and "exists and --kustomize writes a new one" in res.stderr, res.stdout + res.stderr
    assert overlay.read_text() == before
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: quay.io/acme/api:2\n"
        "    args: [--sidecar-image=quay.io/acme/side:1]\n  ephemeralContainers:\n  - name: dbg\n    image: ghcr.io/org/debug:latest\n")
    first = cli("images", "rewrite", str(plain), "--app", "acme", "--proxy-host", PROXY_HOST, "--kustomize")
    assert first.returncode == 0, first.stderr
    for said in ("does not reach quay.io/acme/side:1 in a container argument", "does not reach ephemeral containers",
                 "--kustomize adds none"):
        assert said in first.stderr, first.stderr
    assert "- kustomization.yaml" not in (plain / "kustomization.yaml").read_text()
    again = cli("images", "rewrite", str(plain), "--app", "acme", "--proxy-host", PROXY_HOST, "--kustomize")
    assert again.returncode == 1 and "exists" in again.stderr, "a second run does not pile onto the first"


def test_a_values_file_that_cannot_be_read_is_an_error_not_empty_values(tmp_path):
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 1.0.0\n")
    (chart / "templates" / "pod.yaml").write_text("kind: Pod\nspec:\n  containers:\n  - name: a\n    image: {{ .Values.image }}\n")
    (chart / "values.yaml").symlink_to(tmp_path / "gone.yaml")
    for args in (["images", "ls", str(chart)], ["images", "rewrite", str(chart), "--app", "acme", "--proxy-host", PROXY_HOST]):
        res = cli(*args)
        assert res.returncode == 1 and "cannot read the chart's values" in res.stderr, f"{args}: {res.stdout}{res.stderr}"


def anonymous_registry(tmp_path: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    config = tmp_path / "anon.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'anon-data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = ManagedProcess(["docker-registry", "serve", str(config)], tmp_path / "anon.log")
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200, timeout=20,
               message="anonymous registry did not start")
    return proc, f"127.0.0.1:{port}"


def test_only_private_probes_real_registries(tmp_path, upstream, images):
    proc, public = anonymous_registry(tmp_path)
    try:
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", images.three.oci_ref(),
                        f"docker://{public}/acme/open:1"], check=True, capture_output=True, timeout=120)
        manifests = tmp_path / "m"
        manifests.mkdir()
        (manifests / "pod.yaml").write_text(
            "kind: Pod\nspec:\n  containers:\n"
            f"    - name: private\n      image: {upstream.host}/e2e/three-layer:{images.three.tag}\n"
            f"    - name: public\n      image: {public}/acme/open:1\n")
        res = cli("images", "rewrite", str(manifests), "--app", "acme", "--proxy-host", PROXY_HOST, "--only-private",
                  "--plain-http", upstream.host, "--plain-http", public,
                  "--upstream", f"{upstream.host}=vendor-upstream", "--upstream", f"{public}=open-upstream")
        assert res.returncode == 0, res.stderr + res.stdout
        text = (manifests / "pod.yaml").read_text()
        assert f"image: {PROXY_HOST}/proxy/acme/vendor-upstream/e2e/three-layer:{images.three.tag}" in text, text
        assert f"image: {public}/acme/open:1" in text, "a public image must be left alone"
    finally:
        proc.stop()


def test_release_create_lint_warns_of_images_no_registry_of_the_app_serves(portcullis, tmp_path):
    """A rewritten chart is ready, but a customer's pull of `proxy/<app>/ghcr.io/...` needs a
    registry for ghcr.io: `release create --lint` says which images would not pull, in the words
    the pull would get, and stops saying it once the app has the registry."""
    app = portcullis.create_app()["slug"]
    after = package_chart(tmp_path / "pkg", chart_dir=rewritten_chart(tmp_path / "after", app))
    first = portcullis.cli("release", "create", "--app", app, "--chart", str(after), "--version", "0.5.0", "--lint",
                           "--proxy-host", PROXY_HOST)
    assert first.code == 0 and "SEQUENCE: 1" in first.out, first.describe()
    unserved = [ln for ln in first.err.splitlines() if "would not pull" in ln]
    assert any("ghcr.io/slackernews/slackernews-web" in ln and 'no upstream registry named "ghcr.io"' in ln for ln in unserved), first.describe()
    assert any("nginx" in ln for ln in unserved) and all(re.search(r"\.ya?ml:\d+: ", ln) for ln in unserved), first.describe()

    added = portcullis.cli("registry", "add", "ghcr", "--username", "robot", "--password-stdin", "--no-verify", "--app", app,
                           input="not-a-real-token\n")
    assert added.code == 0, added.describe()
    again = portcullis.cli("release", "create", "--app", app, "--chart", str(after), "--version", "0.5.1", "--lint",
                           "--proxy-host", PROXY_HOST)
    assert again.code == 0, again.describe()
    unserved = [ln for ln in again.err.splitlines() if "would not pull" in ln]
    assert unserved and not any("ghcr.io" in ln for ln in unserved), again.describe()


def test_release_create_lint_refuses_unready_charts(portcullis, tmp_path):
    app = portcullis.create_app()["slug"]
    before = package_chart(tmp_path / "before", chart_dir=BEFORE)
    res = portcullis.cli("release", "create", "--app", app, "--chart", str(before), "--version", "0.4.0", "--lint",
                         "--proxy-host", PROXY_HOST)
    assert res.code != 0
    assert "bypasses the proxy" in (res.err + res.out), res.describe()
    assert "SEQUENCE" not in res.out

    chart = rewritten_chart(tmp_path / "after", app)
    after = package_chart(tmp_path / "after-pkg", chart_dir=chart)
    ok = portcullis.cli("release", "create", "--app", app, "--chart", str(after), "--version", "0.5.0", "--lint",
                        "--proxy-host", PROXY_HOST)
    assert ok.code == 0, ok.describe()
    assert "SEQUENCE: 1" in ok.out

    # The same check over the REST API, for the portal.
    r = requests.post(f"{portcullis.url}/api/v1/apps/{app}/lint",
                      headers={"Authorization": f"Bearer {portcullis.admin_token}"},
                      json={"chart": base64.b64encode(before.read_bytes()).decode(), "proxyHost": PROXY_HOST}, timeout=30)
    assert r.status_code == 200, r.text
    messages = [f["message"] for f in r.json()["findings"]]
    assert any("bypasses the proxy" in m for m in messages) and any("no pull-secret template" in m for m in messages)
