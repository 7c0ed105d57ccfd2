"""HTTPS with a CA made by the test, and every container runtime a customer's nodes run.

Portcullis serves ``--tls-cert/--tls-key`` issued by the test's CA. skopeo, podman, containerd
(``ctr``) and Helm are given that CA and verify the chain; each also fails without it, which
shows verification is really on. docker pulls over TLS too, but the Docker daemon treats
loopback registries as insecure whatever the certificate says, so it proves the pull, not the
verification. The certificate is renewed on disk and SIGHUP makes the next handshake present it
while a connection opened before keeps working.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from portcullis_testkit import catalog
from portcullis_testkit.oci import get_manifest, skopeo
from portcullis_testkit.portcullis import PortcullisServer
from portcullis_testkit.runtimes import Containerd, Dockerd, Podman, write_hosts_toml
from portcullis_testkit.tlsca import peer_certificate
from portcullis_testkit.util import wait_until


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, ca):
    cert, key = ca.issue("portcullis", ["localhost", "127.0.0.1"])
    srv = PortcullisServer(tmp_path_factory.mktemp("tls"), tls=(cert, key, ca.cert_path)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls_tenant(tls_server, upstream):
    return tls_server.tenant(upstream)


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory, ca) -> Path:
    """A containers-image certificate directory: the CA as ``*.crt``."""
    d = tmp_path_factory.mktemp("certs.d")
    (d / "ca.crt").write_bytes(ca.cert_path.read_bytes())
    return d


def test_the_cli_and_plain_clients_verify_the_chain(tls_server, tls_tenant, ca):
    assert tls_server.url.startswith("https://")
    r = get_manifest(tls_server.session(tls_tenant.license_id), tls_server.url, tls_tenant.repo(catalog.THREE_REPO), catalog.TAG)
    assert r.status_code == 200, r.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.url + "/v2/", timeout=10)  # the system's roots do not know the test CA
    # The token realm a client is sent to is HTTPS on the same host.
    challenge = requests.get(tls_server.url + "/v2/", timeout=10, verify=str(ca.cert_path)).headers["WWW-Authenticate"]
    assert f'realm="https://{tls_server.host}/v2/token"' in challenge
    # The CLI: --ca-cert (or SSL_CERT_FILE, which the testkit sets), and a clear error without it.
    env = {"PORTCULLIS_API_URL": tls_server.url, "PORTCULLIS_API_TOKEN": tls_server.admin_token, "SSL_CERT_FILE": ""}
    untrusted = subprocess.run([str(tls_server.binary), "app", "ls"], env=env, capture_output=True, text=True, timeout=60)
    assert untrusted.returncode != 0 and "not trusted" in untrusted.stderr and "--ca-cert" in untrusted.stderr, untrusted.stderr
    trusted = subprocess.run([str(tls_server.binary), "app", "ls", "--ca-cert", str(ca.cert_path)], env=env,
                             capture_output=True, text=True, timeout=60)
    assert trusted.returncode == 0 and tls_tenant.app in trusted.stdout, trusted.stderr


def test_the_cli_says_what_is_wrong_with_a_tls_setup_at_once(tls_server, ca, tmp_path):
    """The mistakes people make reaching a TLS server, each said in words (no TLS library's type
    names, error codes or build paths) and at once, not after retrying for the connect timeout."""
    import time

    plain = PortcullisServer(tmp_path / "plain").start()
    try:
        not_pem = tmp_path / "ca.txt"
        not_pem.write_text("this is not a certificate\n")
        https_port = tls_server.url.rsplit(":", 1)[1]
        cases = [
            ({"PORTCULLIS_API_URL": tls_server.url}, ["--ca-cert", str(not_pem)], "holds no PEM certificate"),
            ({"PORTCULLIS_API_URL": tls_server.url}, ["--ca-cert", str(tmp_path / "missing.pem")], "cannot read the CA certificate"),
            ({"PORTCULLIS_API_URL": tls_server.url}, [], "pass --ca-cert"),
            ({"PORTCULLIS_API_URL": "https://" + plain.host}, ["--ca-cert", str(ca.cert_path)], "does not answer TLS"),
            ({"PORTCULLIS_API_URL": f"http://127.0.0.1:{https_port}"}, [], "if it serves HTTPS, give the URL as https://"),
            ({"PORTCULLIS_API_URL": tls_server.url + "/api/v1"}, ["--ca-cert", str(ca.cert_path)], "not the server's base URL"),
        ]
        for env, args, said in cases:
            started = time.monotonic()
            res = subprocess.run([str(tls_server.binary), "app", "ls", *args], capture_output=True, text=True, timeout=60,
                                 env={"PORTCULLIS_API_TOKEN": tls_server.admin_token, "SSL_CERT_FILE": "", **env})
            took = time.monotonic() - started
            assert res.returncode == 1 and said in res.stderr, f"{env} {args}: rc={res.returncode}\n{res.stderr}"
            for internal in ("NIOSSL", "HTTPClientError", "BoringSSL", ".build/", "Usage:"):
                assert internal not in res.stderr, f"{internal} in: {res.stderr}"
            assert took < 5, f"{env} {args}: took {took:.1f} s"
        # SSL_CERT_FILE is for TLS: a plain-HTTP server is reached whatever it names.
        ok = subprocess.run([str(plain.binary), "app", "ls"], capture_output=True, text=True, timeout=60,
                            env={"PORTCULLIS_API_URL": plain.url, "PORTCULLIS_API_TOKEN": plain.admin_token, "SSL_CERT_FILE": "/nonexistent"})
        assert ok.returncode == 0, ok.stderr
    finally:
        plain.stop()


def test_behind_a_load_balancer_the_operator_is_told_to_set_the_public_url(tmp_path):
    """Without --public-url clients are told the listen address whatever Host they used; a request
    for another host makes the server say so, once, with the setting that fixes it. With a public
    HTTPS URL (TLS ended in front), the portal's cookies are Secure."""
    srv = PortcullisServer(tmp_path / "behind").start()
    try:
        for _ in range(3):
            r = requests.get(srv.url + "/v2/", headers={"Host": "registry.example.com"}, timeout=10)
            assert r.status_code == 401 and f'realm="http://{srv.host}/v2/token"' in r.headers["WWW-Authenticate"], r.headers
        wait_until(lambda: "registry.example.com" in srv.log_text(), timeout=10, message=lambda: srv.log_text()[-2000:])
        warned = [ln for ln in srv.log_text().splitlines() if "registry.example.com" in ln and "public-url" in ln]
        assert len(warned) == 1, warned
    finally:
        srv.stop()
    fronted = PortcullisServer(tmp_path / "fronted", extra_args=["--public-url", "https://registry.example.com"]).start()
    try:
        page = requests.get(fronted.url + "/account", timeout=10)
        cookies = [v for k, v in page.headers.items() if k.lower() == "set-cookie"]
        assert cookies and all("Secure" in c for c in cookies), cookies
        r = requests.get(fronted.url + "/v2/", timeout=10)
        assert 'realm="https://registry.example.com/v2/token"' in r.headers["WWW-Authenticate"], r.headers
        assert "public-url" not in fronted.log_text()
    finally:
        fronted.stop()


