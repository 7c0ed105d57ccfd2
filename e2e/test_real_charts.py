"""Image tooling on the charts vendors actually ship (issue 23), with Helm's own rendering as the judge.

The charts are real public charts prepared for offline use in ``../shared/real-charts/`` (Bitnami
nginx with bitnami/common, ingress-nginx, cert-manager, traefik, prometheus-node-exporter); they are
copied into the test's temporary directory, never into the project. For each, with its default
values and with its optional components enabled, Helm renders the chart before and after
``portcullis images rewrite``, and:

(a) after the rewrite every image Helm renders (containers, and container arguments that name an
    image) goes through the proxy and is the same image, tag and digest as before;
(b) every pod names the pull secret once Portcullis's values are injected, in its own
    ``imagePullSecrets`` or its service account's, and the chart renders that Secret;
(c) ``images ls`` names every image Helm renders;
(d) ``chart lint`` fails the chart before the rewrite and passes it after: its verdict agrees with
    what Helm renders.

``images post-render`` is judged the same way on what Helm renders from the untouched chart.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from portcullis_testkit.helm import archive_member_text, helm_client_factory, package_chart, parse_manifests, render_chart
from portcullis_testkit.portcullis import portcullis_bin

REAL_CHARTS = Path(__file__).resolve().parents[2] / "shared" / "real-charts"
PROXY_HOST = "registry.portcullis.test"
APP = "acme"
SECRET = "replicated-pull-secret"
INJECTED = {"global": {"replicated": {"dockerconfigjson": base64.b64encode(b'{"auths":{}}').decode()}}}

# Values that turn on each chart's optional components (and the other shapes of its workloads).
OPTIONAL: Dict[str, List[Dict[str, Any]]] = {
    "nginx": [{"metrics": {"enabled": True},
               "cloneStaticSiteFromGit": {"enabled": True, "repository": "https://example.com/site.git", "branch": "main"}}],
    "ingress-nginx": [{"controller": {"kind": "DaemonSet"}, "defaultBackend": {"enabled": True}}],
    "cert-manager": [{"global": {"leaderElection": {"namespace": "cert-manager"}}, "prometheus": {"podmonitor": {"enabled": True}}}],
    "traefik": [{"deployment": {"kind": "DaemonSet"}}],
    "prometheus-node-exporter": [{"kubeRBACProxy": {"enabled": True}, "permissionInitContainer": {"fixes": {"rapl": True}}}],
    # The project's own chart in grafana's shape: optional images inside a shared pod template.
    "grafana-style": [{"sidecar": {"dashboards": {"enabled": True}, "datasources": {"enabled": True}}, "imageRenderer": {"enabled": True}}],
}
GOLDEN = Path(__file__).parent / "charts" / "golden"
SOURCES = {name: (GOLDEN / name if name == "grafana-style" else REAL_CHARTS / name) for name in OPTIONAL}
CHARTS = [pytest.param(name, marks=pytest.mark.skipif(not SOURCES[name].is_dir(),
                                                      reason=f"{SOURCES[name]} is absent: the real charts are not on this machine"))
          for name in sorted(OPTIONAL)]
IMAGE_ARGUMENT = re.compile(r"^--[A-Za-z0-9_-]*image=(.+)$")


def cli(*args: str, input: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(portcullis_bin()), *args], capture_output=True, text=True, timeout=300, input=input)


def merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def canonical(image: str) -> str:
    """The image a reference names, as a registry sees it: Docker Hub spelled out, `library/` made explicit."""
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        registry, path = "docker.io", name
    else:
        registry, path = first, rest
    if registry in ("registry-1.docker.io", "index.docker.io"):
        registry = "docker.io"
    repo, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    if registry == "docker.io" and "/" not in repo:
        repo = "library/" + repo
    return f"{registry}/{repo}" + (f":{tag}" if colon else "") + (f"@{digest}" if at else "")


def unproxied(image: str) -> Optional[str]:
    """The upstream image a proxied reference stands for; None when it does not go through the proxy."""
    prefix = f"{PROXY_HOST}/proxy/{APP}/"
    return canonical(image[len(prefix):]) if image.startswith(prefix) else None


class Workloads:
    """What a render deploys: each container's image (and images named in container arguments), each pod's
    pull secrets with its service account's, and the dockerconfigjson Secrets."""

    def __init__(self, docs: List[Dict[str, Any]]):
        self.images: List[Tuple[str, str]] = []
        self.pods: List[Tuple[str, List[str], List[str]]] = []
        self.secrets = [d["metadata"]["name"] for d in docs if d.get("kind") == "Secret" and d.get("type") == "kubernetes.io/dockerconfigjson"]
        accounts = {d["metadata"]["name"]: [s.get("name") for s in d.get("imagePullSecrets") or []]
                    for d in docs if d.get("kind") == "ServiceAccount"}
        for doc in docs:
            self._walk(doc, f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}", accounts)

    def _walk(self, node: Any, where: str, accounts: Dict[str, List[str]]) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                images = []
                for key in ("initContainers", "containers", "ephemeralContainers"):
                    for c in node.get(key) or []:
                        images.append(str(c["image"]))
                        self.images.append((f"{where}/{key}/{c.get('name')}", str(c["image"])))
                        for arg in (c.get("args") or []) + (c.get("command") or []):
                            m = IMAGE_ARGUMENT.match(str(arg))
                            if m:
                                self.images.append((f"{where}/{key}/{c.get('name')}/{arg.split('=')[0]}", m.group(1)))
                names = [s.get("name") for s in node.get("imagePullSecrets") or []]
                names += accounts.get(node.get("serviceAccountName") or node.get("serviceAccount") or "default", [])
                self.pods.append((where, images, names))
                return
            for value in node.values():
                self._walk(value, where, accounts)
        elif isinstance(node, list):
            for item in node:
                self._walk(item, where, accounts)


