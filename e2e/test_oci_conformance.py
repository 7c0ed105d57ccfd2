"""OCI distribution-spec conformance, in our own words (from the project's conformance checklist, which
inventories every check of the official Go suite, both generations, plus spec statements).

Covers what both generations of the official suite check (the Ginkgo suite, "A", and the rewrite,
"B") plus spec statements neither checks (Link paging, ``n=0``, error codes):

* auth exactly like their clients (anonymous first, one token fetched for the challenged scope,
  one retry), and the challenge itself: push needs ``pull,push``, DELETE needs ``delete``, a mount
  with ``from`` needs both repositories in one challenge;
* pull: blobs, manifests by tag and digest, missing content, ``.INVALID_MANIFEST_NAME``, Range;
* push: every blob upload flavour (monolithic POST, POST+PUT, chunked, out of order, streamed,
  cancel, mounts, zero-byte and ``{}`` blobs, bad digests), each for sha256 **and sha512**, and
  every manifest shape of the checklist, byte for byte;
* discovery: tag lists and paging, referrers (dangling subjects, ``OCI-Subject``, filtering);
* management: tag, manifest and blob deletes, effective at once.

The vendor side of Portcullis is under test: repositories ``<app>/<repo>``, pushed with a vendor
push token as the password. Every test pushes random content, so reruns never collide. Tests
assert the spec, not Portcullis's current behaviour: where the spec allows alternatives exactly
those are accepted. A failing push needed to set a test up fails the test with ``setup:`` in
the message.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from portcullis_testkit.conformance import (
    ALGORITHMS,
    DATASETS,
    EMPTY_JSON,
    MANIFEST_ACCEPT,
    MT_OCI_CONFIG,
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
    MT_OCTET,
    Blob,
    DataSet,
    Manifest,
    RegistryClient,
    SetupError,
    build_artifact,
    build_image,
    chunked,
    describe,
    digest_of,
    empty_config,
    error_body_problem,
    fetch_token,
    index_of,
    make_manifest,
    next_link,
    parse_challenge,
    parse_scopes,
    push_dataset,
    push_manifest,
    put_manifest,
    rand_hex,
    random_digest,
    token_from,
    upload_blob,
)
from portcullis_testkit.helm import create_token
from portcullis_testkit.util import unique

USERNAME = "conformance"  # any user name: the password (a vendor push token) is what counts
CHUNK_BLOB_SIZE = 3067  # 3 x 1024 - 5, the official suite's multi-chunk blob
CHUNK_MIN = 1024


# ===================================================================== fixtures
@dataclass
class Env:
    server: Any
    app: str
    token: str
    repo1: str  # main repository
    repo2: str  # cross-mount source

    def repo(self, name: str) -> str:
        return f"{self.app}/{name}"

    def client(self) -> RegistryClient:
        return RegistryClient(self.server.url, USERNAME, self.token)


@pytest.fixture(scope="module")
def env(portcullis) -> Env:
    """A fresh vendor app and push token on the shared server (CLI only: nothing pushed here)."""
    app = portcullis.create_app(unique("conf"))["slug"]
    token = create_token(portcullis, scope="push")["token"]
    return Env(portcullis, app, token, f"{app}/repo1", f"{app}/repo2")


@pytest.fixture
def client(env) -> RegistryClient:
    """A client with an empty auth cache: every test meets its own challenges."""
    return env.client()


_SHARED: Dict[Tuple[str, str], Tuple[str, Any]] = {}


def shared(env: Env, key: str, build: Callable[[], Any]) -> Any:
    """Build something several tests read (pushed inside a test, so a failure fails, never errors)."""
    k = (env.app, key)
    if k not in _SHARED:
        try:
            _SHARED[k] = ("ok", build())
        except AssertionError as exc:
            _SHARED[k] = ("err", exc)
            raise
    kind, value = _SHARED[k]
    if kind == "err":
        raise SetupError(f"setup: shared content {key!r} could not be pushed: {value}")
    return value


# ====================================================================== helpers
def expect(resp: requests.Response, *statuses: int, what: str = "") -> requests.Response:
    assert resp.status_code in statuses, (
        f"{what + ': ' if what else ''}expected {' or '.join(map(str, statuses))}, got {resp.status_code}: "
        f"{describe(resp)}")
    return resp


def expect_error(resp: requests.Response, status: int, codes=None, what: str = "") -> None:
    expect(resp, status, what=what)
    problem = error_body_problem(resp, codes)
    assert problem is None, f"{what + ': ' if what else ''}{problem}"


def uploads(repo: str) -> str:
    return f"/v2/{repo}/blobs/uploads/"


def blob_path(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def manifest_path(repo: str, ref: str) -> str:
    return f"/v2/{repo}/manifests/{ref}"


def octet(**extra: str) -> Dict[str, str]:
    h = {"Content-Type": MT_OCTET}
    h.update(extra)
    return h


def location(client: RegistryClient, resp: requests.Response, what: str) -> str:
    loc = client.location(resp)
    assert loc, f"{what}: no Location header: {describe(resp)}"
    return loc


def blob_problems(client: RegistryClient, repo: str, data: bytes, digest: str) -> List[str]:
    """HEAD and GET of a stored blob (P-B4/P-B5): 200, empty HEAD body, exact bytes and lengths."""
    out = []
    h = client.head(blob_path(repo, digest))
    if h.status_code != 200:
        out.append(f"blob HEAD: expected 200: {describe(h)}")
    else:
        if h.content:
            out.append(f"blob HEAD returned a body of {len(h.content)} bytes")
        if h.headers.get("Content-Length") != str(len(data)):
            out.append(f"blob HEAD Content-Length {h.headers.get('Content-Length')!r} != {len(data)}")
        dcd = h.headers.get("Docker-Content-Digest")
        if dcd is not None and dcd != digest:
            out.append(f"blob HEAD Docker-Content-Digest {dcd!r} != {digest}")
    g = client.get(blob_path(repo, digest))
    if g.status_code != 200:
        out.append(f"blob GET: expected 200: {describe(g)}")
    else:
        if g.content != data:
            out.append(f"blob GET body differs from what was pushed ({len(g.content)} vs {len(data)} bytes)")
        if g.headers.get("Content-Length") != str(len(data)):
            out.append(f"blob GET Content-Length {g.headers.get('Content-Length')!r} != {len(data)}")
        dcd = g.headers.get("Docker-Content-Digest")
        if dcd is not None and dcd != digest:
            out.append(f"blob GET Docker-Content-Digest {dcd!r} != {digest}")
    return out


def assert_blob_created(client: RegistryClient, repo: str, resp: requests.Response, data: bytes, digest: str,
                        what: str) -> None:
    """The end of every successful upload: 201 + Location that serves the bytes, then HEAD/GET."""
    expect(resp, 201, what=what)
    loc = location(client, resp, what)
    problems = []
    dcd = resp.headers.get("Docker-Content-Digest")
    if dcd is not None and dcd != digest:
        problems.append(f"{what}: Docker-Content-Digest {dcd!r} != {digest}")
    g = client.get(loc)
    if g.status_code != 200 or g.content != data:
        problems.append(f"GET of the 201 Location must give 200 and the exact bytes: {describe(g, 80)}")
    problems += blob_problems(client, repo, data, digest)
    assert not problems, "\n".join(problems)


def corrupt(data: bytes) -> bytes:
    """The official suite's bad-digest body: the content plus 5 trailing bytes."""
    return data + os.urandom(5)


