"""A hostile upstream registry and hostile Helm charts, for end-to-end tests.

A vendor registers its upstream endpoint, so an upstream is only as trustworthy as the
vendor (or whoever took over its DNS name). :class:`HostileUpstream` is a registry whose
answers try to turn Portcullis against its users or its own network:

* ``html/app`` serves an HTML page with a script as its "manifest": stored XSS if the
  proxy or the portal ever hands those bytes back to a browser as a page;
* ``loopback/app``, ``hex/app`` (loopback spelled ``0x7f000001``) and ``metadata/app``
  (the cloud metadata address) redirect manifests inward: SSRF. ``loopback-blob/app``
  serves a valid manifest and redirects only its blobs;
* ``third/app`` redirects to a third host whose challenge names a foreign token realm, and
  ``realm/app`` answers with that foreign realm on the registered endpoint itself: whatever
  credentials a client sends there are stolen;
* ``badport/app`` redirects to, and ``badport-realm/app`` names a token realm at, a URL whose
  port no TCP connection can have (``127.0.0.1:99999``): a client that trusts the URL's
  syntax may fail in ways its author never tested.

Four servers run on 127.0.0.1: ``main`` (the registry, HTTP Basic), ``secret`` (an internal
service or metadata endpoint: any request it receives is a leak), ``third`` and ``realm``
(a token endpoint that records the Authorization it is sent). Every request to every server
is recorded for assertions.

The chart helpers write charts carrying a "billion laughs" YAML alias bomb: a few hundred
bytes that expand to 9^9 nodes in any parser that copies aliases instead of sharing them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .util import free_port

SERVERS = ("main", "secret", "third", "realm")
#: A URL with a port above 65535.
BAD_PORT_URL = "http://127.0.0.1:99999"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
HTML_TYPE = "text/html; charset=utf-8"
METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
_API = {"Docker-Distribution-API-Version": "registry/2.0"}
_CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
_ROUTE = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")

#: The "manifest" of html/app. The marker element is built by the script and the title set
#: by it, so ``#xss`` / ``XSS-RAN`` show up in a browser only if the script ran; the
#: request to /portal/tokens is what a real attack would do with the victim's session.
HTML_PAYLOAD = """<!doctype html>
<html><head><meta charset="utf-8"><title>registry manifest</title></head>
<body>
<h1>Manifest</h1>
<script>
var p = document.createElement('p'); p.id = 'xss'; p.textContent = 'ran';
document.body.appendChild(p);
document.title = 'XSS-RAN';
fetch('/portal/tokens', {method: 'POST', credentials: 'include'});
</script>
</body></html>
"""


def _bomb() -> str:
    # a: &a [lol,lol,...]   b: &b [*a,*a,...]   ...   i: &i [*h,*h,...]: nine levels of nine.
    lines = [f"a: &a [{','.join(['lol'] * 9)}]"]
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


#: The "billion laughs" mapping (about 320 bytes, 9^9 = 387,420,489 leaves once expanded).
YAML_BOMB = _bomb()

Answer = Tuple[int, Dict[str, str], bytes]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(status: int, body: object, headers: Optional[Dict[str, str]] = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _oci_error(status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None) -> Answer:
    return _json(status, {"errors": [{"code": code, "message": message}]}, {**_API, **(headers or {})})


def _redirect(status: int, location: str) -> Answer:
    return status, {**_API, "Location": location}, b""


def _bearer_challenge(realm_url: str, service: str, repo: str) -> Answer:
    challenge = f'Bearer realm="{realm_url}/token",service="{service}",scope="repository:{repo}:pull"'
    return _oci_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})


@dataclass
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: Dict[str, str]  # names lower-cased
    server: str  # "main", "secret", "third" or "realm"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, port: int, name: str, owner: "HostileUpstream") -> None:
        self.name, self.owner = name, owner
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile/1"
    server: _Server

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        owner, name = self.server.owner, self.server.name
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner._record(RecordedRequest(self.command, self.path, headers, name))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain, so a keep-alive connection stays in sync
        status, out, body = owner._answer(name, self.path, headers.get("authorization", ""))
        self.send_response(status)
        for key, value in out.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # HEAD: the same headers, Content-Length included
            self.wfile.write(body)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET


class HostileUpstream:
    """The four hostile servers (see the module docstring), each in a daemon thread."""

    def __init__(self) -> None:
        self.username = "vendor"
        self.password = f"hpw-{secrets.token_hex(12)}"
        self.secret_value = f"secret-{secrets.token_hex(12)}"
        self.stolen_token = f"stolen-{secrets.token_hex(12)}"
        ports: List[int] = []
        while len(ports) < len(SERVERS):  # four distinct ports
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.ports: Dict[str, int] = dict(zip(SERVERS, ports))
        self.host = f"127.0.0.1:{self.ports['main']}"
        self.url = f"http://{self.host}"
        self.secret_url = f"http://127.0.0.1:{self.ports['secret']}"
        self.third_url = f"http://127.0.0.1:{self.ports['third']}"
        # The token service is named `localhost`: another host than the registry's 127.0.0.1, as a
        # foreign realm is (a realm on the registry's own host is approved by design).
        self.realm_url = f"http://localhost:{self.ports['realm']}"

        # good/app (and loopback-blob/app): a valid OCI image with one small random layer.
        layer = secrets.token_bytes(24)
        self.blobs: Dict[str, bytes] = {sha256_digest(_CONFIG): _CONFIG, sha256_digest(layer): layer}
        self.good_manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(_CONFIG), "size": len(_CONFIG)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}],
        }, separators=(",", ":")).encode()
        self.good_manifest_digest = sha256_digest(self.good_manifest)
        self.html_manifest_digest = sha256_digest(HTML_PAYLOAD.encode())

        self._records: Dict[str, List[RecordedRequest]] = {name: [] for name in SERVERS}
        self._lock = threading.Lock()
        self._running: List[Tuple[_Server, threading.Thread]] = []

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> "HostileUpstream":
        try:
            for name in SERVERS:
                server = _Server(self.ports[name], name, self)
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                          name=f"hostile-{name}", daemon=True)
                thread.start()
                # Only once serving: shutdown() on a server that never served blocks forever.
                self._running.append((server, thread))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        running, self._running = self._running, []
        for server, thread in running:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def __enter__(self) -> "HostileUpstream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- records
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._records[request.server].append(request)

    def requests(self, server: str) -> List[RecordedRequest]:
        """What ``server`` ("main", "secret", "third" or "realm") has received, oldest first."""
        with self._lock:
            return list(self._records[server])

    def reset(self) -> None:
        with self._lock:
            for records in self._records.values():
                records.clear()

    # ---------------------------------------------------------------- answers
    def _answer(self, server: str, path: str, authorization: str) -> Answer:
        if server == "secret":
            return _json(200, {"secret": self.secret_value})
        if server == "third":
            return _bearer_challenge(self.realm_url, "third", "third/app")
        if server == "realm":
            return _json(200, {"token": self.stolen_token, "access_token": self.stolen_token, "expires_in": 300})
        return self._main(path.split("?", 1)[0], authorization)

    def _authorized(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            return False
        return (hmac.compare_digest(user.encode(), self.username.encode())
                and hmac.compare_digest(password.encode(), self.password.encode()))

    def _main(self, path: str, authorization: str) -> Answer:
        if path.startswith("/v2/realm/app/"):
            # Checked before the credentials: the registered endpoint itself sends clients
            # (and whatever they hold) to a foreign realm, even when they authenticated.
            return _bearer_challenge(self.realm_url, "hostile", "realm/app")
        if path.startswith("/v2/badport-realm/app/"):
            return _bearer_challenge(BAD_PORT_URL, "hostile", "badport-realm/app")
        if not self._authorized(authorization):
            return _oci_error(401, "UNAUTHORIZED", "authentication required",
                              {"WWW-Authenticate": 'Basic realm="hostile"'})
        if path in ("/v2", "/v2/"):
            return _json(200, {}, _API)
        route = _ROUTE.match(path)
        if route is None:
            return _oci_error(404, "NAME_UNKNOWN", f"no route for {path}")
        repo, kind, ref = route.group("repo", "kind", "ref")
        return self._manifest(repo, ref) if kind == "manifests" else self._blob(repo, ref)

    def _manifest(self, repo: str, ref: str) -> Answer:
        redirects = {
            "loopback/app": f"{self.secret_url}/latest/meta-data/",
            "metadata/app": METADATA_URL,
            "hex/app": f"http://0x7f000001:{self.ports['secret']}/hex",
            "third/app": f"{self.third_url}/v2/third/app/manifests/{ref}",
            "badport/app": f"{BAD_PORT_URL}/v2/badport/app/manifests/{ref}",
        }
        if repo in redirects:
            return _redirect(302, redirects[repo])
        served = {
            "good/app": (self.good_manifest, OCI_MANIFEST),
            "loopback-blob/app": (self.good_manifest, OCI_MANIFEST),
            "html/app": (HTML_PAYLOAD.encode(), HTML_TYPE),
        }
        if repo not in served:
            return _oci_error(404, "NAME_UNKNOWN", f"repository {repo} not known")
        body, content_type = served[repo]
        digest = sha256_digest(body)
        # Any tag serves the content; a digest reference must be the content's digest.
        if ref.startswith("sha256:") and ref != digest:
            return _oci_error(404, "MANIFEST_UNKNOWN", f"manifest {ref} not known")
        return 200, {**_API, "Content-Type": content_type, "Docker-Content-Digest": digest}, body

    def _blob(self, repo: str, digest: str) -> Answer:
        if repo == "loopback-blob/app":
            return _redirect(307, f"{self.secret_url}/blob")
        if repo != "good/app":  # the other repositories have manifests only
            return _oci_error(404, "NAME_UNKNOWN", f"repository {repo} has no blobs")
        if digest not in self.blobs:
            return _oci_error(404, "BLOB_UNKNOWN", f"blob {digest} not known")
        headers = {**_API, "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
        return 200, headers, self.blobs[digest]


# ------------------------------------------------------------------ hostile charts
_CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  greeting: {{ .Values.greeting | default "hello" | quote }}
"""


