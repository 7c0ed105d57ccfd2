"""The in-cluster SDK (issue 26): the subchart, values injected at pull
time, ``portcullis sdk serve`` and instance insights.

No Kubernetes here. A vendor chart ``app`` 1.0.0 (one Deployment) carries the subchart from
``deploy/helm/portcullis-sdk`` under ``charts/`` (as a directory, as a packaged archive, or under an
``alias``); it is released on Stable, a customer with an integer ``seats`` field pulls it with Helm's
library (helm-python-sdk) and renders it. The subchart's Secret holds ``config.yaml`` exactly as the
pod would mount it; the test writes it to a file and runs ``portcullis sdk serve --config`` as a
process on 127.0.0.1, then asks it what the application would ask: license and fields (signatures
checked, a tampered field refused), app info and updates, custom metrics and tags. The vendor sees
the instance in ``instance ls`` (version, metrics, versions behind, inactive after
``--instance-inactive-after``) and receives the ``instance.*`` webhooks. A restart with Portcullis
stopped answers from the state directory; air-gap mode makes no connection at all (a counting
listener stands in for Portcullis); reporting is bound to the license's app.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import helm_python as helm
import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from portcullis_testkit.helm import HelmClient, Rendered, Vendor, bounded, package_chart, render_chart
from portcullis_testkit.portcullis import PortcullisServer, portcullis_bin, random_license
from portcullis_testkit.proc import ManagedProcess
from portcullis_testkit.util import REPO_ROOT, free_port, unique, wait_until
from portcullis_testkit.webhooks import WebhookReceiver

SDK_CHART = REPO_ROOT / "deploy" / "helm" / "portcullis-sdk"
SDK_NAME = "portcullis-sdk"
ALIAS = "licensing"
PARENT = "app"
VERSION = "1.0.0"
NEXT_VERSION = "1.1.0"
CHANNEL = "Stable"
CHANNEL_SLUG = "stable"
NOTES = "First release with the Portcullis SDK"
NEXT_NOTES = "Second release: faster"
SEATS = 25
EXPIRES_AT = "2031-02-03T04:05:06Z"
APP_IMAGE = "example.test/acme/api:1.0.0"
REPORT_INTERVAL = "1s"
# The brief's example is 2s; 3s leaves a check-in every second a margin on a loaded machine.
INACTIVE_AFTER = "3s"
INSTANCE_EVENTS = ["instance.created", "instance.inactive", "instance.version_behind"]

#: Keys of the subchart Secret's config.yaml (spec §1), exactly.
CONFIG_KEYS = {"licenseID", "license", "licenseFields", "publicKey", "appName", "appSlug", "channelID", "channelName",
               "channelSequence", "releaseSequence", "versionLabel", "releaseCreatedAt", "releaseNotes", "parentChartURL",
               "portcullisEndpoint", "releaseImages", "isAirgap", "reportInterval", "instanceID"}
#: Keys Portcullis injects under the dependency's key (spec §1, "injected").
INJECTED_KEYS = {"license", "licenseFields", "publicKey", "appName", "appSlug", "channelID", "channelName", "channelSequence",
                 "releaseSequence", "versionLabel", "releaseCreatedAt", "releaseNotes", "parentChartURL", "portcullisEndpoint",
                 "replicatedAppEndpoint", "releaseImages"}
LICENSE_INFO_KEYS = {"licenseID", "appSlug", "appName", "customerID", "customerName", "customerEmail", "channelID",
                     "channelName", "licenseType", "expiresAt", "status", "isExpired", "source"}
APP_INFO_KEYS = {"instanceID", "appSlug", "appName", "appStatus", "helmChartURL", "channelID", "channelName",
                 "channelSequence", "releaseSequence", "currentRelease"}
UPDATE_KEYS = {"versionLabel", "releaseSequence", "channelSequence", "createdAt", "releaseNotes"}
# k8sVersion and k8sDistribution are left out when the SDK cannot read them (no cluster here).
INSTANCE_KEYS = {"instanceID", "customerID", "app", "clusterID", "firstSeenAt", "lastCheckinAt", "versionLabel",
                 "releaseSequence", "channelSequence", "versionsBehind", "appStatus", "customMetrics", "tags", "active"}

PARENT_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-api
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: "%s"
""" % APP_IMAGE