def render(chart: Path, tmp: Path, values: Dict[str, Any]) -> Workloads:
    tgz = package_chart(tmp, chart_dir=chart)
    rendered = render_chart(tgz, values=values, release="oracle")
    workloads = Workloads(rendered.docs)
    assert workloads.images, f"{chart.name} renders no container with {values}"
    return workloads


def lint(chart: Path) -> Tuple[int, List[Dict[str, Any]]]:
    res = cli("chart", "lint", str(chart), "--app", APP, "--proxy-host", PROXY_HOST, "-o", "json")
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


def assert_through_proxy_with_secret(before: Workloads, after: Workloads, what: str) -> None:
    assert [w for w, _ in after.images] == [w for w, _ in before.images], f"{what}: the rewrite changed which containers render"
    for (where, old), (_, new) in zip(before.images, after.images):
        assert unproxied(new) is not None, f"{what}: {where}: {new} does not go through the proxy"
        assert unproxied(new) == canonical(old), f"{what}: {where}: {old} became {new}, another image"
    assert SECRET in after.secrets, f"{what}: the chart renders no pull secret {SECRET} (it renders {after.secrets})"
    for where, images, names in after.pods:
        assert SECRET in names, f"{what}: the pods of {where} pull {images} but name no {SECRET} (they name {names})"


@pytest.mark.parametrize("name", CHARTS)
def test_rewritten_chart_pulls_every_image_through_the_proxy_with_the_secret(name, tmp_path):
    original = tmp_path / "original" / name
    rewritten = tmp_path / "rewritten" / name
    shutil.copytree(SOURCES[name], original)
    shutil.copytree(SOURCES[name], rewritten)

    listed = cli("images", "ls", str(original), "-o", "json")
    assert listed.returncode == 0, listed.stderr
    listed_images = {canonical(r["image"]) for r in json.loads(listed.stdout) if r["image"] != "cannot tell"}
    assert not [r for r in json.loads(listed.stdout) if r["image"] == "cannot tell"], listed.stdout

    code, findings = lint(original)
    assert code == 1 and any("bypasses the proxy" in f["message"] for f in findings), findings

    res = cli("images", "rewrite", str(rewritten), "--app", APP, "--proxy-host", PROXY_HOST)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "cannot tell" not in res.stderr and "warning" not in res.stdout, res.stderr + res.stdout

    for i, values in enumerate([{}] + OPTIONAL[name]):
        before = render(original, tmp_path / f"before-{i}", values)
        after = render(rewritten, tmp_path / f"after-{i}", merge(values, INJECTED))
        assert_through_proxy_with_secret(before, after, f"{name} with {values or 'its own values'}")
        missing = {canonical(image) for _, image in before.images} - listed_images
        assert not missing, f"images ls does not name {missing} that Helm renders with {values}"

    code, findings = lint(rewritten)
    assert code == 0 and not [f for f in findings if f["severity"] == "error"], findings


@pytest.mark.skipif(not REAL_CHARTS.is_dir(), reason=f"{REAL_CHARTS} is absent: the real charts are not on this machine")
def test_bitnami_chart_still_renders_after_the_rewrite_and_says_why(tmp_path):
    chart = tmp_path / "nginx"
    shutil.copytree(REAL_CHARTS / "nginx", chart)
    res = cli("images", "rewrite", str(chart), "--app", APP, "--proxy-host", PROXY_HOST)
    assert res.returncode == 0, res.stderr
    assert "global.security.allowInsecureImages set to true" in res.stdout, res.stdout
    assert "allowInsecureImages: true" in (chart / "values.yaml").read_text()
    # Bitnami's NOTES.txt fails on substituted images unless told: Helm renders the notes too.
    tgz = package_chart(tmp_path / "pkg", chart_dir=chart)
    rendered = render_chart(tgz, values=INJECTED, release="oracle")
    assert any(path.endswith("NOTES.txt") for path in rendered.templates), sorted(rendered.templates)