def chunk_size_for(post: requests.Response, size: int) -> int:
    """Three chunks unless the registry asks for bigger ones (``OCI-Chunk-Min-Length``); never below 1024."""
    chunk = size // 3 + 1
    advertised = post.headers.get("OCI-Chunk-Min-Length")
    if advertised:
        assert re.fullmatch(r"\d+", advertised.strip()), f"OCI-Chunk-Min-Length is not an integer: {advertised!r}"
        chunk = max(chunk, int(advertised))
    return min(max(chunk, CHUNK_MIN), size)


RANGE_0_N = re.compile(r"^0-(\d+)$")


def chunked_upload(client: RegistryClient, repo: str, data: bytes, digest: str, *, put_last: bool = False,
                   out_of_order: bool = False) -> requests.Response:
    """POST, then PATCH chunks (optionally the last one inside the PUT); returns the final PUT's response.

    With ``out_of_order`` a wrong chunk is sent before every good one (first one chunk ahead, then,
    once that would pass the end, from byte 0 again): it must get 416, the session must survive,
    and GET on the same URL must answer 204 with ``Range: 0-<last received byte>`` and a Location
    to carry on from.
    """
    post = expect(client.post(uploads(repo), data=b""), 202, what="POST to start a chunked upload")
    loc = location(client, post, "POST to start a chunked upload")
    chunk = chunk_size_for(post, len(data))
    received = 0
    while received < len(data):
        if out_of_order:
            bad_start = received + chunk
            if bad_start >= len(data):
                bad_start = 0
            bad_end = min(bad_start + chunk, len(data))
            in_put = put_last and bad_end == len(data)
            url = client.with_query(loc, digest=digest) if in_put else loc
            bad = client.request("PUT" if in_put else "PATCH", url, data=data[bad_start:bad_end],
                                 headers=octet(**{"Content-Range": f"{bad_start}-{bad_end - 1}"}))
            expect(bad, 416, what=f"out-of-order chunk {bad_start}-{bad_end - 1} sent by "
                                  f"{'PUT' if in_put else 'PATCH'} after {received} bytes were accepted")
            st = expect(client.get(url), 204, what="upload status GET after a 416 (the session must survive)")
            rng = st.headers.get("Range", "")
            m = RANGE_0_N.match(rng)
            assert m, f"upload status Range must be 0-<n>, got {rng!r}: {describe(st)}"
            if received:
                assert int(m.group(1)) == received - 1, f"upload status Range {rng!r} != 0-{received - 1}"
            loc = location(client, st, "upload status GET")
        start, end = received, min(received + chunk, len(data))
        hdrs = octet(**{"Content-Range": f"{start}-{end - 1}"})
        if put_last and end == len(data):
            return client.put(client.with_query(loc, digest=digest), data=data[start:end], headers=hdrs)
        p = expect(client.patch(loc, data=data[start:end], headers=hdrs), 202, what=f"PATCH chunk {start}-{end - 1}")
        assert p.headers.get("Range") == f"0-{end - 1}", f"PATCH chunk {start}-{end - 1}: Range must be 0-{end - 1}: {describe(p)}"
        loc = location(client, p, f"PATCH chunk {start}-{end - 1}")
        received = end
    return client.put(client.with_query(loc, digest=digest), data=b"", headers=octet())


def streamed_upload(client: RegistryClient, repo: str, data: bytes, digest: str, transfer: str = "chunked"):
    """POST, one PATCH with the whole body and no Content-Range, then an empty PUT ``?digest=``."""
    post = expect(client.post(uploads(repo), data=b""), 202, what="POST to start a streamed upload")
    loc = location(client, post, "POST to start a streamed upload")
    body = chunked(data, 1000) if transfer == "chunked" else data
    p = expect(client.patch(loc, data=body, headers=octet()), 202, what=f"streamed PATCH ({transfer})")
    loc = location(client, p, f"streamed PATCH ({transfer})")
    return client.put(client.with_query(loc, digest=digest), data=b"", headers=octet())


def manifest_problems(resp: requests.Response, m: Manifest, head: bool, what: str) -> List[str]:
    """P-B2/P-B3: 200, Content-Type exactly the mediaType, exact length and bytes, digest header equal."""
    if resp.status_code != 200:
        return [f"{what}: expected 200: {describe(resp)}"]
    out = []
    ct = resp.headers.get("Content-Type")
    if ct != m.media_type:
        out.append(f"{what}: Content-Type {ct!r} != {m.media_type!r}")
    if resp.headers.get("Content-Length") != str(m.size):
        out.append(f"{what}: Content-Length {resp.headers.get('Content-Length')!r} != {m.size}")
    dcd = resp.headers.get("Docker-Content-Digest")
    if dcd != m.digest:
        out.append(f"{what}: Docker-Content-Digest {dcd!r} != {m.digest}")
    if head and resp.content:
        out.append(f"{what}: HEAD returned a {len(resp.content)}-byte body")
    if not head and resp.content != m.body:
        out.append(f"{what}: body is not byte-identical to what was pushed "
                   f"({len(resp.content)} vs {m.size} bytes)")
    return out


def fetch_manifest(client: RegistryClient, path_or_url: str, method: str = "GET") -> requests.Response:
    return client.request(method, path_or_url, headers={"Accept": MANIFEST_ACCEPT})


def put_problems(client: RegistryClient, resp: requests.Response, m: Manifest, what: str) -> List[str]:
    """U-B15/U-B16: 201, Location, digest header equal; GET of the Location serves the exact manifest."""
    if resp.status_code != 201:
        return [f"{what}: expected 201: {describe(resp)}"]
    out = []
    dcd = resp.headers.get("Docker-Content-Digest")
    if dcd != m.digest:
        out.append(f"{what}: Docker-Content-Digest {dcd!r} != {m.digest}")
    loc = client.location(resp)
    if not loc:
        out.append(f"{what}: 201 without a Location")
    else:
        out += manifest_problems(fetch_manifest(client, loc), m, False, f"GET of the Location after {what}")
    return out


def list_tags(client: RegistryClient, repo: str, **params) -> requests.Response:
    return client.get(f"/v2/{repo}/tags/list", params=params or None)


def tags_of(resp: requests.Response, repo: str) -> List[str]:
    expect(resp, 200, what="tag list")
    body = resp.json()
    assert isinstance(body, dict) and body.get("name") == repo, f"tag list must be {{\"name\": {repo!r}, \"tags\": [...]}}: {body}"
    tags = body.get("tags")
    assert isinstance(tags, list), f"tag list 'tags' must be a list: {body}"
    return tags


def upload_or_fail(client: RegistryClient, repo: str, data: bytes, algorithm: str) -> str:
    d = digest_of(data, algorithm)
    upload_blob(client, repo, data, d)
    return d


def _single(img, tag: Optional[str] = None) -> DataSet:
    """A data set of one image (optionally tagged)."""
    ds = DataSet("single", img.manifest.algorithm)
    m = ds.add_image(img)
    if tag:
        ds.tags[tag] = m
    return ds


# ========================================================== 1. base and auth
def test_ping_v2_is_200(client):
    r = client.get("/v2/")
    expect(r, 200, what="GET /v2/ (after the auth flow)")
    version = r.headers.get("Docker-Distribution-API-Version")
    assert version in (None, "registry/2.0"), f"Docker-Distribution-API-Version {version!r}"


def _anonymous() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


CHALLENGE_CASES = ["pull-manifest-get", "push-blob-upload-post", "push-manifest-put", "delete-manifest",
                   "delete-blob", "mount-from-both-repositories"]