# ------------------------------------------------------------------ helpers
def _parse_time(value: Any) -> datetime:
    assert isinstance(value, str) and value, f"not an RFC 3339 time: {value!r}"
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _rfc3339(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def verify_field(public_pem: str, app: str, customer_id: str, name: str, field: dict) -> None:
    """A license field's ``signature.v1`` (README: five lines, RSA-PSS SHA-256); raises InvalidSignature."""
    key = serialization.load_pem_public_key(public_pem.encode())
    value = field["value"]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    message = "\n".join(["portcullis-license-field-v1", app, customer_id, name, text]).encode()
    key.verify(base64.b64decode(field["signature"]["v1"]), message, _PSS, hashes.SHA256())


def verify_document(public_pem: str, document: dict) -> None:
    """A license document's ``signature.v1`` (as ``customer download-license`` writes it)."""
    spec = document["spec"]
    entries = sorted((k, v) for k, v in spec.items() if k != "fields")
    fields = sorted((n, f["value"]) for n, f in (spec.get("fields") or {}).items())
    lines = ["portcullis-license-v1"] + [f"{k}={v}" for k, v in entries] + [f"field.{n}={v}" for n, v in fields]
    key = serialization.load_pem_public_key(public_pem.encode())
    key.verify(base64.b64decode(document["signature"]["v1"]), "\n".join(lines).encode(), _PSS, hashes.SHA256())


def sdk_chart_meta() -> Dict[str, Any]:
    assert (SDK_CHART / "Chart.yaml").is_file(), f"the SDK subchart is missing: {SDK_CHART}/Chart.yaml"
    return helm.values_from_yaml((SDK_CHART / "Chart.yaml").read_text())


def build_parent(root: Path, variant: str) -> Path:
    """The vendor's chart directory ``app``: one Deployment, and the SDK subchart per ``variant``:
    ``directory`` (charts/portcullis-sdk/), ``alias`` (the same, ``alias: licensing``), ``archive``
    (charts/portcullis-sdk-<v>.tgz) or ``none``."""
    chart = root / f"{variant}-{unique('src')}" / PARENT
    (chart / "templates").mkdir(parents=True)
    chart_yaml = f'apiVersion: v2\nname: {PARENT}\ndescription: A vendor app\nversion: {VERSION}\nappVersion: "{VERSION}"\n'
    if variant != "none":
        meta = sdk_chart_meta()
        chart_yaml += (f"dependencies:\n  - name: {SDK_NAME}\n    version: {meta['version']}\n"
                       "    repository: oci://portcullis.example/library\n")
        if variant == "alias":
            chart_yaml += f"    alias: {ALIAS}\n"
        charts = chart / "charts"
        charts.mkdir()
        if variant == "archive":
            out = Path(bounded(lambda: helm.package(str(SDK_CHART), destination=str(charts)), what="package subchart"))
            assert out.is_file() and out.parent == charts, f"subchart archive not written under charts/: {out}"
        else:
            shutil.copytree(SDK_CHART, charts / SDK_NAME)
    (chart / "Chart.yaml").write_text(chart_yaml)
    (chart / "values.yaml").write_text("# The vendor's own values.\nreplicaCount: 1\n")
    (chart / "templates" / "deployment.yaml").write_text(PARENT_DEPLOYMENT)
    return chart


@dataclass
class Shipped:
    """An app whose chart ``app`` 1.0.0 is released on Stable, with an integer ``seats`` field."""

    server: PortcullisServer
    root: Path
    app: str
    app_name: str
    chart_dir: Path
    sequence: int
    public_key: str
    channel_id: str
    key: str  # the values key the SDK's values live under (alias, else portcullis-sdk)

    @property
    def vendor(self) -> Vendor:
        return Vendor(self.server, self.app)

    def customer(self, seats: int = SEATS, expires_at: Optional[str] = EXPIRES_AT, type_: str = "paid") -> dict:
        name = unique("Globex")
        args = ["customer", "create", "--app", self.app, "--name", name, "--email", f"{name}@example.com",
                "--type", type_, "--channel", CHANNEL, "--field", f"seats={seats}"]
        if expires_at:
            args += ["--expires-at", expires_at]
        obj = self.server.cli_json(*args)
        assert isinstance(obj, dict) and obj.get("id") and obj.get("licenseId"), obj
        self.server.secrets.append(obj["licenseId"])
        return obj

    def pull(self, customer: dict, version: str = VERSION) -> Rendered:
        """Pull the chart as ``customer`` (Helm OCI, license ID as password) and render it."""
        client = HelmClient(self.root / unique("helm"), self.server.host)
        try:
            client.login(customer["email"], customer["licenseId"])
            tgz = client.pull(f"{self.app}/{CHANNEL_SLUG}/{PARENT}", version)
        finally:
            client.close()
        return render_chart(tgz, release="demo")

    def release_next(self) -> int:
        tgz = package_chart(self.root / unique("dist"), NEXT_VERSION, chart_dir=self.chart_dir)
        return self.vendor.create_release(tgz, NEXT_VERSION, promote=CHANNEL, notes=NEXT_NOTES)


def ship(server: PortcullisServer, root: Path, variant: str = "directory") -> Shipped:
    app_name = f"Acme {unique('SDK')}"
    app = server.create_app(name=app_name)["slug"]
    server.cli_ok("license-field", "create", "--app", app, "--name", "seats", "--title", "Seats", "--type", "integer",
                  "--default", "1")
    chart_dir = build_parent(root, variant)
    tgz = package_chart(root / unique("dist"), VERSION, chart_dir=chart_dir)
    vendor = Vendor(server, app)
    sequence = vendor.create_release(tgz, VERSION, promote=CHANNEL, notes=NOTES)
    public_key = server.cli_ok("app", "public-key", app).out
    assert public_key.startswith("-----BEGIN PUBLIC KEY-----"), public_key
    channel_id = {c["name"]: c for c in vendor.channels()}[CHANNEL]["id"]
    return Shipped(server, root, app, app_name, chart_dir, sequence, public_key, channel_id,
                   ALIAS if variant == "alias" else SDK_NAME)


def sdk_config(rendered: Rendered, key: str = SDK_NAME) -> tuple[str, Dict[str, Any]]:
    """The subchart Secret's config.yaml: (text as mounted, parsed)."""
    secret = rendered.one("Secret", key)
    text = (secret.get("stringData") or {}).get("config.yaml")
    assert isinstance(text, str) and text.strip(), f"Secret {key} has no stringData config.yaml: {secret}"
    return text, helm.values_from_yaml(text)


class Sdk:
    """One ``portcullis sdk serve`` process on 127.0.0.1."""

    def __init__(self, workdir: Path, config: Path, state_dir: Path, endpoint: Optional[str], airgap: bool,
                 report_interval: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.state_dir = state_dir
        self.log_path = workdir / f"sdk-{self.port}.log"
        self.args = [str(portcullis_bin()), "sdk", "serve", "--config", str(config), "--listen", f"127.0.0.1:{self.port}",
                     "--state-dir", str(state_dir), "--report-interval", report_interval]
        if endpoint:
            self.args += ["--endpoint", endpoint]
        if airgap:
            self.args.append("--airgap")
        self.proc: Optional[ManagedProcess] = None

    def start(self, timeout: float = 30.0, wait: bool = True) -> "Sdk":
        self.proc = ManagedProcess(self.args, self.log_path)
        if not wait:
            return self

        def healthy():
            if not self.proc.alive():
                return "exited"  # fail at once rather than poll a dead process until the deadline
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200

        try:
            state = wait_until(healthy, timeout=timeout, interval=0.1,
                               message=lambda: f"sdk /healthz never answered 200 ({' '.join(self.args)}):\n{self.proc.log_tail()}")
            assert state != "exited", \
                f"`{' '.join(self.args)}` exited with {self.proc.proc.poll()}:\n{self.proc.log_tail()}"
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def log_tail(self) -> str:
        return self.proc.log_tail() if self.proc else ""

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.url + path, timeout=15, **kw)

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def json(self, path: str) -> Any:
        r = self.get(path)
        assert r.status_code == 200, f"GET {path} -> {r.status_code} {r.text[:500]}\nsdk log:\n{self.log_tail()}"
        return r.json()

    def send(self, method: str, path: str, body: Any) -> requests.Response:
        return self.request(method, path, json=body)


SdkFactory = Callable[..., Sdk]


@pytest.fixture
def sdk_factory(tmp_path) -> SdkFactory:
    """``start(config_text, state_dir=None, endpoint=URL, airgap=False)`` -> a running SDK whose /healthz answered
    (``wait=False``: only started); all stopped at teardown."""
    started: List[Sdk] = []

    def start(config_text: str, state_dir: Optional[Path] = None, endpoint: Optional[str] = None, airgap: bool = False,
              report_interval: str = REPORT_INTERVAL, wait: bool = True) -> Sdk:
        work = tmp_path / f"sdk-{len(started)}"
        work.mkdir()
        config = work / "config.yaml"
        config.write_text(config_text)
        state = state_dir or (work / "state")
        state.mkdir(parents=True, exist_ok=True)
        sdk = Sdk(work, config, state, endpoint, airgap, report_interval)
        started.append(sdk)
        return sdk.start(wait=wait)

    yield start
    for sdk in started:
        sdk.stop()


def instances(server: PortcullisServer, customer_id: str) -> List[dict]:
    out = server.cli_json("instance", "ls", "--customer", customer_id)
    assert isinstance(out, list), f"`instance ls -o json` is not a list: {out!r}"
    return out


def instance(server: PortcullisServer, customer_id: str, instance_id: str) -> Optional[dict]:
    hits = [i for i in instances(server, customer_id) if i.get("instanceID") == instance_id]
    assert len(hits) <= 1, f"instance {instance_id} listed {len(hits)} times: {hits}"
    return hits[0] if hits else None


PORTAL_EMAIL, PORTAL_PASSWORD = "vendor@sdk.test", "correct horse battery staple"


def portal_session(server: PortcullisServer) -> requests.Session:
    """A vendor portal session (the user is created on first use)."""
    if not getattr(server, "_sdk_portal_user", False):
        server.cli_ok("user", "create", "--email", PORTAL_EMAIL, "--password-stdin", input=PORTAL_PASSWORD + "\n")
        server._sdk_portal_user = True
    s = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', s.get(server.url + "/portal/login", timeout=15).text).group(1)
    r = s.post(server.url + "/portal/login", data={"csrf": token, "email": PORTAL_EMAIL, "password": PORTAL_PASSWORD},
               allow_redirects=False, timeout=15)
    assert r.status_code == 303, f"portal sign-in -> {r.status_code} {r.text[:300]}"
    return s


def sdk_post(server: PortcullisServer, path: str, license_id: str, body: Any) -> requests.Response:
    return requests.post(server.url + path, auth=("sdk", license_id), json=body, timeout=15)


def sdk_get(server: PortcullisServer, path: str, license_id: str) -> requests.Response:
    return requests.get(server.url + path, auth=("sdk", license_id), timeout=15)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def receiver():
    r = WebhookReceiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PortcullisServer(tmp_path_factory.mktemp("sdk-server"),
                           extra_args=["--instance-inactive-after", INACTIVE_AFTER, "--expiry-scan-interval", "1s",
                                       "--login-failure-limit", "100000"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hook(server, receiver):
    server.cli_ok("webhook", "add", "--url", receiver.url + "/hook", *[a for e in INSTANCE_EVENTS for a in ("--event", e)])


@pytest.fixture(scope="module")
def shipped(server, tmp_path_factory) -> Shipped:
    """The app (subchart as a directory) on the module's server."""
    return ship(server, tmp_path_factory.mktemp("sdk-shipped"))


@pytest.fixture(scope="module")
def licensed(shipped):
    """The module's main customer (seats=25) and the config.yaml its pulled chart renders."""
    customer = shipped.customer()
    rendered = shipped.pull(customer)
    text, config = sdk_config(rendered, shipped.key)
    return customer, text, config


# ------------------------------------------------------------------ the subchart
def test_the_subchart_lints_and_renders_standalone(tmp_path):
    meta = sdk_chart_meta()
    assert (meta.get("apiVersion"), meta.get("name"), meta.get("version"), str(meta.get("appVersion"))) == \
        ("v2", SDK_NAME, "0.1.0", "0.1.0"), f"subchart Chart.yaml: {meta}"
    chart = tmp_path / SDK_NAME
    shutil.copytree(SDK_CHART, chart)
    report = bounded(lambda: helm.lint(str(chart)), what="lint")
    errors = [m for m in report.get("messages", []) if m.get("severity", 0) >= 3]
    assert not errors and not report.get("errors"), f"helm lint of the subchart found errors: {report}"

    defaults = helm.values_from_yaml((SDK_CHART / "values.yaml").read_text())
    for key in ("image", "imagePullSecrets", "nameOverride", "license", "licenseFields", "publicKey", "appName", "appSlug",
                "channelID", "channelName", "channelSequence", "releaseSequence", "versionLabel", "releaseCreatedAt",
                "releaseNotes", "parentChartURL", "portcullisEndpoint", "replicatedAppEndpoint", "releaseImages", "isAirgap",
                "reportInterval", "instanceID", "service", "resources"):
        assert key in defaults, f"values.yaml lacks `{key}`: {sorted(defaults)}"
    assert defaults["image"].get("repository") == "library/portcullis-sdk-image" and defaults["image"].get("registry") == "", defaults

    # Default values: every object named portcullis-sdk, registry omitted with its slash.
    plain = render_chart(chart, release="demo")
    for kind in ("Secret", "Deployment", "Service", "ServiceAccount"):
        plain.one(kind, SDK_NAME)
    _, config = sdk_config(plain)
    assert set(config) == CONFIG_KEYS, f"config.yaml keys differ from the spec: {sorted(set(config) ^ CONFIG_KEYS)}"
    assert (config["isAirgap"], config["reportInterval"], config["channelSequence"], config["releaseSequence"]) == \
        (False, "4h", -1, -1), config
    deployment = plain.one("Deployment", SDK_NAME)
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"].get("replicas") == 1, deployment["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == SDK_NAME]
    assert container["image"] == "library/portcullis-sdk-image:0.1.0", container["image"]
    assert container["args"] == ["sdk", "serve", "--config", "/etc/portcullis-sdk/config.yaml", "--state-dir",
                                 "/var/lib/portcullis-sdk", "--listen", "0.0.0.0:3000"], container["args"]
    assert any(p.get("name") == "http" and p.get("containerPort") == 3000 for p in container.get("ports", [])), container
    for probe in ("readinessProbe", "livenessProbe"):
        get = (container.get(probe) or {}).get("httpGet") or {}
        assert get.get("path") == "/healthz" and get.get("port") in ("http", 3000), f"{probe}: {container.get(probe)}"
    security = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    assert security.get("runAsNonRoot") is True and security.get("runAsUser") == 65532, security
    assert security.get("readOnlyRootFilesystem") is True, security
    assert (security.get("capabilities") or {}).get("drop") == ["ALL"], security
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    config_mount = mounts.get("/etc/portcullis-sdk")
    state_mount = mounts.get("/var/lib/portcullis-sdk")
    assert config_mount and config_mount.get("readOnly") is True, f"config mount: {mounts}"
    assert (volumes[config_mount["name"]].get("secret") or {}).get("secretName") == SDK_NAME, volumes
    assert state_mount and "emptyDir" in volumes[state_mount["name"]], volumes
    env = {e["name"]: e for e in container.get("env", [])}
    assert env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace", env
    assert container.get("resources") == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"cpu": "500m", "memory": "256Mi"}}, container.get("resources")
    assert pod.get("serviceAccountName") == SDK_NAME, pod
    account = plain.one("ServiceAccount", SDK_NAME)
    assert account.get("automountServiceAccountToken", True) is True and pod.get("automountServiceAccountToken", True) is True
    service = plain.one("Service", SDK_NAME)["spec"]
    assert service.get("type") == "ClusterIP" and service["ports"][0]["port"] == 3000 \
        and service["ports"][0]["targetPort"] == "http", service

    # Given values: the name override, registry, service, the endpoint's commercial key name, licenseID from global.
    given = render_chart(chart, {
        "nameOverride": "sdk", "image": {"registry": "registry.example", "tag": "9.9.9"},
        "service": {"type": "NodePort", "port": 8080}, "replicatedAppEndpoint": "https://registry.example",
        "appSlug": "acme", "channelSequence": 4, "global": {"replicated": {"licenseID": "lic-standalone"}},
    }, release="demo")
    for kind in ("Secret", "Deployment", "Service", "ServiceAccount"):
        given.one(kind, "sdk")
    assert not given.find("Deployment", SDK_NAME), "nameOverride not used for the Deployment"
    [container] = given.one("Deployment", "sdk")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/library/portcullis-sdk-image:9.9.9", container["image"]
    service = given.one("Service", "sdk")["spec"]
    assert service["type"] == "NodePort" and service["ports"][0]["port"] == 8080, service
    _, config = sdk_config(given, "sdk")
    assert (config["licenseID"], config["appSlug"], config["channelSequence"], config["portcullisEndpoint"]) == \
        ("lic-standalone", "acme", 4, "https://registry.example"), config
    both = render_chart(chart, {"replicatedAppEndpoint": "https://b.example", "portcullisEndpoint": "https://a.example"})
    assert sdk_config(both)[1]["portcullisEndpoint"] == "https://a.example", "portcullisEndpoint must win over replicatedAppEndpoint"