def test_the_cli_gives_up_on_a_silent_server_when_told(portcullis_binary):
    """Something that accepts connections and never answers (a hung server, a load balancer
    with no backend) holds the CLI for --timeout (or PORTCULLIS_API_TIMEOUT), 2 minutes by
    default, and then says so and how to wait longer."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d" % listener.getsockname()[1]
    try:
        for args, env in ((["--timeout", "1s"], {}), ([], {"PORTCULLIS_API_TIMEOUT": "1500ms"})):
            started = time.monotonic()
            res = subprocess.run([str(portcullis_binary), "app", "ls", *args], capture_output=True, text=True, timeout=60,
                                 env={"PORTCULLIS_API_URL": url, "PORTCULLIS_API_TOKEN": "t", **env})
            took = time.monotonic() - started
            assert res.returncode == 1 and "no answer from the Portcullis API" in res.stderr, res.stderr
            assert "--timeout or PORTCULLIS_API_TIMEOUT" in res.stderr, res.stderr
            assert 0.9 < took < 10, f"{args} {env}: gave up after {took:.1f} s"
        bad = subprocess.run([str(portcullis_binary), "app", "ls", "--timeout", "soon"], capture_output=True, text=True, timeout=60,
                             env={"PORTCULLIS_API_URL": url, "PORTCULLIS_API_TOKEN": "t"})
        assert bad.returncode != 0 and "--timeout takes a duration" in bad.stderr, bad.stderr
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_skopeo_verifies_and_pulls(tls_server, tls_tenant, cert_dir, tmp_path):
    src = f"docker://{tls_tenant.ref(catalog.THREE_REPO, catalog.TAG)}"
    creds = f"any:{tls_tenant.license_id}"
    refused = skopeo("inspect", "--raw", "--creds", creds, "--retry-times", "0", src)
    assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr
    out = tmp_path / "out"
    cp = skopeo("copy", "--src-cert-dir", str(cert_dir), "--src-creds", creds, "--retry-times", "0", src, f"oci:{out}:v1")
    assert cp.returncode == 0, cp.stderr


def test_podman_verifies_and_pulls(tls_server, tls_tenant, cert_dir):
    reason = Podman.unavailable_reason()
    if reason:
        pytest.skip(reason)
    podman = Podman()
    try:
        ref = tls_tenant.ref(catalog.THREE_REPO, catalog.TAG)
        refused = podman.pull(ref, ("any", tls_tenant.license_id))
        assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr
        cp = podman.pull(ref, ("any", tls_tenant.license_id), cert_dir=cert_dir)
        assert cp.returncode == 0, cp.stderr
        listed = podman.podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
        assert ref in listed, listed
    finally:
        podman.stop()


def _started(runtime):
    """The runtime, started; a runtime this machine cannot start is a skip with the reason."""
    try:
        return runtime().start()
    except Exception as exc:  # noqa: BLE001 - any start failure is the machine's, reported as such
        pytest.skip(f"{runtime.__name__.lower()} cannot start on this machine: {exc}")


def test_containerd_verifies_and_pulls(tls_server, tls_tenant, ca, tmp_path):
    reason = Containerd.unavailable_reason()
    if reason:
        pytest.skip(reason)
    ctd = _started(Containerd)
    try:
        ref = tls_tenant.ref(catalog.MULTI_REPO, catalog.TAG)
        # hosts.toml says HTTPS (ctr assumes plain HTTP for a loopback host); without the CA the
        # certificate is refused.
        untrusting = write_hosts_toml(tmp_path / "untrusting", tls_server.host)
        refused = ctd.pull(ref, user=f"any:{tls_tenant.license_id}", hosts_dir=untrusting)
        assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr
        trusting = write_hosts_toml(tmp_path / "trusting", tls_server.host, ca_cert=ca.cert_path)
        cp = ctd.pull(ref, user=f"any:{tls_tenant.license_id}", hosts_dir=trusting)
        assert cp.returncode == 0, cp.stderr + cp.stdout
        assert ref in ctd.images()
    finally:
        ctd.stop()


def test_docker_pulls(tls_server, tls_tenant):
    reason = Dockerd.unavailable_reason()
    if reason:
        pytest.skip(reason)
    dockerd = _started(Dockerd)
    try:
        login = dockerd.docker("login", tls_server.host, "--username", "any", "--password-stdin", input=tls_tenant.license_id)
        assert login.returncode == 0, login.stderr
        ref = tls_tenant.ref(catalog.THREE_REPO, catalog.TAG)
        cp = dockerd.docker("pull", ref)
        assert cp.returncode == 0, cp.stderr + cp.stdout
        assert ref in dockerd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    finally:
        dockerd.stop()


_HELM_PULL = textwrap.dedent("""
    import json, sys
    import helm_python as helm
    host, user, password, ref, dest, creds = sys.argv[1:7]
    client = helm.RegistryClient(credentials_file=creds)
    try:
        client.login(host, user, password)
        print(json.dumps({"ok": True, "resolved": client.resolve(ref)}))
    except Exception as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