@pytest.mark.parametrize("case", CHALLENGE_CASES)
def test_auth_challenge_names_the_scope_the_request_needs(env, client, case):
    """An anonymous request gets a Bearer challenge whose scope covers what the request needs;
    a token fetched for exactly that scope then makes the same request succeed."""
    repo = env.repo(f"auth-{case}")
    src = env.repo(f"auth-{case}-src")
    method, url, body, headers = "GET", "", b"", {}
    want: Dict[str, set] = {}
    exact_scope: Optional[str] = None
    ok: Tuple[int, ...] = (200,)
    if case == "pull-manifest-get":
        img = build_image(layers=1)
        push_dataset(client, repo, _single(img, "pulled"))
        method, url = "GET", manifest_path(repo, "pulled")
        exact_scope, ok = f"repository:{repo}:pull", (200,)
    elif case == "push-blob-upload-post":
        method, url = "POST", uploads(repo)
        exact_scope, ok = f"repository:{repo}:pull,push", (202,)
    elif case == "push-manifest-put":
        img = build_image(layers=1)
        for b in (img.config, *img.layers):
            upload_blob(client, repo, b.data, b.digest)
        method, url, body = "PUT", manifest_path(repo, "challenged"), img.manifest.body
        headers = {"Content-Type": MT_OCI_MANIFEST}
        exact_scope, ok = f"repository:{repo}:pull,push", (201,)
    elif case == "delete-manifest":
        img = build_image(layers=1)
        push_dataset(client, repo, _single(img, "doomed"))
        method, url = "DELETE", manifest_path(repo, img.manifest.digest)
        want, ok = {repo: {"delete"}}, (202,)
    elif case == "delete-blob":
        data = os.urandom(64)
        d = upload_or_fail(client, repo, data, "sha256")
        method, url = "DELETE", blob_path(repo, d)
        want, ok = {repo: {"delete"}}, (202,)
    elif case == "mount-from-both-repositories":
        data = os.urandom(64)
        d = upload_or_fail(client, src, data, "sha256")
        method = "POST"
        url = RegistryClient.with_query(uploads(repo), mount=d, **{"from": src})
        want, ok = {repo: {"pull", "push"}, src: {"pull"}}, (201,)

    anon = _anonymous()
    full = urljoin(env.server.url + "/", url.lstrip("/"))
    r = anon.request(method, full, data=body, headers=headers, timeout=30)
    expect(r, 401, what=f"anonymous {method} {url}")
    header = r.headers.get("WWW-Authenticate", "")
    ch = parse_challenge(header)
    assert ch.scheme == "bearer", f"challenge is not Bearer: {header!r}"
    for p in ("realm", "service", "scope"):
        assert ch.params.get(p), f"challenge lacks a quoted {p}=\"...\": {header!r}"
    assert error_body_problem(r, ["UNAUTHORIZED"]) is None, error_body_problem(r, ["UNAUTHORIZED"])
    if exact_scope is not None:
        assert ch.scope == exact_scope, f"{method} {url} challenged with scope {ch.scope!r}, expected {exact_scope!r}"
    else:
        granted = parse_scopes(ch.scope)
        assert set(granted) == set(want), (
            f"{method} {url} challenge must name exactly the repositories {sorted(want)} in one scope "
            f"(space-separated), got {ch.scope!r}")
        for name, actions in want.items():
            if case == "mount-from-both-repositories" and name == repo:
                ok_actions = granted[name] == actions
            else:
                ok_actions = actions <= granted[name]
            assert ok_actions, f"challenge scope {ch.scope!r}: repository {name} needs actions {sorted(actions)}"

    t = fetch_token(anon, urljoin(r.url, ch.params["realm"]), ch.params["service"], ch.scope, USERNAME, env.token)
    expect(t, 200, what=f"token request for the challenged scope {ch.scope!r}")
    token = token_from(t)
    again = anon.request(method, full, data=body, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=30)
    expect(again, *ok, what=f"{method} {url} with a token for exactly the challenged scope {ch.scope!r}")
    if case == "mount-from-both-repositories":
        loc = urlsplit(urljoin(again.url, again.headers.get("Location", ""))).path
        assert loc == f"/v2/{repo}/blobs/{d}", f"mount Location path {loc!r} != /v2/{repo}/blobs/{d}"


# ================================================================ 2. pull basics
def _seed_repo1(env: Env, client: RegistryClient) -> None:
    """Make sure repo1 exists (has content) before asking it for missing things."""
    shared(env, "repo1-seed", lambda: push_dataset(client, env.repo1, _single(build_image(layers=1), "seed")))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_missing_blob_is_404(env, client, algorithm):
    _seed_repo1(env, client)
    d = random_digest(algorithm)
    expect(client.head(blob_path(env.repo1, d)), 404, what="HEAD of a never-pushed blob")
    expect_error(client.get(blob_path(env.repo1, d)), 404, ["BLOB_UNKNOWN"], what="GET of a never-pushed blob")


def test_missing_manifest_is_404(env, client):
    _seed_repo1(env, client)
    tag = "missing-" + "".join(chr(ord("a") + b % 26) for b in os.urandom(20))
    for ref in (random_digest("sha256"), tag):
        expect(fetch_manifest(client, manifest_path(env.repo1, ref), "HEAD"), 404, what=f"HEAD manifest {ref}")
        expect_error(fetch_manifest(client, manifest_path(env.repo1, ref)), 404, ["MANIFEST_UNKNOWN"],
                     what=f"GET manifest {ref}")


def test_invalid_manifest_name_is_404_not_400(env, client):
    _seed_repo1(env, client)
    for method in ("HEAD", "GET"):
        expect(fetch_manifest(client, manifest_path(env.repo1, ".INVALID_MANIFEST_NAME"), method), 404,
               what=f"{method} .INVALID_MANIFEST_NAME")


def test_manifest_get_of_malformed_digest_is_400_or_404_with_spec_error_body(env, client):
    _seed_repo1(env, client)
    r = client.get(manifest_path(env.repo1, "sha256:totallywrong"),
                   headers={"Accept": MANIFEST_ACCEPT, "Content-Type": MT_OCI_MANIFEST})
    expect(r, 400, 404, what="GET manifests/sha256:totallywrong")
    problem = error_body_problem(r)
    assert problem is None, problem