# ------------------------------------------------------------------ injection
@pytest.mark.parametrize("variant", ["directory", "alias", "archive"])
def test_a_customer_pull_injects_the_sdk_values_under_the_dependency_key(server, tmp_path, variant):
    shipped = ship(server, tmp_path, variant)
    customer = shipped.customer()
    rendered = shipped.pull(customer)
    key = shipped.key
    other = SDK_NAME if key == ALIAS else ALIAS

    assert rendered.values.get("global", {}).get("replicated", {}).get("licenseID") == customer["licenseId"], \
        f"global.replicated.licenseID not injected: {rendered.values.get('global')}"
    injected = rendered.values.get(key)
    assert isinstance(injected, dict), f"no `{key}` values injected for the {variant} subchart: {sorted(rendered.values)}"
    assert INJECTED_KEYS <= set(injected), f"`{key}` lacks {sorted(INJECTED_KEYS - set(injected))}"
    assert other not in rendered.values, f"values injected under `{other}` too (the key is {key}): {sorted(rendered.values)}"
    assert injected["replicatedAppEndpoint"] == injected["portcullisEndpoint"] == server.url, injected
    assert not rendered.find("Secret", other) and not rendered.find("Deployment", other), "the SDK rendered under the wrong name"
    assert rendered.one("Deployment", "demo-api"), "the vendor's own Deployment is gone"
    rendered.one("Deployment", key)
    rendered.one("Service", key)

    _, config = sdk_config(rendered, key)
    assert set(config) == CONFIG_KEYS, f"config.yaml keys differ from the spec: {sorted(set(config) ^ CONFIG_KEYS)}"
    assert config["licenseID"] == customer["licenseId"]
    assert (config["appSlug"], config["appName"]) == (shipped.app, shipped.app_name), config
    assert (config["channelName"], config["channelID"], config["channelSequence"]) == (CHANNEL, shipped.channel_id, 0), config
    assert (config["releaseSequence"], config["versionLabel"], config["releaseNotes"]) == (shipped.sequence, VERSION, NOTES), config
    assert abs((datetime.now(timezone.utc) - _parse_time(config["releaseCreatedAt"])).total_seconds()) < 600, config
    assert config["parentChartURL"].startswith("oci://"), config["parentChartURL"]
    assert config["parentChartURL"] in (f"oci://{server.host}/{shipped.app}/{CHANNEL_SLUG}/{PARENT}",
                                        f"oci://{server.host}/{shipped.app}/{PARENT}"), config["parentChartURL"]
    assert config["portcullisEndpoint"] == server.url, config["portcullisEndpoint"]
    assert config["publicKey"].strip() == shipped.public_key.strip(), "publicKey is not the app's public key"
    assert config["isAirgap"] is False and config["instanceID"] == "", config
    images = config["releaseImages"]
    assert isinstance(images, list) and all(isinstance(i, str) for i in images), images
    assert any(APP_IMAGE in i for i in images), f"the release's image {APP_IMAGE} is not in releaseImages: {images}"

    seats = config["licenseFields"]["seats"]
    assert (seats["name"], seats["value"], seats["valueType"]) == ("seats", SEATS, "Integer"), seats
    verify_field(shipped.public_key, shipped.app, customer["id"], "seats", seats)

    document = helm.values_from_yaml(config["license"])
    assert document.get("kind") == "License", document
    spec = document["spec"]
    assert (spec["customerID"], spec["customerName"], spec["app"]) == (customer["id"], customer["name"], shipped.app), spec
    assert spec["fields"]["seats"]["value"] == str(SEATS), spec["fields"]
    verify_document(shipped.public_key, document)
    downloaded = tmp_path / "license.yaml"
    server.cli_ok("customer", "download-license", customer["id"], "--file", str(downloaded))
    assert helm.values_from_yaml(downloaded.read_text())["spec"] == spec, "the injected license is not the customer's download"


