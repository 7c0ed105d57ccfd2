"""Image tooling follows templates (issue 10), judged against the real Helm library.

For every golden chart (the vendor documents' example, the tutorial chart, a chart using a
`common.images.image` helper, a parent chart with a subchart and a global registry, the shapes
charts use - range, with, printf, default, quote - and a chart whose image only the cluster
knows), Helm renders the chart before and after `portcullis images rewrite`, and:

(a) after the rewrite every image Helm renders is on the proxy host under `proxy/<app>/`, with
    its tag and digest unchanged (except where the tooling says it cannot tell the image);
(b) `chart lint` is clean exactly when the rendered manifests hold only proxied images - its
    verdict is checked against what Helm renders, not against a hand-written expectation.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from portcullis_testkit.helm import package_chart, render_chart
from portcullis_testkit.portcullis import portcullis_bin

CHARTS = Path(__file__).parent / "charts"
GOLDEN = ["golden/vendor-docs", "slackernews-before", "golden/bitnami-style", "golden/umbrella", "golden/shapes", "golden/grafana-style",
          "golden/unresolvable"]
PROXY_HOST = "registry.portcullis.test"
APP = "acme"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(portcullis_bin()), *args], capture_output=True, text=True, timeout=120)


def rendered_images(chart: Path, tmp: Path) -> List[Tuple[str, str]]:
    """(where, image) for every container Helm renders with the chart's default values."""
    tgz = package_chart(tmp, chart_dir=chart)
    rendered = render_chart(tgz, release="oracle")
    out: List[Tuple[str, str]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                    for c in value:
                        if isinstance(c, dict) and "image" in c:
                            out.append((f"{where}/{key}/{c.get('name')}", str(c["image"])))
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for doc in rendered.docs:
        walk(doc, f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}")
    assert out, f"{chart.name} renders no container at all"
    return sorted(out)


def proxied(image: str) -> bool:
    return image.startswith(f"{PROXY_HOST}/proxy/{APP}/")


def lint(chart: Path) -> Tuple[bool, List[Dict[str, Any]]]:
    """`chart lint`'s verdict: clean means no error and no image it cannot tell."""
    res = cli("chart", "lint", str(chart), "--app", APP, "--proxy-host", PROXY_HOST, "-o", "json")
    assert res.returncode in (0, 1), res.stderr
    findings = json.loads(res.stdout)
    image_problems = [f for f in findings if f["severity"] == "error" or "cannot tell" in f["message"]]
    clean = not image_problems
    assert (res.returncode == 0) == (not any(f["severity"] == "error" for f in findings)), res.stdout
    return clean, findings


def suffix(image: str) -> str:
    """The tag and digest of a reference (what a rewrite must keep)."""
    name, at, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return f"{tag}@{digest}" if at else tag


@pytest.mark.parametrize("name", GOLDEN)
def test_lint_verdict_matches_what_helm_renders_before_and_after_rewrite(name, tmp_path):
    chart = tmp_path / Path(name).name
    shutil.copytree(CHARTS / name, chart)

    before = rendered_images(chart, tmp_path / "before")
    clean, findings = lint(chart)
    assert clean == all(proxied(i) for _, i in before), f"lint says clean={clean} but Helm renders {before}: {findings}"

    res = cli("images", "rewrite", str(chart), "--app", APP, "--proxy-host", PROXY_HOST)
    assert res.returncode == 0, res.stderr + res.stdout
    cannot_tell = "cannot tell" in res.stderr

    after = rendered_images(chart, tmp_path / "after")
    assert [w for w, _ in after] == [w for w, _ in before], "the rewrite changed which containers render"
    for (where, old), (_, new) in zip(before, after):
        assert suffix(new) == suffix(old), f"{where}: tag or digest changed: {old} -> {new}"
        if not cannot_tell:
            assert proxied(new), f"{where}: {new} does not go through the proxy after the rewrite"
            assert new.endswith(old.split("/")[-1]), f"{where}: {old} became {new}"

    clean, findings = lint(chart)
    assert clean == all(proxied(i) for _, i in after), f"lint says clean={clean} but Helm renders {after}: {findings}"


def test_vendor_documents_example_is_listed_rewritten_and_linted(tmp_path):
    chart = tmp_path / "vendor-docs"
    shutil.copytree(CHARTS / "golden" / "vendor-docs", chart)
    res = cli("images", "ls", str(chart), "-o", "json")
    assert res.returncode == 0, res.stderr
    listed = {(Path(r["file"]).name, r["line"], r["image"]) for r in json.loads(res.stdout)}
    # The repository value names the image; the whole value under a key not named image; a literal.
    assert ("values.yaml", 5, "quay.io/my-org/api:v1.0.1") in listed, listed
    assert ("values.yaml", 8, "nginx:1.25") in listed, listed
    assert any(f == "deployment.yaml" and i.startswith("busybox@sha256:") for f, _, i in listed), listed

    before_lint = cli("chart", "lint", str(chart), "--app", APP, "--proxy-host", PROXY_HOST)
    assert before_lint.returncode == 1
    assert "values.yaml:5: error: image quay.io/my-org/api:v1.0.1 bypasses the proxy" in before_lint.stdout, before_lint.stdout

    assert cli("images", "rewrite", str(chart), "--app", APP, "--proxy-host", PROXY_HOST).returncode == 0
    values = (chart / "values.yaml").read_text()
    # The vendor documents' own end state, comments kept.
    assert f"apiImageRepository: {PROXY_HOST}/proxy/{APP}/quay.io/my-org/api\n" in values, values
    assert "apiImageTag: v1.0.1" in values and "# Access the apiImageRepository field" in values
    assert f"sidecar: {PROXY_HOST}/proxy/{APP}/docker.io/library/nginx:1.25" in values
    template = (chart / "templates" / "deployment.yaml").read_text()
    assert f"image: {PROXY_HOST}/proxy/{APP}/docker.io/library/busybox@sha256:" in template, template


def test_unresolvable_image_fails_lint_unless_accepted_by_place(tmp_path):
    chart = CHARTS / "golden" / "unresolvable"
    res = cli("chart", "lint", str(chart), "--app", APP, "--proxy-host", PROXY_HOST)
    assert res.returncode == 1 and "job.yaml:10: error: cannot tell which image" in res.stdout, res.stdout
    assert "rendering stopped" in res.stdout and "--accept-unknown" in res.stdout, res.stdout
    accepted = cli("chart", "lint", str(chart), "--app", APP, "--proxy-host", PROXY_HOST,
                   "--accept-unknown", f"{chart}/templates/job.yaml:10")
    assert "job.yaml:10: warning: cannot tell which image" in accepted.stdout and "(accepted)" in accepted.stdout, accepted.stdout
    strict = cli("chart", "lint", str(chart), "--app", APP, "--proxy-host", PROXY_HOST, "--strict",
                 "--accept-unknown", "all")
    assert strict.returncode == 1 and "job.yaml:10: error: cannot tell which image" in strict.stdout, strict.stdout
    listed = json.loads(cli("images", "ls", str(chart), "-o", "json").stdout)
    assert [(r["image"], r["line"]) for r in listed] == [("cannot tell", 10)], listed


def test_same_engine_serves_ls_rewrite_lint_and_release_lint(portcullis, tmp_path):
    """`release create --lint` (over the API) refuses the Bitnami-style chart before the rewrite and
    accepts it after - the same verdict `chart lint` gives."""
    app = portcullis.create_app()["slug"]
    chart = tmp_path / "bitnami-style"
    shutil.copytree(CHARTS / "golden" / "bitnami-style", chart)
    before = package_chart(tmp_path / "pkg-before", chart_dir=chart)
    refused = portcullis.cli("release", "create", "--app", app, "--chart", str(before), "--version", "1.0.0", "--lint",
                             "--proxy-host", PROXY_HOST)
    assert refused.code != 0 and "docker.io/bitnami/nginx:1.25.3-debian-12-r0 bypasses the proxy" in refused.err + refused.out
    assert cli("images", "rewrite", str(chart), "--app", app, "--proxy-host", PROXY_HOST).returncode == 0
    after = package_chart(tmp_path / "pkg-after", chart_dir=chart)
    ok = portcullis.cli("release", "create", "--app", app, "--chart", str(after), "--version", "1.0.1", "--lint",
                        "--proxy-host", PROXY_HOST)
    assert ok.code == 0, ok.describe()
    values = (chart / "values.yaml").read_text()
    assert f"registry: {PROXY_HOST}\n" in values and f"repository: proxy/{app}/docker.io/bitnami/nginx\n" in values, values
    # The metrics image sits behind `if .Values.metrics.enabled` (false): rewritten all the same.
    assert f"repository: proxy/{app}/docker.io/bitnami/nginx-exporter\n" in values, values