# ============================================================ 3. blob uploads
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_monolithic_post(env, client, algorithm):
    """POST ?digest= with the whole blob: 201; or 202 (single POST unsupported) and the PUT finishes it."""
    data = os.urandom(512)
    d = digest_of(data, algorithm)
    r = client.post(RegistryClient.with_query(uploads(env.repo1), digest=d), data=data, headers=octet())
    expect(r, 201, 202, what="monolithic POST ?digest=")
    if r.status_code == 202:
        loc = location(client, r, "202 to a monolithic POST")
        expect(client.get(blob_path(env.repo1, d)), 404, what="blob GET after a 202 (nothing stored yet)")
        r = client.put(client.with_query(loc, digest=d), data=data, headers=octet())
    assert_blob_created(client, env.repo1, r, data, d, "monolithic upload")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_post_then_put(env, client, algorithm):
    data = os.urandom(512)
    d = digest_of(data, algorithm)
    post = expect(client.post(uploads(env.repo1)), 202, what="POST without a body")
    loc = location(client, post, "POST")
    put = client.put(client.with_query(loc, digest=d), data=data, headers=octet())
    assert_blob_created(client, env.repo1, put, data, d, "PUT ?digest= with the whole blob")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_chunked_single_patch(env, client, algorithm):
    data = os.urandom(512)
    d = digest_of(data, algorithm)
    post = expect(client.post(uploads(env.repo1), data=b""), 202, what="POST (Content-Length: 0)")
    loc = location(client, post, "POST")
    p = client.patch(loc, data=data, headers=octet(**{"Content-Range": "0-511"}))
    expect(p, 202, what="PATCH 0-511")
    assert p.headers.get("Range") == "0-511", f"PATCH 0-511: Range must be 0-511: {describe(p)}"
    loc = location(client, p, "PATCH")
    put = client.put(client.with_query(loc, digest=d), data=b"", headers=octet())
    assert_blob_created(client, env.repo1, put, data, d, "empty PUT ?digest= after one chunk")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_chunked_multiple_patches(env, client, algorithm):
    data = os.urandom(CHUNK_BLOB_SIZE)
    d = digest_of(data, algorithm)
    put = chunked_upload(client, env.repo1, data, d)
    assert_blob_created(client, env.repo1, put, data, d, "empty PUT ?digest= after three chunks")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_chunked_last_chunk_in_put(env, client, algorithm):
    data = os.urandom(CHUNK_BLOB_SIZE)
    d = digest_of(data, algorithm)
    put = chunked_upload(client, env.repo1, data, d, put_last=True)
    assert_blob_created(client, env.repo1, put, data, d, "PUT ?digest= carrying the last chunk")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_out_of_order_chunk_is_416_and_session_survives(env, client, algorithm):
    data = os.urandom(CHUNK_BLOB_SIZE)
    d = digest_of(data, algorithm)
    put = chunked_upload(client, env.repo1, data, d, out_of_order=True)
    assert_blob_created(client, env.repo1, put, data, d, "empty PUT ?digest= after recovering from 416s")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_out_of_order_chunk_in_put_is_416(env, client, algorithm):
    data = os.urandom(CHUNK_BLOB_SIZE)
    d = digest_of(data, algorithm)
    put = chunked_upload(client, env.repo1, data, d, put_last=True, out_of_order=True)
    assert_blob_created(client, env.repo1, put, data, d, "PUT ?digest= with the last chunk after 416s")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_status_and_resent_chunk(env, client, algorithm):
    """Generation A's chunked flow: 22 + 20 bytes; re-sending chunk 1 to the original Location is
    416; GET on that original Location still reports 204 with ``Range: 0-21``."""
    post = expect(client.post(uploads(env.repo1), data=b""), 202, what="POST (Content-Length: 0)")
    original = location(client, post, "POST")
    advertised = int(post.headers.get("OCI-Chunk-Min-Length") or 0)
    first = max(22, advertised)
    data = os.urandom(first + 20)
    d = digest_of(data, algorithm)
    c1 = client.patch(original, data=data[:first], headers=octet(**{"Content-Range": f"0-{first - 1}"}))
    expect(c1, 202, what="PATCH chunk 1")
    assert c1.headers.get("Range") == f"0-{first - 1}", f"PATCH chunk 1: Range must be 0-{first - 1}: {describe(c1)}"
    location(client, c1, "PATCH chunk 1")
    again = client.patch(original, data=data[:first], headers=octet(**{"Content-Range": f"0-{first - 1}"}))
    expect(again, 416, what="chunk 1 sent again to the original POST Location")
    st = expect(client.get(original), 204, what="upload status GET on the original POST Location")
    assert st.headers.get("Range") == f"0-{first - 1}", f"upload status Range must be 0-{first - 1}: {describe(st)}"
    loc = location(client, st, "upload status GET")
    c2 = client.patch(loc, data=data[first:], headers=octet(**{"Content-Range": f"{first}-{len(data) - 1}"}))
    expect(c2, 202, what="PATCH chunk 2")
    assert c2.headers.get("Range") == f"0-{len(data) - 1}", f"PATCH chunk 2: Range must be 0-{len(data) - 1}: {describe(c2)}"
    loc = location(client, c2, "PATCH chunk 2")
    put = client.put(client.with_query(loc, digest=d), data=b"", headers=octet())
    assert_blob_created(client, env.repo1, put, data, d, "empty PUT ?digest= after two chunks")


def test_blob_upload_status_of_empty_session_is_204_with_range(env, client):
    post = expect(client.post(uploads(env.repo1), data=b""), 202, what="POST (Content-Length: 0)")
    loc = location(client, post, "POST")
    st = expect(client.get(loc), 204, what="upload status GET before any data")
    assert RANGE_0_N.match(st.headers.get("Range", "")), f"empty session: Range must be 0-<n>: {describe(st)}"
    location(client, st, "upload status GET")