def test_a_chart_without_the_subchart_gets_no_sdk_values(server, tmp_path):
    shipped = ship(server, tmp_path, "none")
    customer = shipped.customer()
    rendered = shipped.pull(customer)
    assert rendered.values.get("global", {}).get("replicated", {}).get("licenseID") == customer["licenseId"], \
        "the pull was not injected at all (so the absence below would prove nothing)"
    assert SDK_NAME not in rendered.values, f"a chart without the SDK got `{SDK_NAME}` values: {rendered.values[SDK_NAME]}"
    assert ALIAS not in rendered.values
    assert not rendered.find("Secret"), f"unexpected Secret: {rendered.find('Secret')}"


# ------------------------------------------------------------------ the SDK's answers
def test_the_sdk_answers_the_customers_license_and_fields(server, shipped, licensed, sdk_factory):
    customer, text, _ = licensed
    sdk = sdk_factory(text, endpoint=server.url)
    health = sdk.json("/healthz")
    assert isinstance(health.get("version"), str) and health["version"], health

    info = sdk.json("/api/v1/license/info")
    assert LICENSE_INFO_KEYS <= set(info), f"license/info lacks {sorted(LICENSE_INFO_KEYS - set(info))}: {info}"
    assert (info["licenseID"], info["customerID"], info["customerName"], info["customerEmail"]) == \
        (customer["licenseId"], customer["id"], customer["name"], customer["email"]), info
    assert (info["appSlug"], info["appName"], info["channelName"], info["channelID"]) == \
        (shipped.app, shipped.app_name, CHANNEL, shipped.channel_id), info
    assert (info["licenseType"], info["status"], info["isExpired"], info["source"]) == ("paid", "active", False, "portcullis"), info
    assert _parse_time(info["expiresAt"]) == _parse_time(EXPIRES_AT), info["expiresAt"]

    fields = sdk.json("/api/v1/license/fields")
    assert "seats" in fields, f"no seats field: {fields}"
    for name, field in fields.items():
        assert field["name"] == name, field
        verify_field(shipped.public_key, shipped.app, customer["id"], name, field)
    seats = sdk.json("/api/v1/license/fields/seats")
    assert (seats["name"], seats["title"], seats["value"], seats["valueType"]) == ("seats", "Seats", SEATS, "Integer"), seats
    assert seats["signature"]["v1"] == fields["seats"]["signature"]["v1"]
    missing = sdk.get("/api/v1/license/fields/no-such-field")
    assert missing.status_code == 404, f"unknown field -> {missing.status_code} {missing.text}"
    assert missing.json() == {"error": 'license field "no-such-field" not found'}, missing.text