""")


def test_helm_verifies_and_reaches_the_registry(tls_server, tls_tenant, ca, images, tmp_path):
    """Helm's Go library reads SSL_CERT_FILE when it starts, so each run is its own process."""
    def helm(env_extra):
        cp = subprocess.run([sys.executable, "-c", _HELM_PULL, tls_server.host, "any", tls_tenant.license_id,
                             f"oci://{tls_server.host}/{tls_tenant.repo(catalog.THREE_REPO)}:{catalog.TAG}", str(tmp_path),
                             str(tmp_path / f"creds-{len(env_extra)}.json")],
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env_extra}, capture_output=True, text=True,
                            timeout=120)
        assert cp.returncode == 0, cp.stderr
        return json.loads(cp.stdout.strip().splitlines()[-1])

    refused = helm({"SSL_CERT_FILE": "/dev/null"})
    assert not refused["ok"] and "certificate" in refused["error"], refused
    trusted = helm({"SSL_CERT_FILE": str(ca.cert_path)})
    assert trusted["ok"] and images.three.digest in json.dumps(trusted["resolved"]), trusted


def test_sighup_serves_a_renewed_certificate_without_dropping_connections(tls_server, tls_tenant, ca):
    before = peer_certificate(tls_server.port, "localhost")
    # A keep-alive connection opened with the old certificate.
    session = tls_server.session(tls_tenant.license_id)
    assert get_manifest(session, tls_server.url, tls_tenant.repo(catalog.THREE_REPO), catalog.TAG).status_code == 200

    cert_path, key_path = tls_server.tls[0], tls_server.tls[1]
    old_cert, old_key = cert_path.read_bytes(), key_path.read_bytes()
    renewed_cert, renewed_key = ca.issue("renewed", ["localhost", "127.0.0.1"])
    cert_path.write_bytes(renewed_cert.read_bytes())
    key_path.write_bytes(renewed_key.read_bytes())
    try:
        tls_server.proc.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: peer_certificate(tls_server.port, "localhost") != before, timeout=10,
                   message="the renewed certificate was not served after SIGHUP")
        assert tls_server.alive()
        assert "TLS certificate reloaded" in tls_server.log_text()
        # The old connection still works, and new clients verify the renewed chain.
        assert get_manifest(session, tls_server.url, tls_tenant.repo(catalog.THREE_REPO), catalog.TAG).status_code == 200
        assert requests.get(tls_server.url + "/healthz", verify=str(ca.cert_path), timeout=10).status_code == 200

        # A broken file on the next SIGHUP keeps the renewed certificate.
        cert_path.write_text("not a certificate")
        tls_server.proc.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "TLS certificate not reloaded" in tls_server.log_text(), timeout=10, message="no reload failure logged")
        assert peer_certificate(tls_server.port, "localhost") != before and tls_server.alive()
    finally:
        cert_path.write_bytes(old_cert)
        key_path.write_bytes(old_key)


