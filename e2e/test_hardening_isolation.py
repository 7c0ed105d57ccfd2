"""Hardening (issue 5): cross-app isolation without an existence oracle.

A license for app A cannot list tags of, pull, or learn the existence of app B's proxied
repositories, vendor repositories or charts: for every endpoint the answer for "B's repo
exists" and "B's repo does not exist" is identical (status and OCI error codes), with Basic
credentials and with a bearer token. An upstream A may not use never receives a connection.
"""
from __future__ import annotations

import json
import secrets

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.hardening import guard_args, hardened_factory, jwt_parts  # noqa: F401 - fixtures
from portcullis_testkit.helm import Vendor, create_token, package_chart
from portcullis_testkit.images import make_three_layer_image
from portcullis_testkit.oci import error_codes, get_manifest, skopeo
from portcullis_testkit.util import unique

MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
CHART_VERSION = "0.5.0"


def _signature(r: requests.Response):
    return (r.status_code, tuple(sorted(error_codes(r))))


@pytest.fixture
def two_apps(hardened_factory, upstream, counting_listener, tmp_path):
    srv = hardened_factory(*guard_args())
    a = srv.create_app()["slug"]
    b = srv.create_app()["slug"]
    cust_a = srv.create_customer(a)
    cust_b = srv.create_customer(b, channel="Stable")
    reg_b = srv.add_registry(upstream.url, upstream.username, upstream.password, apps=[b])
    counted_b = srv.add_registry(f"http://127.0.0.1:{counting_listener.port}", "u", f"pw-{secrets.token_hex(8)}", apps=[b], verify=False)  # a listener, not a registry: only pulls are counted

    # A vendor repository in B.
    image = make_three_layer_image(tmp_path / "vendor-image", tag="1.0.0", seed="hardening-isolation")
    token = create_token(srv)["token"]
    vrepo = f"{b}/{unique('api')}"
    cp = skopeo("copy", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false",
                "--dest-creds", f"vendor:{token}", image.oci_ref(), f"docker://{srv.host}/{vrepo}:1.0.0")
    assert cp.returncode == 0, f"vendor push failed:\n{cp.stderr}"

    # A chart released to B's Stable and Beta channels.
    tgz = package_chart(tmp_path / "chart", CHART_VERSION)
    Vendor(srv, b).release(tgz, CHART_VERSION, ["Stable", "Beta"])

    # Sanity: everything "existing" really exists for B's own customer.
    s_b = srv.session(cust_b["licenseId"])
    for repo, ref in ((f"proxy/{b}/{reg_b}/{catalog.THREE_REPO}", catalog.TAG), (vrepo, "1.0.0"),
                      (f"{b}/slackernews", CHART_VERSION), (f"{b}/beta/slackernews", CHART_VERSION)):
        r = get_manifest(s_b, srv.url, repo, ref)
        if repo.endswith("beta/slackernews"):
            assert r.status_code in (200, 403), f"{repo}: {r.status_code} {r.text[:200]}"  # Stable customer
        else:
            assert r.status_code == 200, f"B's own customer cannot read {repo}:{ref}: {r.status_code} {r.text[:200]}"
    return dict(srv=srv, a=a, b=b, cust_a=cust_a, reg_b=reg_b, counted_b=counted_b, vrepo=vrepo, image=image)


def _groups(env):
    a, b, reg_b, vrepo = env["a"], env["b"], env["reg_b"], env["vrepo"]
    three_layer = env["image"].layer_blobs()[0].digest
    nope = "sha256:" + secrets.token_hex(32)
    missing_app = unique("noapp")
    return {
        # group: [(repo, manifest ref, blob digest)] -- the first exists, the others do not;
        # "UPLAYER" stands for a layer the upstream really has (filled in by the test)
        "proxied repo": [
            (f"proxy/{b}/{reg_b}/{catalog.THREE_REPO}", catalog.TAG, "UPLAYER"),
            (f"proxy/{b}/{reg_b}/e2e/does-not-exist", catalog.TAG, nope),
            (f"proxy/{b}/no-such-registry/{catalog.THREE_REPO}", catalog.TAG, "UPLAYER"),
            (f"proxy/{missing_app}/{reg_b}/{catalog.THREE_REPO}", catalog.TAG, "UPLAYER"),
        ],
        "B's registry through A's path": [
            (f"proxy/{a}/{reg_b}/{catalog.THREE_REPO}", catalog.TAG, "UPLAYER"),
            (f"proxy/{a}/no-such-registry/{catalog.THREE_REPO}", catalog.TAG, "UPLAYER"),
        ],
        "vendor repo": [
            (vrepo, "1.0.0", three_layer),
            (f"{b}/{unique('missing')}", "1.0.0", nope),
            (f"{missing_app}/{vrepo.split('/', 1)[1]}", "1.0.0", three_layer),
        ],
        "vendor tag": [
            (vrepo, "1.0.0", three_layer),
            (vrepo, "9.9.9", nope),
        ],
        "stable chart": [
            (f"{b}/slackernews", CHART_VERSION, nope),
            (f"{b}/nochart", CHART_VERSION, nope),
            (f"{missing_app}/slackernews", CHART_VERSION, nope),
        ],
        "channel chart": [
            (f"{b}/beta/slackernews", CHART_VERSION, nope),
            (f"{b}/beta/nochart", CHART_VERSION, nope),
            (f"{b}/nochannel/slackernews", CHART_VERSION, nope),
        ],
        "chart version": [
            (f"{b}/slackernews", CHART_VERSION, nope),
            (f"{b}/slackernews", "9.9.9", nope),
        ],
    }