def test_a_tampered_field_is_refused(shipped, licensed, sdk_factory):
    customer, text, config = licensed
    # Control: the untouched config in air-gap mode answers the field (from the injected values).
    sdk = sdk_factory(text, endpoint="http://127.0.0.1:9", airgap=True)
    assert sdk.json("/api/v1/license/fields/seats")["value"] == SEATS
    assert sdk.json("/api/v1/license/info")["source"] == "injected"
    sdk.stop()

    tampered = json.loads(json.dumps(config))
    tampered["licenseFields"]["seats"]["value"] = SEATS * 100
    with pytest.raises(InvalidSignature):
        verify_field(shipped.public_key, shipped.app, customer["id"], "seats", tampered["licenseFields"]["seats"])
    # JSON is YAML: the edited config as a file (air-gapped, so nothing can replace the field).
    sdk = sdk_factory(json.dumps(tampered, indent=2), endpoint="http://127.0.0.1:9", airgap=True)
    r = sdk.get("/api/v1/license/fields/seats")
    assert r.status_code == 422, f"tampered seats -> {r.status_code} {r.text}"
    assert r.json() == {"error": 'license field "seats" has an invalid signature'}, r.text
    fields = sdk.json("/api/v1/license/fields")
    assert "seats" not in fields, f"a field whose signature fails is listed: {fields.get('seats')}"
    assert sdk.json("/api/v1/license/info")["customerID"] == customer["id"], "the license itself still answers"
    sdk.stop()

    # The signature covers the value's text, not its JSON type: the integer made the string
    # "<seats>" verifies as text, and is refused all the same (its valueType says Integer).
    retyped = json.loads(json.dumps(config))
    retyped["licenseFields"]["seats"]["value"] = str(SEATS)
    sdk = sdk_factory(json.dumps(retyped, indent=2), endpoint="http://127.0.0.1:9", airgap=True)
    r = sdk.get("/api/v1/license/fields/seats")
    assert r.status_code == 422, f"seats as a string -> {r.status_code} {r.text}"