# ------------------------------------------------------------------- node mirrors
def test_a_node_pulls_the_original_reference_through_the_mirror_config(tls_server, tls_tenant, upstream, ca, tmp_path):
    """containerd with the hosts.toml `customer mirror-config` prints: the node pulls
    `<upstream host>/e2e/multi-arch:v1` as the vendor's charts name it, and Portcullis serves it
    with the license from the header (containerd adds `?ns=<upstream host>`)."""
    reason = Containerd.unavailable_reason()
    if reason:
        pytest.skip(reason)
    hosts = tmp_path / "certs.d"
    customer = tls_server.cli_json("customer", "ls", "--app", tls_tenant.app)[0]["id"]
    wrote = tls_server.cli_ok("customer", "mirror-config", customer, "--dir", str(hosts), "--ca", str(ca.cert_path))
    config = (hosts / upstream.host / "hosts.toml").read_text()
    assert f'[host."{tls_server.url}"]' in config and "Authorization = \"Basic " in config, wrote.describe()
    assert (hosts / upstream.host / "hosts.toml").stat().st_mode & 0o077 == 0
    printed = tls_server.cli_ok("customer", "mirror-config", customer, "--upstream", tls_tenant.registry).out
    assert f"# /etc/containerd/certs.d/{upstream.host}/hosts.toml" in printed

    ctd = _started(Containerd)
    try:
        ref = f"{upstream.host}/{catalog.MULTI_REPO}:{catalog.TAG}"
        cp = ctd.pull(ref, hosts_dir=hosts)
        assert cp.returncode == 0, cp.stderr + cp.stdout
        assert ref in ctd.images()
    finally:
        ctd.stop()
    pulls = tls_server.cli_json("customer", "pulls", customer)
    assert any(p["repository"] == f"{upstream.host}/{catalog.MULTI_REPO}" and p["status"] == 200 for p in pulls), pulls