@pytest.mark.parametrize("transfer", ["chunked", "content-length"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_streamed_patch(env, client, algorithm, transfer):
    """One PATCH with the whole blob and no Content-Range (B: Transfer-Encoding chunked; A: Content-Length)."""
    data = os.urandom(CHUNK_BLOB_SIZE if transfer == "chunked" else 42)
    d = digest_of(data, algorithm)
    put = streamed_upload(client, env.repo1, data, d, transfer)
    assert_blob_created(client, env.repo1, put, data, d, f"empty PUT ?digest= after a streamed ({transfer}) PATCH")


def test_blob_upload_cancel_is_204(env, client):
    post = expect(client.post(uploads(env.repo1), data=b""), 202, what="POST")
    loc = location(client, post, "POST")
    p = client.patch(loc, data=os.urandom(100), headers=octet(**{"Content-Range": "0-99"}))
    expect(p, 202, what="PATCH 0-99")
    loc = location(client, p, "PATCH")
    expect(client.delete(loc, data=b""), 204, what="DELETE of the upload session")
    expect(client.get(loc), 404, what="upload status GET after the upload was cancelled")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_mount_from_other_repository_is_201(env, client, algorithm):
    data = os.urandom(42)
    d = upload_or_fail(client, env.repo2, data, algorithm)
    r = client.post(RegistryClient.with_query(uploads(env.repo1), mount=d, **{"from": env.repo2}), data=b"")
    expect(r, 201, what=f"mount ?mount={d}&from={env.repo2}")
    path = urlsplit(location(client, r, "mount")).path
    assert path == f"/v2/{env.repo1}/blobs/{d}", f"mount Location path {path!r} != /v2/{env.repo1}/blobs/{d}"
    assert_blob_created(client, env.repo1, r, data, d, "mount")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_mount_of_missing_blob_is_not_201(env, client, algorithm):
    """The blob exists nowhere: the registry must fall back to an upload (202), never claim 201."""
    _seed_repo2(env, client)
    data = os.urandom(42)
    d = digest_of(data, algorithm)
    r = client.post(RegistryClient.with_query(uploads(env.repo1), mount=d, **{"from": env.repo2}), data=b"")
    assert r.status_code != 201, f"mount of a blob that exists nowhere answered 201: {describe(r)}"
    expect(r, 202, what="mount of a missing blob (fallback to an upload session)")
    loc = location(client, r, "202 to a failed mount")
    assert urlsplit(loc).path.startswith(f"/v2/{env.repo1}/blobs/uploads/"), f"fallback Location {loc!r}"
    put = client.put(client.with_query(loc, digest=d), data=data, headers=octet())
    assert_blob_created(client, env.repo1, put, data, d, "PUT ?digest= on the mount's fallback session")


def _seed_repo2(env: Env, client: RegistryClient) -> None:
    shared(env, "repo2-seed", lambda: upload_or_fail(client, env.repo2, os.urandom(32), "sha256"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_mount_without_from_of_absent_blob_is_202(env, client, algorithm):
    d = random_digest(algorithm)
    r = client.post(RegistryClient.with_query(uploads(env.repo1), mount=d), data=b"")
    expect(r, 202, what="mount without from of a blob that exists nowhere")
    loc = location(client, r, "202 to a mount without from")
    assert urlsplit(loc).path.startswith(f"/v2/{env.repo1}/blobs/uploads/"), f"fallback Location {loc!r}"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_mount_without_from_of_existing_blob(env, client, algorithm):
    """``from`` is optional: 201 (mounted) or 202 with a session that the upload then completes."""
    data = os.urandom(42)
    d = upload_or_fail(client, env.repo2, data, algorithm)
    r = client.post(RegistryClient.with_query(uploads(env.repo1), mount=d), data=b"")
    expect(r, 201, 202, what="mount without from of a blob in repo2")
    loc = location(client, r, "mount without from")
    if r.status_code == 201:
        assert urlsplit(loc).path == f"/v2/{env.repo1}/blobs/{d}", f"mount Location {loc!r}"
    else:
        assert urlsplit(loc).path.startswith(f"/v2/{env.repo1}/blobs/uploads/"), f"fallback Location {loc!r}"
        r = client.put(client.with_query(loc, digest=d), data=data, headers=octet())
    assert_blob_created(client, env.repo1, r, data, d, "mount without from")


@pytest.mark.parametrize("content", ["zero-byte", "empty-json"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_well_known_blob(env, client, algorithm, content):
    data = b"" if content == "zero-byte" else EMPTY_JSON
    repo = env.repo(f"well-known-{algorithm}-{content}")
    d = digest_of(data, algorithm)
    post = expect(client.post(uploads(repo)), 202, what="POST")
    put = client.put(client.with_query(location(client, post, "POST"), digest=d), data=data, headers=octet())
    expect(put, 201, what=f"PUT ?digest={d} of the {content} blob")
    h = expect(client.head(blob_path(repo, d)), 200, what=f"HEAD of the {content} blob")
    assert h.headers.get("Content-Length") == str(len(data)), (
        f"HEAD of the {content} blob must carry Content-Length: {len(data)}: {describe(h)}")
    assert_blob_created(client, repo, put, data, d, f"{content} blob")


BAD_DIGEST_METHODS = ["monolithic-post", "post-then-put", "chunked", "chunked-last-in-put", "streamed"]


@pytest.mark.parametrize("method", BAD_DIGEST_METHODS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_upload_with_wrong_digest_is_400(env, client, algorithm, method):
    """The bytes do not hash to the declared digest: the finishing request is 400 DIGEST_INVALID."""
    good = os.urandom(CHUNK_BLOB_SIZE)
    d = digest_of(good, algorithm)
    bad = corrupt(good)
    repo = env.repo1
    if method == "monolithic-post":
        r = client.post(RegistryClient.with_query(uploads(repo), digest=d), data=bad, headers=octet())
        if r.status_code == 202:
            loc = location(client, r, "202 to a monolithic POST")
            r = client.put(client.with_query(loc, digest=d), data=bad, headers=octet())
    elif method == "post-then-put":
        post = expect(client.post(uploads(repo)), 202, what="POST")
        r = client.put(client.with_query(location(client, post, "POST"), digest=d), data=bad, headers=octet())
    elif method == "chunked":
        r = chunked_upload(client, repo, bad, d)
    elif method == "chunked-last-in-put":
        r = chunked_upload(client, repo, bad, d, put_last=True)
    else:
        r = streamed_upload(client, repo, bad, d)
    expect_error(r, 400, ["DIGEST_INVALID"], what=f"{method} upload whose bytes do not match {d}")
    expect(client.head(blob_path(repo, d)), 404, what="HEAD of the digest after the rejected upload")


RANGE_ROWS = [
    # Range header, status, (start, end exclusive) of the expected body
    ("bytes=500-1499", 206, (500, 1500)),
    ("bytes=500-", 206, (500, 2048)),
    ("bytes=-500", 206, (1548, 2048)),
    ("bytes=2000-5000", 206, (2000, 2048)),
    ("bytes=500-0", 416, None),
    ("bytes=5000-10000", 416, None),
]


@pytest.mark.parametrize("rng,status,window", RANGE_ROWS, ids=[r[0] for r in RANGE_ROWS])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_range_request(env, client, algorithm, rng, status, window):
    def push():
        data = os.urandom(2048)
        return data, upload_or_fail(client, env.repo1, data, algorithm)

    data, d = shared(env, f"range-blob-{algorithm}", push)
    r = client.get(blob_path(env.repo1, d), headers={"Range": rng})
    expect(r, status, what=f"blob GET with Range: {rng}")
    if window is None:
        return
    start, end = window
    assert r.content == data[start:end], f"Range {rng}: body is not bytes [{start}:{end}] ({len(r.content)} bytes)"
    assert r.headers.get("Content-Length") == str(end - start), f"Range {rng}: {describe(r, 0)}"
    allowed = {f"bytes {start}-{end - 1}/2048", f"bytes {start}-{end - 1}/*"}
    assert r.headers.get("Content-Range") in allowed, (
        f"Range {rng}: Content-Range {r.headers.get('Content-Range')!r} not in {sorted(allowed)}")


# ================================================================ 4. manifests
def _dataset(name: str):
    return DATASETS[name]()


TAGGED_DATASETS = [n for n in DATASETS if n != "sha512-index"]


@pytest.mark.parametrize("name", list(DATASETS))
def test_manifest_push_by_digest(env, client, name):
    """U-B15: blobs first, then every manifest PUT by digest (children first, chunked body)."""
    ds = _dataset(name)
    for b in ds.blobs:
        upload_blob(client, env.repo1, b.data, b.digest)
    problems: List[str] = []
    for m in ds.manifests:
        r = put_manifest(client, env.repo1, m.digest, m, chunked_body=True)
        problems += put_problems(client, r, m, f"PUT manifests/{m.digest} ({m.label}, {m.size} bytes)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", TAGGED_DATASETS)
def test_manifest_push_by_tag(env, client, name):
    """U-B16: PUT manifests/<tag> with the same bytes (Content-Length body): 201 and the same checks."""
    ds = _dataset(name)
    for b in ds.blobs:
        upload_blob(client, env.repo1, b.data, b.digest)
    tagged = {m.digest for m in ds.tags.values()}
    for m in ds.manifests:
        if m.digest not in tagged:
            push_manifest(client, env.repo1, m.digest, m)
    problems: List[str] = []
    for tag, m in ds.tags.items():
        r = put_manifest(client, env.repo1, tag, m)
        problems += put_problems(client, r, m, f"PUT manifests/{tag} ({m.label}, {m.size} bytes)")
        problems += manifest_problems(fetch_manifest(client, manifest_path(env.repo1, tag)), m, False, f"GET {tag}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(DATASETS))
def test_manifest_pull_by_tag_and_digest(env, client, name):
    """P-B2..P-B5: HEAD/GET of every manifest by digest and tag, then every pushed blob."""
    ds = _dataset(name)
    push_dataset(client, env.repo1, ds)
    problems: List[str] = []
    refs = [(m.digest, m) for m in ds.manifests] + list(ds.tags.items())
    for ref, m in refs:
        for method in ("HEAD", "GET"):
            r = fetch_manifest(client, manifest_path(env.repo1, ref), method)
            problems += manifest_problems(r, m, method == "HEAD", f"{method} manifests/{ref}")
    for b in ds.blobs:
        problems += [f"{b.digest}: {p}" for p in blob_problems(client, env.repo1, b.data, b.digest)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", list(DATASETS))
def test_dataset_delete_tags_then_manifests_then_blobs(env, client, name):
    """M-B1..M-B3: each delete is 202 and a HEAD right after it is 404."""
    ds = _dataset(name)
    repo = env.repo(f"delete-{name}")
    push_dataset(client, repo, ds)
    problems: List[str] = []
    for tag, m in ds.tags.items():
        r = client.delete(manifest_path(repo, tag))
        if r.status_code != 202:
            problems.append(f"DELETE manifests/{tag}: expected 202: {describe(r)}")
            continue
        h = fetch_manifest(client, manifest_path(repo, tag), "HEAD")
        if h.status_code != 404:
            problems.append(f"HEAD manifests/{tag} right after its DELETE: expected 404, got {h.status_code}")
        h = fetch_manifest(client, manifest_path(repo, m.digest), "HEAD")
        if h.status_code != 200:
            problems.append(f"HEAD manifests/{m.digest} after deleting only tag {tag}: expected 200, got {h.status_code}")
    for m in reversed(ds.manifests):
        r = client.delete(manifest_path(repo, m.digest))
        if r.status_code != 202:
            problems.append(f"DELETE manifests/{m.digest} ({m.label}): expected 202: {describe(r)}")
            continue
        h = fetch_manifest(client, manifest_path(repo, m.digest), "HEAD")
        if h.status_code != 404:
            problems.append(f"HEAD manifests/{m.digest} right after its DELETE: expected 404, got {h.status_code}")
    for b in ds.blobs:
        r = client.delete(blob_path(repo, b.digest))
        if r.status_code != 202:
            problems.append(f"DELETE blobs/{b.digest}: expected 202: {describe(r)}")
            continue
        h = client.head(blob_path(repo, b.digest))
        if h.status_code != 404:
            problems.append(f"HEAD blobs/{b.digest} right after its DELETE: expected 404, got {h.status_code}")
    assert not problems, "\n".join(problems)


def test_manifest_put_with_mismatched_digest_is_400(env, client):
    """U-B21: the body (plus two trailing spaces) does not hash to the digest in the URL."""
    img = build_image(layers=1)
    for b in (img.config, *img.layers):
        upload_blob(client, env.repo1, b.data, b.digest)
    m = img.manifest
    r = client.put(manifest_path(env.repo1, m.digest), data=m.body + b"  ", headers={"Content-Type": m.media_type})
    expect_error(r, 400, ["DIGEST_INVALID"], what="manifest PUT whose bytes do not match the digest")
    expect(fetch_manifest(client, manifest_path(env.repo1, m.digest), "HEAD"), 404,
           what="HEAD of the digest after the rejected PUT")


def test_manifest_put_with_invalid_digest_syntax_is_400(env, client):
    """U-B22: PUT manifests/sha256:baddigeststring is 400; GET of it 400 or 404."""
    img = build_image(layers=1)
    for b in (img.config, *img.layers):
        upload_blob(client, env.repo1, b.data, b.digest)
    ref = "sha256:baddigeststring"
    r = client.put(manifest_path(env.repo1, ref), data=img.manifest.body, headers={"Content-Type": MT_OCI_MANIFEST})
    expect_error(r, 400, what=f"manifest PUT to {ref}")
    g = fetch_manifest(client, manifest_path(env.repo1, ref))
    expect(g, 400, 404, what=f"manifest GET of {ref}")
    assert error_body_problem(g) is None, error_body_problem(g)


def test_manifest_with_unknown_blob_is_400_manifest_blob_unknown(env, client):
    img = build_image(layers=1)
    upload_blob(client, env.repo1, img.config.data, img.config.digest)  # the layer is never pushed
    r = put_manifest(client, env.repo1, "missing-layer", img.manifest)
    expect_error(r, 400, ["MANIFEST_BLOB_UNKNOWN"], what="manifest PUT naming a layer never pushed")


# ============================================================== 5. tag listing
TAGS = ["1.0.0", "TEST0", "TEST1", "alpha", "beta", "latest", "tagtest0", "v1", "v2", "zeta"]


def _tag_repo(env: Env, client: RegistryClient) -> Tuple[str, List[str]]:
    """A repository holding exactly TAGS; returns (repo, its full tag list as the registry orders it)."""
    def build():
        repo = env.repo("tag-listing")
        img = build_image(layers=1)
        for b in (img.config, *img.layers):
            upload_blob(client, repo, b.data, b.digest)
        for t in TAGS:
            push_manifest(client, repo, t, img.manifest)
        return repo

    repo = shared(env, "tag-repo", build)
    return repo, tags_of(list_tags(client, repo), repo)


def test_tags_list_is_complete_and_sorted(env, client):
    repo, full = _tag_repo(env, client)
    assert sorted(full) == sorted(TAGS), f"tag list {full} != {sorted(TAGS)}"
    assert full in (sorted(TAGS), sorted(TAGS, key=lambda s: (s.lower(), s))), (
        f"tags must be in lexical (ASCII or case-insensitive) order: {full}")


def test_tags_list_n_returns_exactly_n_with_next_link(env, client):
    repo, full = _tag_repo(env, client)
    k = len(full) // 2
    r = list_tags(client, repo, n=k)
    page = tags_of(r, repo)
    assert page == full[:k], f"?n={k} gave {page}, expected the first {k}: {full[:k]}"
    assert next_link(r), f"?n={k} with more tags left must send Link: <...>; rel=\"next\": {describe(r)}"


def test_tags_list_last_is_exclusive(env, client):
    repo, full = _tag_repo(env, client)
    k = len(full) // 2
    last = full[k - 1]
    r = list_tags(client, repo, n=k, last=last)
    page = tags_of(r, repo)
    assert last not in page, f"?n={k}&last={last}: `last` itself is listed: {page}"
    assert 0 < len(page) <= k and page == full[k:k + len(page)], (
        f"?n={k}&last={last} gave {page}; expected the tags after {last!r}: {full[k:]}")
    if len(page) < len(full) - k:
        assert next_link(r), f"fewer than n tags and more left, but no Link rel=\"next\": {describe(r)}"


def test_tags_list_last_without_n_returns_the_rest(env, client):
    """D-B2: ``?last=`` without ``n``: nothing up to ``last``, everything after it."""
    repo, full = _tag_repo(env, client)
    last = full[len(full) // 2 - 1]
    page = tags_of(list_tags(client, repo, last=last), repo)
    assert page == full[len(full) // 2:], f"?last={last} gave {page}, expected {full[len(full) // 2:]}"


def test_tags_list_n_zero_is_empty_without_link(env, client):
    repo, _full = _tag_repo(env, client)
    r = list_tags(client, repo, n=0)
    assert tags_of(r, repo) == [], f"?n=0 must list no tags: {describe(r)}"
    assert "Link" not in r.headers, f"?n=0 must not send a Link header: {describe(r)}"


def test_tags_list_link_pages_cover_every_tag(env, client):
    repo, full = _tag_repo(env, client)
    r = list_tags(client, repo, n=3)
    seen: List[str] = []
    for _ in range(len(full) + 2):
        page = tags_of(r, repo)
        assert len(page) <= 3, f"page larger than n=3: {page}"
        seen += page
        link = next_link(r)
        if not link:
            break
        r = client.get(client.url(link, relative_to=r.url))
    assert seen == full, f"following Link rel=\"next\" from ?n=3 collected {seen}, expected {full}"


def test_tags_list_of_repository_without_content(env, client):
    """D-B1: a repository nothing was pushed to: 200 with an empty list, or 404 NAME_UNKNOWN."""
    repo = env.repo(f"never-{rand_hex(8)}")
    r = list_tags(client, repo)
    expect(r, 200, 404, what="tag list of an empty repository")
    if r.status_code == 200:
        assert tags_of(r, repo) == [], f"empty repository lists tags: {r.text}"
    else:
        assert error_body_problem(r, ["NAME_UNKNOWN"]) is None, error_body_problem(r, ["NAME_UNKNOWN"])


# ================================================================= 6. referrers
BAGEL = "application/vnd.nhl.peanut.butter.bagel"
CROISSANT = "application/vnd.nba.strawberry.jam.croissant"
FOOD_STAND = "application/vnd.food.stand"
SIGNATURE = "application/vnd.example.conformance.signature"
BUNDLE = "application/vnd.example.conformance.bundle"
DANGLING = "application/vnd.example.conformance.dangling"


@dataclass
class ReferrersWorld:
    repo: str
    image_subject: Manifest
    index_subject: Manifest
    missing_subject: str
    image_referrers: List[Manifest]
    index_referrers: List[Manifest]
    dangling_referrer: Manifest
    puts: List[Tuple[str, Manifest, requests.Response]]  # every referrer PUT (by digest and by tag)


def _note(label: str) -> Dict[str, str]:
    return {"org.opencontainers.conformance.test": f"{label}-{rand_hex(12)}"}


def _build_referrers_world(client: RegistryClient, repo: str) -> ReferrersWorld:
    """Referrers are pushed before their subjects exist; the subjects last."""
    subject_img = build_image(layers=1, label="image-subject")
    sd = subject_img.manifest.descriptor()
    blobs: List[Blob] = [subject_img.config, *subject_img.layers]

    def config_typed(t: str, label: str) -> Manifest:
        cfg = Blob(f"NHL Peanut Butter on my NHL bagel {rand_hex(8)}".encode(), t)
        empty = empty_config()
        blobs.extend([cfg, empty])
        return make_manifest({"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": cfg.descriptor(),
                              "layers": [empty.descriptor()], "subject": sd, "annotations": _note(label)},
                             label=label)

    def layer_typed(t: str, label: str) -> Manifest:
        art = build_artifact(artifact_type=t, layer=Blob(os.urandom(42), MT_OCTET), subject=sd,
                             annotations=_note(label), label=label)
        blobs.extend([art.config, *art.layers])
        return art.manifest

    cfg_bagel, layer_bagel = config_typed(BAGEL, "config-bagel"), layer_typed(BAGEL, "layer-bagel")
    cfg_croissant, layer_croissant = config_typed(CROISSANT, "config-croissant"), layer_typed(CROISSANT, "layer-croissant")
    food = index_of([(cfg_bagel, None), (layer_bagel, None)], label="index-food-stand", artifactType=FOOD_STAND,
                    subject=sd, annotations=_note("index-food-stand"))
    plain = build_image(layers=1, label="plain-image-with-subject",
                        manifest_extra={"subject": sd, "annotations": _note("plain-image")})
    blobs.extend([plain.config, *plain.layers])
    image_referrers = [cfg_bagel, layer_bagel, cfg_croissant, layer_croissant, food, plain.manifest]

    # An index subject: referrers are an index with artifactType, whose children also refer to it,
    # and an index without artifactType.
    archs = [build_image(layers=1, arch=a, label=f"index-subject-{a}") for a in ("amd64", "arm64")]
    for a in archs:
        blobs.extend([a.config, *a.layers])
    index_subject = index_of([(a.manifest, {"architecture": a_, "os": "linux"}) for a, a_ in zip(archs, ("amd64", "arm64"))],
                             label="index-subject", annotations=_note("index-subject"))
    idd = index_subject.descriptor()
    sigs = []
    for n in range(2):
        art = build_artifact(artifact_type=SIGNATURE, layer=Blob(os.urandom(64), MT_OCTET), subject=idd,
                             annotations=_note(f"signature-{n}"), label=f"signature-{n}")
        blobs.extend([art.config, *art.layers])
        sigs.append(art.manifest)
    bundle = index_of([(s, None) for s in sigs], label="bundle-index", artifactType=BUNDLE, subject=idd,
                      annotations=_note("bundle"))
    untyped = index_of([(sigs[0], None)], label="untyped-index", subject=idd, annotations=_note("untyped-index"))
    index_referrers = [*sigs, bundle, untyped]

    # A subject that never exists.
    missing = {"mediaType": MT_OCI_MANIFEST, "digest": digest_of(b"missing content " + os.urandom(8)), "size": 123}
    dangling = build_artifact(artifact_type=DANGLING, layer=Blob(os.urandom(64), MT_OCTET), subject=missing,
                              label="dangling")
    blobs.extend([dangling.config, *dangling.layers])

    uploaded = set()
    for b in blobs:
        if b.digest not in uploaded:
            upload_blob(client, repo, b.data, b.digest)
            uploaded.add(b.digest)
    puts: List[Tuple[str, Manifest, requests.Response]] = []
    for m in [*image_referrers, *index_referrers, dangling.manifest]:
        puts.append((m.digest, m, put_manifest(client, repo, m.digest, m, chunked_body=True)))
    for tag, m in (("tagged-artifact1", layer_bagel), ("tagged-artifact2", layer_croissant)):
        puts.append((tag, m, put_manifest(client, repo, tag, m)))
    # The subjects, last.
    push_manifest(client, repo, subject_img.manifest.digest, subject_img.manifest)
    for a in archs:
        push_manifest(client, repo, a.manifest.digest, a.manifest)
    push_manifest(client, repo, index_subject.digest, index_subject)
    return ReferrersWorld(repo, subject_img.manifest, index_subject, missing["digest"], image_referrers,
                          index_referrers, dangling.manifest, puts)


def _world(env: Env, client: RegistryClient) -> ReferrersWorld:
    return shared(env, "referrers", lambda: _build_referrers_world(client, env.repo("discovery")))


def _referrers(client: RegistryClient, repo: str, digest: str, **params) -> Tuple[List[Dict[str, Any]], requests.Response]:
    """GET referrers (following Link rel="next"), checking the index envelope of every page."""
    r = client.get(f"/v2/{repo}/referrers/{digest}", params=params or None)
    first = r
    entries: List[Dict[str, Any]] = []
    for _ in range(20):
        expect(r, 200, what=f"GET referrers/{digest} {params or ''}")
        assert r.headers.get("Content-Type") == MT_OCI_INDEX, (
            f"referrers Content-Type must be exactly {MT_OCI_INDEX!r}: {describe(r)}")
        body = r.json()
        assert body.get("schemaVersion") == 2 and body.get("mediaType") == MT_OCI_INDEX, f"not an OCI index: {body}"
        assert isinstance(body.get("manifests"), list), f"index without a manifests list: {body}"
        entries += body["manifests"]
        link = next_link(r)
        if not link:
            break
        r = client.get(client.url(link, relative_to=r.url))
    return entries, first


def _entry_problems(entries: List[Dict[str, Any]], expected: List[Manifest]) -> List[str]:
    out = []
    digests = [e.get("digest") for e in entries]
    if len(digests) != len(set(digests)):
        out.append(f"duplicate referrers entries: {digests}")
    want = {m.digest: m for m in expected}
    extra = set(digests) - set(want)
    missing = set(want) - set(digests)
    if extra:
        out.append(f"unexpected referrers: {sorted(extra)}")
    for d in sorted(missing):
        out.append(f"referrer {want[d].label} ({d}) is not listed")
    for e in entries:
        m = want.get(e.get("digest"))
        if m is None:
            continue
        if e.get("mediaType") != m.media_type:
            out.append(f"{m.label}: mediaType {e.get('mediaType')!r} != {m.media_type!r}")
        if e.get("size") != m.size:
            out.append(f"{m.label}: size {e.get('size')!r} != {m.size}")
        at = m.referrer_artifact_type
        if at is None:
            if "artifactType" in e:
                out.append(f"{m.label}: an index without artifactType must list none, got {e['artifactType']!r}")
        elif e.get("artifactType") != at:
            out.append(f"{m.label}: artifactType {e.get('artifactType')!r} != {at!r}")
        if m.annotations:
            if e.get("annotations") != m.annotations:
                out.append(f"{m.label}: annotations {e.get('annotations')!r} != {m.annotations!r}")
        elif e.get("annotations") not in (None, {}):
            out.append(f"{m.label}: has no annotations, listed with {e.get('annotations')!r}")
    return out


def test_referrers_of_nonexistent_repository_is_empty_index(env, client):
    """D-B1: before anything is pushed to the repository, referrers is 200 with an empty index."""
    entries, _ = _referrers(client, env.repo(f"no-such-repo-{rand_hex(8)}"), random_digest())
    assert entries == [], f"referrers of an empty repository: {entries}"


def test_referrers_of_never_pushed_subject_is_empty_index(env, client):
    _seed_repo1(env, client)
    entries, _ = _referrers(client, env.repo1, digest_of(b"hello world" + os.urandom(4)))
    assert entries == [], f"referrers of a digest nobody refers to: {entries}"


def test_referrers_with_bad_digest_is_400(env, client):
    _seed_repo1(env, client)
    r = client.get(f"/v2/{env.repo1}/referrers/sha256:baddigeststring")
    expect_error(r, 400, what="referrers of an invalid digest")


def test_referrer_put_before_subject_is_201_with_oci_subject(env, client):
    """U-B17/D-A1: a manifest whose subject does not exist (yet, or ever) is accepted, and the
    answer to its PUT (by digest and by tag) carries ``OCI-Subject: <subject digest>``."""
    w = _world(env, client)
    problems = []
    for ref, m, r in w.puts:
        if r.status_code != 201:
            problems.append(f"PUT manifests/{ref} ({m.label}, subject {m.subject} not pushed yet): "
                            f"expected 201: {describe(r)}")
        elif r.headers.get("OCI-Subject") != m.subject:
            problems.append(f"PUT manifests/{ref} ({m.label}): OCI-Subject {r.headers.get('OCI-Subject')!r} "
                            f"!= {m.subject}")
    assert not problems, "\n".join(problems)


def test_referrers_of_image_subject_lists_every_referrer(env, client):
    w = _world(env, client)
    entries, _ = _referrers(client, w.repo, w.image_subject.digest)
    problems = _entry_problems(entries, w.image_referrers)
    assert not problems, "\n".join(problems)


def test_referrers_artifact_type_falls_back_to_config_media_type(env, client):
    """An image manifest without artifactType is listed with its config's mediaType."""
    w = _world(env, client)
    entries, _ = _referrers(client, w.repo, w.image_subject.digest)
    by_digest = {e.get("digest"): e for e in entries}
    for m in w.image_referrers:
        if m.media_type == MT_OCI_MANIFEST and "artifactType" not in m.doc:
            e = by_digest.get(m.digest)
            assert e is not None, f"{m.label} is not listed"
            want = m.doc["config"]["mediaType"]
            assert e.get("artifactType") == want, f"{m.label}: artifactType {e.get('artifactType')!r} != {want!r}"


def test_referrers_of_index_subject(env, client):
    w = _world(env, client)
    entries, _ = _referrers(client, w.repo, w.index_subject.digest)
    problems = _entry_problems(entries, w.index_referrers)
    assert not problems, "\n".join(problems)


def test_referrers_of_dangling_subject(env, client):
    w = _world(env, client)
    entries, _ = _referrers(client, w.repo, w.missing_subject)
    problems = _entry_problems(entries, [w.dangling_referrer])
    assert not problems, "\n".join(problems)


FILTER_TYPES = [BAGEL, CROISSANT, FOOD_STAND, MT_OCI_CONFIG]


@pytest.mark.parametrize("artifact_type", FILTER_TYPES, ids=["bagel", "croissant", "food-stand", "image-config"])
def test_referrers_filtered_by_artifact_type(env, client, artifact_type):
    w = _world(env, client)
    entries, first = _referrers(client, w.repo, w.image_subject.digest, artifactType=artifact_type)
    applied = [v.strip() for v in first.headers.get("OCI-Filters-Applied", "").split(",") if v.strip()]
    assert applied == ["artifactType"], (
        f"?artifactType= must be answered with OCI-Filters-Applied: artifactType: {describe(first)}")
    expected = [m for m in w.image_referrers if m.referrer_artifact_type == artifact_type]
    wrong = [e for e in entries if e.get("artifactType") != artifact_type]
    assert not wrong, f"filtered list has entries of other types: {wrong}"
    problems = _entry_problems(entries, expected)
    assert not problems, "\n".join(problems)


# ======================================================== 7. content management
def test_tag_delete_is_202_then_head_404(env, client):
    repo = env.repo("manage-tags")
    img = build_image(layers=1)
    ds = _single(img, "tagtest0")
    ds.tags["keep"] = img.manifest
    push_dataset(client, repo, ds)
    before = tags_of(list_tags(client, repo), repo)
    r = client.delete(manifest_path(repo, "tagtest0"))
    expect(r, 202, what="DELETE manifests/tagtest0")
    expect(fetch_manifest(client, manifest_path(repo, "tagtest0"), "HEAD"), 404, what="HEAD of the tag right after DELETE")
    expect(fetch_manifest(client, manifest_path(repo, img.manifest.digest), "HEAD"), 200,
           what="HEAD by digest after deleting only a tag")
    expect(fetch_manifest(client, manifest_path(repo, "keep"), "HEAD"), 200, what="HEAD of the other tag")
    after = tags_of(list_tags(client, repo), repo)
    assert "tagtest0" not in after and len(after) < len(before), f"tags before {before}, after {after}"


def test_manifest_delete_by_digest_is_202_then_404(env, client):
    repo = env.repo("manage-manifests")
    doomed, kept = build_image(layers=1), build_image(layers=1)
    push_dataset(client, repo, _single(kept, "kept"))
    push_dataset(client, repo, _single(doomed, "doomed"))
    before = tags_of(list_tags(client, repo), repo)
    d = doomed.manifest.digest
    expect(client.delete(manifest_path(repo, d)), 202, what=f"DELETE manifests/{d}")
    expect(fetch_manifest(client, manifest_path(repo, d), "HEAD"), 404, what="HEAD by digest right after DELETE")
    expect_error(fetch_manifest(client, manifest_path(repo, d)), 404, ["MANIFEST_UNKNOWN"],
                 what="GET by digest after DELETE")
    after = tags_of(list_tags(client, repo), repo)
    assert len(after) < len(before) and "kept" in after, f"tags before {before}, after {after}"


def test_manifest_delete_of_unknown_digest_is_404(env, client):
    _seed_repo1(env, client)
    expect_error(client.delete(manifest_path(env.repo1, random_digest())), 404, ["MANIFEST_UNKNOWN"],
                 what="DELETE of a manifest that was never pushed")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_blob_delete_is_202_then_head_404(env, client, algorithm):
    data = os.urandom(128)
    d = upload_or_fail(client, env.repo1, data, algorithm)
    expect(client.delete(blob_path(env.repo1, d)), 202, what=f"DELETE blobs/{d}")
    expect(client.head(blob_path(env.repo1, d)), 404, what="HEAD right after the blob DELETE")
    expect_error(client.get(blob_path(env.repo1, d)), 404, ["BLOB_UNKNOWN"], what="GET after the blob DELETE")