def test_updates_custom_metrics_and_the_instance_the_vendor_sees(server, shipped, sdk_factory, receiver, hook):
    # A customer of its own: this SDK is its only instance, so every instance.* event naming it is this one's.
    customer = shipped.customer()
    text, config = sdk_config(shipped.pull(customer), shipped.key)
    sdk = sdk_factory(text, endpoint=server.url)
    info = sdk.json("/api/v1/app/info")
    assert APP_INFO_KEYS <= set(info), f"app/info lacks {sorted(APP_INFO_KEYS - set(info))}: {info}"
    iid = info["instanceID"]
    assert isinstance(iid, str) and iid, info
    assert (info["appSlug"], info["appName"], info["channelName"], info["channelID"]) == \
        (shipped.app, shipped.app_name, CHANNEL, shipped.channel_id), info
    assert info["helmChartURL"] == config["parentChartURL"], info
    assert (info["releaseSequence"], info["channelSequence"]) == (shipped.sequence, 0), info
    current = info["currentRelease"]
    assert (current["versionLabel"], current["releaseSequence"], current["releaseNotes"], current["channelName"]) == \
        (VERSION, shipped.sequence, NOTES, CHANNEL), current
    _parse_time(current["createdAt"])
    assert sdk.json("/api/v1/app/updates") == [], "updates listed before any newer release"
    history = sdk.json("/api/v1/app/history")
    assert [r["versionLabel"] for r in history["releases"]] == [VERSION], history

    # The first check-in (on start): the vendor sees the instance, and instance.created arrives.
    first = wait_until(lambda: instance(server, customer["id"], iid), timeout=20,
                       message=lambda: f"instance {iid} never listed: {instances(server, customer['id'])}\n{sdk.log_tail()}")
    assert INSTANCE_KEYS <= set(first), f"instance lacks {sorted(INSTANCE_KEYS - set(first))}: {first}"
    assert (first["customerID"], first["app"], first["versionLabel"], first["releaseSequence"]) == \
        (customer["id"], shipped.app, VERSION, shipped.sequence), first
    assert (first["versionsBehind"], first["active"]) == (0, True), first
    def events(name: str) -> List[dict]:
        return receiver.about(name, iid, customer["id"])

    wait_until(lambda: events("instance.created"), timeout=15, message=f"no instance.created for {iid}")

    # Custom metrics: POST replaces, PATCH merges, DELETE removes a key; bad bodies are 400.
    for method, path, body in (("POST", "/api/v1/app/custom-metrics", {"data": {"old": 1}}),
                               ("POST", "/api/v1/app/custom-metrics", {"data": {"activeUsers": 7, "plan": "gold", "sso": True}}),
                               ("PATCH", "/api/v1/app/custom-metrics", {"data": {"plan": "platinum"}}),
                               ("DELETE", "/api/v1/app/custom-metrics/sso", None),
                               ("POST", "/api/v1/app/instance-tags", {"data": {"force": False, "tags": {"env": "prod"}}})):
        r = sdk.request(method, path, json=body) if body is not None else sdk.request(method, path)
        assert 200 <= r.status_code < 300, f"{method} {path} {body} -> {r.status_code} {r.text}"
    metrics = {"activeUsers": 7, "plan": "platinum"}
    for path, body in (("/api/v1/app/custom-metrics", {"data": {}}),
                       ("/api/v1/app/custom-metrics", {"data": {"nested": {"a": 1}}}),
                       ("/api/v1/app/custom-metrics", {"data": {"list": [1, 2]}}),
                       ("/api/v1/app/instance-tags", {"data": {"force": True, "tags": {"count": 5}}})):
        r = sdk.send("POST", path, body)
        assert r.status_code == 400 and "error" in r.json(), f"POST {path} {body} -> {r.status_code} {r.text}"

    # A newer release on the channel: listed by the SDK (and by the server's SDK API).
    next_sequence = shipped.release_next()

    def listed():
        updates = sdk.json("/api/v1/app/updates")
        return updates if updates and updates[0].get("versionLabel") == NEXT_VERSION else None

    updates = wait_until(listed, timeout=20, message=lambda: f"{NEXT_VERSION} never in app/updates: "
                                                             f"{sdk.get('/api/v1/app/updates').text}\n{sdk.log_tail()}")
    assert len(updates) == 1 and UPDATE_KEYS <= set(updates[0]), updates
    assert (updates[0]["releaseSequence"], updates[0]["channelSequence"], updates[0]["releaseNotes"]) == \
        (next_sequence, 1, NEXT_NOTES), updates
    _parse_time(updates[0]["createdAt"])
    server_side = sdk_get(server, "/sdk/v1/updates?channelSequence=0", customer["licenseId"])
    assert server_side.status_code == 200, server_side.text
    assert [u["versionLabel"] for u in server_side.json()["channelReleases"]] == [NEXT_VERSION], server_side.text

    # The vendor sees the metrics, tags and that the instance is one version behind.
    def reported():
        inst = instance(server, customer["id"], iid)
        return inst if inst and inst.get("versionsBehind") == 1 and inst.get("customMetrics") == metrics \
            and inst.get("tags") == {"env": "prod"} else None

    seen = wait_until(reported, timeout=20,
                      message=lambda: f"instance never showed 1 behind with {metrics}: {instance(server, customer['id'], iid)}")
    assert (seen["versionLabel"], seen["releaseSequence"], seen["active"]) == (VERSION, shipped.sequence, True), seen
    assert _parse_time(seen["lastCheckinAt"]) >= _parse_time(seen["firstSeenAt"]), seen
    api = requests.get(f"{server.url}/api/v1/customers/{customer['id']}/instances",
                       headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=15)
    assert api.status_code == 200 and iid in [i["instanceID"] for i in api.json()], api.text
    table = server.cli_ok("instance", "ls", "--customer", customer["id"]).out
    header = table.splitlines()[0].split()
    assert header[:5] == ["INSTANCE", "VERSION", "BEHIND", "STATUS", "K8S"] and header[-1] == "ACTIVE", table
    assert any(iid[:8] in line for line in table.splitlines()[1:]), f"instance {iid} not in the table:\n{table}"
    # And on the customer's page in the vendor portal.
    page = portal_session(server).get(f"{server.url}/portal/customers/{customer['id']}", timeout=15)
    assert page.status_code == 200, page.status_code
    row = re.search(r"<tr><td><code>" + re.escape(iid) + r"</code></td>(.*?)</tr>", page.text, re.S)
    assert row, f"instance {iid} not on the portal's customer page"
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[:3] == [VERSION, "1", "ready"] and cells[-1] == "yes", cells

    wait_until(lambda: events("instance.version_behind"), timeout=15,
               message=f"no instance.version_behind for {iid}")
    time.sleep(3)  # three more check-ins, each still behind the same latest release
    assert len(events("instance.version_behind")) == 1, events("instance.version_behind")
    assert len(events("instance.created")) == 1, events("instance.created")

    # The SDK stops: no check-in for longer than --instance-inactive-after.
    sdk.stop()
    wait_until(lambda: instance(server, customer["id"], iid)["active"] is False, timeout=30,
               message=lambda: f"instance never inactive: {instance(server, customer['id'], iid)}")
    wait_until(lambda: events("instance.inactive"), timeout=30, message=f"no instance.inactive for {iid}")
    time.sleep(2)
    assert len(events("instance.inactive")) == 1, events("instance.inactive")


def test_an_archived_license_is_reported_as_archived(server, shipped, sdk_factory):
    customer = shipped.customer()
    text, _ = sdk_config(shipped.pull(customer), shipped.key)
    sdk = sdk_factory(text, endpoint=server.url)
    assert sdk.json("/api/v1/license/info")["status"] == "active"
    server.cli_ok("customer", "archive", customer["id"])
    direct = sdk_get(server, "/sdk/v1/license", customer["licenseId"])
    assert direct.status_code == 200 and direct.json()["status"] == "archived", f"{direct.status_code} {direct.text[:300]}"
    info = sdk.json("/api/v1/license/info")  # the SDK refreshes on each license/info request
    assert (info["status"], info["customerID"]) == ("archived", customer["id"]), info


def test_an_expired_license_is_reported_as_expired(server, shipped, sdk_factory):
    customer = shipped.customer()
    text, _ = sdk_config(shipped.pull(customer), shipped.key)  # pulled while still valid
    past = _rfc3339(-timedelta(hours=1))
    server.cli_ok("customer", "update", customer["id"], "--expires-at", past)
    direct = sdk_get(server, "/sdk/v1/license", customer["licenseId"])
    assert direct.status_code == 200 and direct.json()["status"] == "expired", f"{direct.status_code} {direct.text[:300]}"
    sdk = sdk_factory(text, endpoint=server.url)
    for _ in range(3):
        info = sdk.json("/api/v1/license/info")
        assert (info["status"], info["isExpired"]) == ("expired", True), f"an expired license answered as {info}"
    assert _parse_time(info["expiresAt"]) == _parse_time(past), info


# ------------------------------------------------------------------ restart and air gap
def test_a_restart_with_portcullis_stopped_answers_from_the_cache(tmp_path_factory, sdk_factory):
    private = PortcullisServer(tmp_path_factory.mktemp("sdk-restart")).start()
    try:
        shipped = ship(private, tmp_path_factory.mktemp("sdk-restart-ship"))
        customer = shipped.customer()
        text, _ = sdk_config(shipped.pull(customer), shipped.key)
        state = tmp_path_factory.mktemp("sdk-restart-state")
        sdk = sdk_factory(text, state_dir=state, endpoint=private.url)
        before = sdk.json("/api/v1/license/info")
        assert before["source"] == "portcullis", before
        iid = sdk.json("/api/v1/app/info")["instanceID"]
        wait_until(lambda: (state / "license.json").is_file(), timeout=10, message=f"no license.json in {state}")
        assert (state / "instance-id").is_file() and (state / "instance-id").read_text().strip() == iid, \
            f"state dir {sorted(p.name for p in state.iterdir())}"
        sdk.stop()
    finally:
        private.stop()

    sdk = sdk_factory(text, state_dir=state, endpoint=private.url)
    after = sdk.json("/api/v1/license/info")
    assert after["source"] == "cache", f"with Portcullis stopped the answer should come from the state dir: {after}"
    for key in ("licenseID", "customerID", "customerName", "customerEmail", "appSlug", "channelName", "licenseType", "status"):
        assert after[key] == before[key], f"{key}: {after[key]!r} after the restart, {before[key]!r} before"
    assert after["customerID"] == customer["id"] and after["status"] == "active"
    assert sdk.json("/api/v1/app/info")["instanceID"] == iid, "the instance ID changed across a restart with the same state dir"
    assert sdk.json("/api/v1/license/fields/seats")["value"] == SEATS