def test_a_mirror_request_for_an_upstream_the_app_may_not_use_is_name_unknown(tls_server, tls_tenant, upstream, ca):
    session = tls_server.session(tls_tenant.license_id)
    for ns in ("quay.io", "127.0.0.1:9", "bad host!"):
        r = session.get(f"{tls_server.url}/v2/{catalog.THREE_REPO}/manifests/{catalog.TAG}", params={"ns": ns}, timeout=30)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN", (ns, r.status_code, r.text)
    # The upstream belongs to the tenant's app only: another app's license gets nothing from it.
    other_app = tls_server.create_app()["slug"]
    other = tls_server.create_customer(other_app)["licenseId"]
    r = tls_server.session(other).get(f"{tls_server.url}/v2/{catalog.THREE_REPO}/manifests/{catalog.TAG}",
                                      params={"ns": upstream.host}, timeout=30)
    assert r.status_code == 404, r.text
    # No credentials is a challenge, never an anonymous pull.
    anonymous = requests.get(f"{tls_server.url}/v2/{catalog.THREE_REPO}/manifests/{catalog.TAG}", params={"ns": upstream.host},
                             verify=str(ca.cert_path), timeout=30)
    assert anonymous.status_code == 401


def test_http2_is_offered_with_the_flag_and_blobs_arrive_whole(tmp_path, ca, upstream, images):
    cert, key = ca.issue("h2", ["localhost", "127.0.0.1"])
    srv = PortcullisServer(tmp_path / "h2", extra_args=["--http2"], tls=(cert, key, ca.cert_path)).start()
    try:
        tenant = srv.tenant(upstream)
        layer = images.three.layer_blobs()[0]
        url = f"{srv.url}/v2/{tenant.repo(catalog.THREE_REPO)}/blobs/{layer.digest}"
        for flag, version in (("--http2", "2"), ("--http1.1", "1.1")):
            out = tmp_path / f"layer-{version}"
            cp = subprocess.run(["curl", "-sS", "-u", f"any:{tenant.license_id}", "--cacert", str(ca.cert_path), flag, "-o", str(out),
                                 "-w", "%{http_version} %{http_code}", url], capture_output=True, text=True, timeout=120)
            assert cp.stdout.split() == [version, "200"], (cp.stdout, cp.stderr)
            assert out.read_bytes() == images.three.read_blob(layer.digest)
        # Go clients negotiate HTTP/2 on their own: skopeo pulls the whole image over it.
        certs = tmp_path / "certs.d"
        certs.mkdir()
        (certs / "ca.crt").write_bytes(ca.cert_path.read_bytes())
        pulled = skopeo("copy", "--src-cert-dir", str(certs), "--src-creds", f"any:{tenant.license_id}", "--retry-times", "0",
                        f"docker://{tenant.ref(catalog.MULTI_REPO, catalog.TAG)}", f"oci:{tmp_path / 'multi'}:v1", "--all")
        assert pulled.returncode == 0, pulled.stderr
    finally:
        srv.stop()