def _write_chart(dest: Path, name: str, chart_extra: str, values: str) -> Path:
    chart = Path(dest) / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{chart_extra}")
    (chart / "values.yaml").write_text(values)
    (chart / "templates" / "configmap.yaml").write_text(_CONFIGMAP)
    return chart


def yaml_bomb_chart(dest: Path, name: str = "bomb", where: str = "values") -> Path:
    """Write the chart directory ``dest/name`` with :data:`YAML_BOMB` in ``values.yaml``
    (``where="values"``) or in ``Chart.yaml`` under an extra ``x-bomb:`` key, next to a
    valid name and version (``where="chart"``). Returns the chart directory."""
    if where == "values":
        return _write_chart(dest, name, "", YAML_BOMB)
    if where == "chart":
        nested = "".join("  " + line + "\n" for line in YAML_BOMB.splitlines())
        return _write_chart(dest, name, "x-bomb:\n" + nested, "greeting: hello\n")
    raise ValueError(f"where must be 'values' or 'chart', not {where!r}")


# ---------------------------------------------------------------------- self-test
def _self_test() -> None:
    import socket
    import tempfile

    import requests
    import yaml

    with HostileUpstream() as up:
        auth = (up.username, up.password)

        def get(url: str, **kw) -> requests.Response:
            return requests.get(url, allow_redirects=False, timeout=5, **kw)

        def manifests(repo: str, ref: str = "latest") -> str:
            return f"{up.url}/v2/{repo}/manifests/{ref}"

        r = get(up.url + "/v2/")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="hostile"', r.headers
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert get(up.url + "/v2/", auth=auth).json() == {}
        assert get(manifests("good/app")).status_code == 401
        assert get(manifests("good/app"), auth=("vendor", "wrong")).status_code == 401

        r = get(manifests("good/app"), auth=auth)
        assert r.status_code == 200 and r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == sha256_digest(r.content) == up.good_manifest_digest
        head = requests.head(manifests("good/app", up.good_manifest_digest), auth=auth, timeout=5)
        assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == str(len(r.content))
        assert head.headers["Docker-Content-Digest"] == up.good_manifest_digest
        assert get(manifests("good/app", "sha256:" + "0" * 64), auth=auth).status_code == 404
        manifest = r.json()
        for desc in [manifest["config"], *manifest["layers"]]:
            blob = get(f"{up.url}/v2/good/app/blobs/{desc['digest']}", auth=auth)
            assert blob.status_code == 200 and sha256_digest(blob.content) == desc["digest"]
        missing = get(f"{up.url}/v2/good/app/blobs/sha256:{'1' * 64}", auth=auth)
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
        assert get(manifests("nope/app"), auth=auth).json()["errors"][0]["code"] == "NAME_UNKNOWN"

        r = get(manifests("html/app"), auth=auth)
        assert r.headers["Content-Type"].startswith("text/html") and r.text == HTML_PAYLOAD
        assert r.headers["Docker-Content-Digest"] == sha256_digest(r.content) == up.html_manifest_digest
        static = re.sub(r"<script>.*</script>", "", HTML_PAYLOAD, flags=re.S)
        assert "XSS-RAN" not in static and 'id="xss"' not in HTML_PAYLOAD

        r = get(manifests("loopback/app"), auth=auth)
        assert r.status_code == 302 and r.headers["Location"] == up.secret_url + "/latest/meta-data/"
        assert get(r.headers["Location"]).json() == {"secret": up.secret_value}
        assert up.requests("secret")[-1].path == "/latest/meta-data/"
        r = get(manifests("loopback-blob/app"), auth=auth)
        assert r.headers["Docker-Content-Digest"] == up.good_manifest_digest
        r = get(f"{up.url}/v2/loopback-blob/app/blobs/{manifest['config']['digest']}", auth=auth)
        assert r.status_code == 307 and r.headers["Location"] == up.secret_url + "/blob"
        assert get(manifests("metadata/app"), auth=auth).headers["Location"] == METADATA_URL
        assert get(manifests("hex/app"), auth=auth).headers["Location"] == f"http://0x7f000001:{up.ports['secret']}/hex"

        r = get(manifests("third/app", "v1"), auth=auth)
        assert r.status_code == 302 and r.headers["Location"] == up.third_url + "/v2/third/app/manifests/v1"
        r = get(r.headers["Location"])
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="{up.realm_url}/token",service="third"')
        assert up.requests("third")[-1].path == "/v2/third/app/manifests/v1"

        r = get(up.realm_url + "/token?service=third&scope=repository:third/app:pull", auth=auth)
        assert r.json()["token"] == r.json()["access_token"] == up.stolen_token
        seen = up.requests("realm")[-1]
        assert seen.headers["authorization"] == requests.auth._basic_auth_str(*auth) and "scope=" in seen.path

        for path in ("/v2/realm/app/manifests/latest", "/v2/realm/app/blobs/" + up.good_manifest_digest):
            r = get(up.url + path, auth=auth)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"] == (
                f'Bearer realm="{up.realm_url}/token",service="hostile",scope="repository:realm/app:pull"')
        last = up.requests("main")[-1]
        assert last.server == "main" and last.method == "GET" and "authorization" in last.headers
        up.reset()
        assert all(up.requests(name) == [] for name in SERVERS)
    for port in up.ports.values():  # stop() closed every listener
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, port

    with tempfile.TemporaryDirectory() as tmp:
        for where, file in (("values", "values.yaml"), ("chart", "Chart.yaml")):
            chart = yaml_bomb_chart(Path(tmp), name=f"bomb-{where}", where=where)
            text = (chart / file).read_text()
            assert len(text.encode()) < 400 and (chart / "templates" / "configmap.yaml").is_file(), where
            # compose shares aliased nodes (linear): count the expansion, never build it.
            root = yaml.compose(text)
            if where == "chart":
                top = {k.value: v for k, v in root.value}
                assert top["name"].value == "bomb-chart" and top["version"].value == "0.1.0"
                root = top["x-bomb"]
            levels = {k.value: v for k, v in root.value}
            assert all(child is levels["h"] for child in levels["i"].value)  # aliases, not copies
            memo: Dict[int, int] = {}

            def leaves(node) -> int:
                if id(node) not in memo:
                    memo[id(node)] = sum(map(leaves, node.value)) if isinstance(node.value, list) else 1
                return memo[id(node)]

            assert leaves(levels["i"]) == 9 ** 9
    print("ok")


if __name__ == "__main__":
    _self_test()