def test_air_gap_mode_makes_no_outbound_connection(shipped, licensed, sdk_factory, counting_listener):
    customer, _, config = licensed
    offline = json.loads(json.dumps(config))
    offline["portcullisEndpoint"] = f"http://{counting_listener.host}"  # even the config names only the listener
    text = json.dumps(offline, indent=2)
    sdk = sdk_factory(text, endpoint=f"http://{counting_listener.host}", airgap=True)
    started = time.monotonic()
    info = sdk.json("/api/v1/license/info")
    assert (info["customerID"], info["customerName"], info["source"]) == (customer["id"], customer["name"], "injected"), info
    assert sdk.json("/api/v1/license/fields/seats")["value"] == SEATS
    assert sdk.json("/api/v1/app/info")["currentRelease"]["versionLabel"] == VERSION
    assert sdk.json("/api/v1/app/updates") == [], "air-gap mode lists no updates"
    r = sdk.send("POST", "/api/v1/app/custom-metrics", {"data": {"activeUsers": 3}})
    assert 200 <= r.status_code < 300, r.text
    r = sdk.send("POST", "/api/v1/app/instance-tags", {"data": {"force": False, "tags": {"env": "airgap"}}})
    assert 200 <= r.status_code < 300, r.text
    time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))  # several report intervals of 1s
    assert sdk.proc.alive(), sdk.log_tail()
    assert counting_listener.count == 0, f"air-gapped SDK connected {counting_listener.count} time(s) to its endpoint"
    sdk.stop()

    # Control: the same config without --airgap does connect (so the zero above is a real zero). Its start is
    # not awaited: the listener closes every connection, and this only asks whether one was made.
    control = sdk_factory(text, endpoint=f"http://{counting_listener.host}", wait=False)
    wait_until(lambda: counting_listener.count > 0, timeout=20,
               message=lambda: f"a non-air-gapped SDK never connected to its endpoint (so the check above proves "
                               f"nothing):\n{control.log_tail()}")


# ------------------------------------------------------------------ reporting is bound to the license
def test_a_license_reports_only_for_its_own_app(server, shipped, licensed):
    customer, _, _ = licensed
    other_app = server.create_app()["slug"]
    body = {"instanceID": unique("inst"), "appSlug": other_app, "clusterID": "cluster-1", "appStatus": "ready",
            "versionLabel": VERSION, "releaseSequence": shipped.sequence, "channelSequence": 0,
            "channelID": shipped.channel_id, "k8sVersion": "v1.30.0", "k8sDistribution": "kind",
            "customMetrics": {"x": 1}, "tags": {}}
    r = sdk_post(server, "/sdk/v1/instances", customer["licenseId"], body)
    assert r.status_code == 403, f"reporting for {other_app} with {shipped.app}'s license -> {r.status_code} {r.text}"
    unknown = sdk_post(server, "/sdk/v1/instances", random_license(), {**body, "appSlug": shipped.app})
    assert unknown.status_code == 401, f"unknown license -> {unknown.status_code} {unknown.text}"
    assert sdk_get(server, "/sdk/v1/license", random_license()).status_code == 401
    refused = [body["instanceID"]]

    # Control: the same body for the license's own app is accepted and listed.
    own = {**body, "instanceID": unique("inst"), "appSlug": shipped.app}
    r = sdk_post(server, "/sdk/v1/instances", customer["licenseId"], own)
    assert r.status_code == 204, f"own app's check-in -> {r.status_code} {r.text}"
    listed = wait_until(lambda: instance(server, customer["id"], own["instanceID"]), timeout=10,
                        message=f"accepted instance {own['instanceID']} not listed")
    assert (listed["clusterID"], listed["k8sVersion"], listed["k8sDistribution"]) == ("cluster-1", "v1.30.0", "kind"), listed
    ids = [i["instanceID"] for i in instances(server, customer["id"])]
    assert not set(refused) & set(ids), f"a refused check-in was recorded: {ids}"
    license_answer = sdk_get(server, "/sdk/v1/license", customer["licenseId"])
    assert license_answer.status_code == 200 and license_answer.json()["appSlug"] == shipped.app, license_answer.text