@pytest.mark.parametrize("name", CHARTS)
def test_post_renderer_rewrites_what_helm_rendered(name, tmp_path):
    for i, values in enumerate([{}] + OPTIONAL[name]):
        tgz = package_chart(tmp_path / f"pkg-{i}", chart_dir=SOURCES[name])
        rendered = render_chart(tgz, values=values, release="oracle")
        manifests = "".join(f"---\n# Source: {path}\n{text}\n" for path, text in sorted(rendered.templates.items())
                            if not path.endswith("NOTES.txt"))
        res = cli("images", "post-render", "--app", APP, "--proxy-host", PROXY_HOST, input=manifests)
        assert res.returncode == 0, res.stderr
        before = Workloads(rendered.docs)
        docs = parse_manifests(res.stdout)
        after = Workloads(docs + [{"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "metadata": {"name": SECRET}}])
        assert_through_proxy_with_secret(before, after, f"post-render of {name} with {values or 'its own values'}")
        assert len(docs) == len(rendered.docs), "post-render dropped or added documents"


@pytest.fixture
def helm_clients(tmp_path):
    yield from helm_client_factory(tmp_path)


def _crlf_values(chart_dir: Path) -> None:
    values = chart_dir / "values.yaml"
    values.write_bytes(values.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    meta = chart_dir / "Chart.yaml"
    meta.write_text(re.sub(r"(?m)^version: .*$", "version: 9.9.9-crlf", meta.read_text()))


def _quoted_global_key(chart_dir: Path) -> None:
    values = chart_dir / "values.yaml"
    values.write_text(re.sub(r"(?m)^global:", '"global":  # shared with subcharts', values.read_text(), count=1))
    meta = chart_dir / "Chart.yaml"
    meta.write_text(re.sub(r"(?m)^version: .*$", "version: 9.9.9-quoted", meta.read_text()))


@pytest.mark.skipif(not REAL_CHARTS.is_dir(), reason=f"{REAL_CHARTS} is absent: the real charts are not on this machine")
def test_real_charts_are_released_as_helm_packages_them_and_delivered_with_their_values_intact(portcullis, tmp_path, helm_clients):
    """Each real chart, packaged by Helm as it is (cert-manager's version is `v1.21.1`), is released
    and pulled by a customer with Helm: the customer's values.yaml is the vendor's, every line in
    order (comments too) with global.replicated added, and Helm renders it. Two variants of one
    chart cover other layouts vendors ship: CRLF line endings and a quoted `"global":` key (the
    empty `global: {}` placeholder is in the unit tests: every real chart here has a global block)."""
    app = portcullis.create_app()["slug"]
    names = ["cert-manager", "ingress-nginx", "nginx", "prometheus-node-exporter", "traefik"]
    packages = {name: package_chart(tmp_path / "pkg" / name, chart_dir=REAL_CHARTS / name) for name in names}
    variants = {"crlf": package_chart(tmp_path / "pkg" / "crlf", chart_dir=REAL_CHARTS / "prometheus-node-exporter", edit=_crlf_values),
                "quoted": package_chart(tmp_path / "pkg" / "quoted", chart_dir=REAL_CHARTS / "prometheus-node-exporter",
                                        edit=_quoted_global_key)}
    release = ["release", "create", "--app", app, "--version", "1.0.0", "--promote", "Stable"]
    for tgz in packages.values():
        release += ["--chart", str(tgz)]
    portcullis.cli_ok(*release)
    for i, tgz in enumerate(variants.values()):
        portcullis.cli_ok("release", "create", "--app", app, "--version", f"1.0.{i + 1}", "--promote", "Stable", "--chart", str(tgz))
    customer = portcullis.cli_json("customer", "create", "--app", app, "--name", "Real Charts Inc", "--email", "ops@real.test")
    portcullis.secrets.append(customer["licenseId"])
    secret = portcullis.cli_ok("customer", "pull-secret", customer["id"], "--base64").out.strip()
    client = helm_clients(portcullis.host)
    client.login("ops@real.test", customer["licenseId"])

    for name, tgz in [*packages.items(), *variants.items()]:
        chart = "prometheus-node-exporter" if name in variants else name
        version = render_chart(tgz).metadata["version"]
        pulled = client.pull(f"{app}/{chart}", version)
        original = archive_member_text(tgz, "values.yaml")
        delivered = archive_member_text(pulled, "values.yaml")
        kept = iter(delivered.splitlines())
        missing = [line for line in original.splitlines() if not any(line == other for other in kept)]
        assert not missing, f"{name}: lines of the vendor's values.yaml missing or out of order in the customer's: {missing[:5]}"
        if name == "crlf":
            assert "\n" not in delivered.replace("\r\n", ""), f"{name}: the customer's values.yaml is no longer CRLF"
        rendered = render_chart(pulled)
        injected = rendered.values["global"]["replicated"]
        assert injected["dockerconfigjson"] == secret and injected["licenseID"] == customer["licenseId"], f"{name}: {injected.keys()}"
        vendor_values = json.loads(json.dumps(render_chart(tgz).values))
        customer_values = json.loads(json.dumps(rendered.values))
        customer_values["global"].pop("replicated")
        if not customer_values["global"] and not vendor_values.get("global"):
            customer_values.pop("global")
            vendor_values.pop("global", None)
        assert customer_values == vendor_values, f"{name}: the values Helm reads changed beyond global.replicated"