def test_other_apps_content_is_indistinguishable_from_missing(two_apps, upstream, counting_listener):
    env = two_apps
    srv = env["srv"]
    lic_a = env["cust_a"]["licenseId"]
    up_layer = json.loads(upstream.get_manifest(catalog.THREE_REPO, catalog.TAG)[0])["layers"][0]["digest"]
    groups = _groups(env)
    problems = []

    basic = requests.Session()
    basic.auth = ("e2e-client", lic_a)

    def token_for(repo):
        r = requests.get(f"{srv.url}/v2/token", params={"service": srv.host, "scope": f"repository:{repo}:pull"},
                         auth=("e2e-client", lic_a), timeout=10)
        return r

    for group, members in groups.items():
        answers = {}
        for repo, ref, digest in members:
            digest = up_layer if digest == "UPLAYER" else digest
            sig = []
            for method in ("GET", "HEAD"):
                r = basic.request(method, f"{srv.url}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT},
                                  timeout=30)
                sig.append((f"{method} manifest", _signature(r) if method == "GET" else r.status_code))
            r = basic.get(f"{srv.url}/v2/{repo}/tags/list", timeout=30)
            sig.append(("tags", _signature(r)))
            r = basic.get(f"{srv.url}/v2/{repo}/blobs/{digest}", timeout=30)
            sig.append(("blob", _signature(r)))
            r = basic.get(f"{srv.url}/v2/{repo}/referrers/{digest}", timeout=30)
            sig.append(("referrers", _signature(r)))
            # Token flow: same answer, no grant, and the token opens nothing.
            t = token_for(repo)
            sig.append(("token status", t.status_code))
            if t.status_code == 200:
                tok = t.json()["token"]
                granted = [x for x in jwt_parts(tok)[1].get("access") or [] if x.get("name") == repo]
                sig.append(("token grants", bool(granted)))
                if granted and not repo.startswith((f"proxy/{env['a']}/", f"{env['a']}/")):
                    problems.append(f"{group}: A's license was granted {granted}")
                r = requests.get(f"{srv.url}/v2/{repo}/manifests/{ref}",
                                 headers={"Authorization": f"Bearer {tok}", "Accept": MANIFEST_ACCEPT}, timeout=30)
                sig.append(("bearer manifest", _signature(r)))
            answers[(repo, ref)] = sig
            for what, s in sig:
                status = s[0] if isinstance(s, tuple) else s
                if what not in ("token status", "token grants") and status in (200, 206):
                    problems.append(f"{group}: A's license got {what} of {repo}:{ref} -> {status}")
        distinct = {tuple(v) for v in answers.values()}
        if len(distinct) > 1:
            detail = "\n    ".join(f"{k[0]}:{k[1]} -> {v}" for k, v in answers.items())
            problems.append(f"{group}: answers differ between existing and missing:\n    {detail}")
    assert not problems, "app A can tell (or read) app B's content:\n" + "\n".join(problems)


def test_unusable_upstream_never_contacted(two_apps, counting_listener):
    env = two_apps
    srv, a, b = env["srv"], env["a"], env["b"]
    s = srv.session(env["cust_a"]["licenseId"])
    host_like = f"127.0.0.1:{counting_listener.port}"
    digest = "sha256:" + "1" * 64
    before = counting_listener.count
    for name in (f"proxy/{b}/{env['counted_b']}/x", f"proxy/{a}/{env['counted_b']}/x", f"proxy/{a}/{host_like}/x",
                 f"proxy/{b}/{host_like}/x"):
        for path in (f"{name}/manifests/latest", f"{name}/blobs/{digest}", f"{name}/tags/list",
                     f"{name}/referrers/{digest}"):
            r = s.get(f"{srv.url}/v2/{path}", headers={"Accept": MANIFEST_ACCEPT}, timeout=15)
            assert r.status_code in (401, 403, 404), f"{path}: {r.status_code} {r.text[:200]}"
            t = requests.get(f"{srv.url}/v2/token", params={"service": srv.host, "scope": f"repository:{name}:pull"},
                             auth=("x", env["cust_a"]["licenseId"]), timeout=10)
            assert t.status_code in (200, 401, 403), t.status_code
    assert counting_listener.count == before == 0, (
        f"Portcullis connected {counting_listener.count - before} time(s) to an upstream app A may not use"
    )