# ------------------------------------------------------------------ library/: where vendors get the SDK
def test_the_subchart_is_served_to_anyone_at_library(server, tmp_path):
    """``oci://HOST/library/portcullis-sdk``: anonymous Helm pulls it, byte-for-byte the chart in deploy/helm;
    a license of any app pulls it too; nobody pushes over it."""
    import tarfile

    version = str(sdk_chart_meta()["version"])
    anonymous = HelmClient(tmp_path / "anonymous", server.host)
    try:
        tgz = anonymous.pull("library/portcullis-sdk", version)
    finally:
        anonymous.close()
    with tarfile.open(tgz) as archive:
        served = {m.name.split("/", 1)[1]: archive.extractfile(m).read().decode() for m in archive.getmembers() if m.isfile()}
    on_disk = {p.relative_to(SDK_CHART).as_posix(): p.read_text() for p in SDK_CHART.rglob("*") if p.is_file()}
    assert served == on_disk, f"the served subchart differs from deploy/helm/portcullis-sdk: {sorted(set(served) ^ set(on_disk))}"

    # The vendor's way: `helm dependency update` on a chart that names oci://HOST/library.
    parent = tmp_path / "vendor" / PARENT
    (parent / "templates").mkdir(parents=True)
    (parent / "Chart.yaml").write_text(f"apiVersion: v2\nname: {PARENT}\nversion: {VERSION}\ndependencies:\n"
                                       f"  - name: {SDK_NAME}\n    version: {version}\n    repository: oci://{server.host}/library\n")
    (parent / "values.yaml").write_text("replicaCount: 1\n")
    bounded(lambda: helm.dependency_update(str(parent), plain_http=True), what="dependency update")
    fetched = list((parent / "charts").glob("*.tgz"))
    assert [f.name for f in fetched] == [f"{SDK_NAME}-{version}.tgz"], fetched
    assert fetched[0].read_bytes() == tgz.read_bytes(), "dependency update fetched other bytes than helm pull"
    assert (parent / "Chart.lock").is_file()

    # The same bytes for everyone: a license of another app pulls the very same chart.
    other_app = server.create_app()["slug"]
    stranger = server.cli_json("customer", "create", "--app", other_app, "--name", unique("Initech"), "--email", "ops@initech.example")
    server.secrets.append(stranger["licenseId"])
    licensee = HelmClient(tmp_path / "licensee", server.host)
    try:
        licensee.login("ops@initech.example", stranger["licenseId"])
        assert licensee.pull("library/portcullis-sdk", version).read_bytes() == tgz.read_bytes()
    finally:
        licensee.close()

    # Unknown credentials are refused, never treated as anonymous.
    r = requests.get(f"{server.url}/v2/library/portcullis-sdk/manifests/{version}", auth=("x", random_license()), timeout=15,
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 401, f"an unknown license reading library/ -> {r.status_code} {r.text[:200]}"

    # Read-only: not even the admin pushes over the built-in chart.
    admin = HelmClient(tmp_path / "admin", server.host)
    try:
        admin.login("admin", server.admin_token)
        with pytest.raises(Exception) as refused:
            admin.push(tgz, "library")
        assert "read-only" in str(refused.value) or "unsupported" in str(refused.value).lower() \
            or "denied" in str(refused.value).lower(), refused.value
    finally:
        admin.close()


def test_the_sdk_image_is_pushed_by_the_vendor_and_pulled_by_anyone(server, tmp_path, licensed):
    """The image the subchart runs (``HOST/library/portcullis-sdk-image``): the vendor pushes it with its
    token, a pod pulls it without credentials, a license cannot push there."""
    from portcullis_testkit.images import make_three_layer_image
    from portcullis_testkit.oci import skopeo, skopeo_inspect_raw

    version = str(sdk_chart_meta()["appVersion"])
    image = make_three_layer_image(tmp_path / "image", tag=version, seed=unique("sdk-image"))
    target = f"docker://{server.host}/library/portcullis-sdk-image:{version}"
    customer, _, _ = licensed
    as_customer = skopeo("copy", "--retry-times", "0", "--dest-tls-verify=false", "--dest-creds",
                         f"ops:{customer['licenseId']}", image.oci_ref(), target)
    assert as_customer.returncode != 0, "a license pushed to library/"
    pushed = skopeo("copy", "--preserve-digests", "--retry-times", "0", "--dest-tls-verify=false", "--dest-creds",
                    f"admin:{server.admin_token}", image.oci_ref(), target)
    assert pushed.returncode == 0, f"the vendor could not push the SDK image:\n{pushed.stderr}"
    inspected = skopeo_inspect_raw(f"{server.host}/library/portcullis-sdk-image:{version}", None)
    assert inspected.returncode == 0, f"anonymous pull of the SDK image failed:\n{inspected.stderr}"
    assert json.loads(inspected.stdout) == json.loads(image.top_bytes()), "the pulled manifest is not the pushed one"


# ------------------------------------------------------------------ what the application sets
def test_what_no_check_in_could_carry_is_refused_when_set(server, licensed, sdk_factory):
    """A NUL in a metric once made every later check-in fail (Portcullis refuses it) while the SDK had
    answered 200; a metric named ``a/b`` could never be removed by name. Both are refused when set,
    by the rules Portcullis checks reports with; a name with a space is fine, and is removed by its
    percent-encoded name."""
    customer, text, _ = licensed
    sdk = sdk_factory(text, endpoint=server.url)
    for body in ({"data": {"plan": "go\u0000ld"}}, {"data": {"a/b": 1}}, {"data": {"": 1}}):
        r = sdk.send("POST", "/api/v1/app/custom-metrics", body)
        assert r.status_code == 400 and "error" in r.json(), f"{body}: {r.status_code} {r.text}"
    r = sdk.send("POST", "/api/v1/app/instance-tags", {"data": {"tags": {"env": "pr\u0000od"}}})
    assert r.status_code == 400, r.text
    r = sdk.send("POST", "/api/v1/app/custom-metrics", {"data": {"active users": 3}})
    assert r.status_code == 200 and r.json() == {"active users": 3}, r.text
    r = sdk.request("DELETE", "/api/v1/app/custom-metrics/active%20users")
    assert r.status_code == 204, r.text
    assert sdk.json("/api/v1/license/fields/se%61ts")["value"] == SEATS
    r = sdk.send("POST", "/api/v1/app/instance-tags", {"data": {"tags": {"n": 5}}})
    assert r.status_code == 400 and "tag values are strings" in r.json()["error"], r.text
    r = sdk.request("PUT", "/api/v1/license/info")
    assert r.status_code == 404 and "no endpoint PUT /api/v1/license/info" in r.json()["error"], r.text
    assert sdk.request("HEAD", "/healthz").status_code == 200


def test_a_state_directory_it_cannot_use_stops_the_sdk_with_the_reason(licensed, tmp_path):
    _, text, _ = licensed
    config = tmp_path / "config.yaml"
    config.write_text(text)
    in_the_way = tmp_path / "state"
    in_the_way.write_text("a file where the directory should be\n")
    res = subprocess.run([str(portcullis_bin()), "sdk", "serve", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}",
                          "--state-dir", str(in_the_way / "sdk"), "--airgap"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "state directory" in res.stderr and "cannot be created" in res.stderr, res.stderr
    assert "NSCocoaErrorDomain" not in res.stderr and "Code=" not in res.stderr, res.stderr


def test_an_unresponsive_portcullis_does_not_hold_up_the_application(licensed, sdk_factory):
    """Egress dropped in the cluster: Portcullis accepts connections and never answers. A license
    question waits at most a couple of seconds for it, and the ones after do not wait at all."""
    import socket as socketlib

    _, text, _ = licensed
    silent = socketlib.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        sdk = sdk_factory(text, endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}", wait=False)
        wait_until(lambda: sdk.get("/healthz").status_code == 200, timeout=30, interval=0.1,
                   message=lambda: f"the SDK never answered /healthz:\n{sdk.log_tail()}")
        started = time.monotonic()
        first = sdk.json("/api/v1/license/info")
        took_first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(5):
            assert sdk.json("/api/v1/license/fields/seats")["value"] == SEATS
        took_next = time.monotonic() - started
        # Updates likewise: one wait of a couple of seconds, then answered at once (was 15 s each).
        started = time.monotonic()
        updates = [sdk.get("/api/v1/app/updates").status_code for _ in range(3)]
        took_updates = time.monotonic() - started
    finally:
        silent.close()
    assert first["source"] in ("injected", "cache") and first["status"] == "active", first
    assert took_first < 5, f"the first answer waited {took_first:.1f} s for a silent Portcullis"
    assert took_next < 2, f"five more answers took {took_next:.1f} s: each asked the silent Portcullis again"
    assert updates == [502, 502, 502] and took_updates < 6, f"updates {updates} took {took_updates:.1f} s"
