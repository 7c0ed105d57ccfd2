"""License fields in the shape charts already read, signed, and checked by charts at install time.

A chart gates installation on `licenseFields.seats.value` and renders a Deployment only when the
boolean `analytics` field is on. Customers with different values pull it with Helm's library and
render it: each renders or fails exactly as its license says. Every field's signature is checked
with Python's `cryptography` against the key from `app public-key`.
"""
from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from portcullis_testkit.helm import HelmClient, HelmError, Vendor, archive_member_text, package_chart, render_chart
from portcullis_testkit.portcullis import PortcullisServer

GATE = """{{- $f := .Values.global.replicated.licenseFields }}
{{- if lt (int $f.seats.value) 10 }}{{ fail "this install needs a license with at least 10 seats" }}{{ end }}
{{- if $f.analytics.value }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: analytics
spec:
  replicas: 1
  selector: {matchLabels: {app: analytics}}
  template:
    metadata: {labels: {app: analytics}}
    spec:
      containers:
        - name: analytics
          image: example.test/analytics:1.0
{{- end }}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = PortcullisServer(tmp_path_factory.mktemp("license-fields")).start()
    yield srv
    srv.stop()


def _verify(public_pem: str, app: str, customer_id: str, name: str, field: dict) -> None:
    key = serialization.load_pem_public_key(public_pem.encode())
    value = field["value"]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    message = "\n".join(["portcullis-license-field-v1", app, customer_id, name, text]).encode()
    key.verify(base64.b64decode(field["signature"]["v1"]), message,
               padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())


def test_charts_gate_on_signed_license_fields(server, tmp_path):
    app = server.create_app()["slug"]
    server.cli_ok("license-field", "create", "--app", app, "--name", "seats", "--title", "Seats", "--type", "integer", "--default", "1")
    server.cli_ok("license-field", "create", "--app", app, "--name", "analytics", "--title", "Analytics", "--type", "boolean",
                  "--default", "false")
    server.cli_ok("license-field", "create", "--app", app, "--name", "tier", "--type", "string", "--hidden", "--default", "standard")
    assert [f["name"] for f in server.cli_json("license-field", "ls", "--app", app)] == ["seats", "analytics", "tier"]
    for bad, reason in ((["--field", "seats=lots"], "is not a integer"), (["--field", "nope=1"], "no license field")):
        r = server.cli("customer", "create", "--app", app, "--name", "bad", *bad)
        assert r.code != 0 and reason in r.err, r.describe()

    def with_gate(chart_dir):
        (chart_dir / "templates" / "gate.yaml").write_text(GATE)

    Vendor(server, app).release(package_chart(tmp_path, "2.0.0", edit=with_gate), "2.0.0", ["Stable"])
    big = server.cli_json("customer", "create", "--app", app, "--name", "Big", "--field", "seats=25", "--field", "analytics=true")
    small = server.cli_json("customer", "create", "--app", app, "--name", "Small", "--field", "seats=5")
    public_pem = server.cli_ok("app", "public-key", app).out
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")

    def pull(customer, where):
        helm = HelmClient(tmp_path / where, server.host)
        try:
            helm.login("any", customer["licenseId"])
            return helm.pull(f"{app}/slackernews", "2.0.0")
        finally:
            helm.close()

    big_chart = pull(big, "big")
    rendered = render_chart(big_chart)
    assert [d["metadata"]["name"] for d in rendered.find("Deployment") if d["metadata"]["name"] == "analytics"] == ["analytics"]
    fields = rendered.values["global"]["replicated"]["licenseFields"]
    assert fields["seats"] == {**fields["seats"], "name": "seats", "title": "Seats", "value": 25, "valueType": "Integer"}
    assert fields["analytics"]["value"] is True and fields["analytics"]["valueType"] == "Boolean"
    assert fields["tier"]["isHidden"] is True and fields["tier"]["value"] == "standard"
    assert "isHidden" not in fields["seats"]
    for name, field in fields.items():
        _verify(public_pem, app, big["id"], name, field)
    tampered = {**fields["seats"], "value": 2500}
    with pytest.raises(InvalidSignature):
        _verify(public_pem, app, big["id"], "seats", tampered)
    with pytest.raises(InvalidSignature):
        _verify(public_pem, app, small["id"], "seats", fields["seats"])  # another customer's signature
    assert "seats:\n" in archive_member_text(big_chart, "values.yaml"), "fields are YAML objects, not bare values"

    small_chart = pull(small, "small")
    with pytest.raises(HelmError) as refused:
        render_chart(small_chart)
    assert "at least 10 seats" in str(refused.value)

    # A changed value is in the next pull: a new digest, and the chart now renders (without analytics).
    server.cli_ok("customer", "update", small["id"], "--field", "seats=12")
    again = pull(small, "small-again")
    assert again.read_bytes() != small_chart.read_bytes()
    rendered = render_chart(again)
    assert not [d for d in rendered.find("Deployment") if d["metadata"]["name"] == "analytics"]
    _verify(public_pem, app, small["id"], "seats", rendered.values["global"]["replicated"]["licenseFields"]["seats"])


def test_a_downloaded_license_verifies_with_the_apps_public_key(server, tmp_path):
    import helm_python as helm

    app = server.create_app()["slug"]
    server.cli_ok("license-field", "create", "--app", app, "--name", "seats", "--type", "integer")
    customer = server.cli_json("customer", "create", "--app", app, "--name", 'Globex "East"', "--type", "paid", "--field", "seats=40")
    out = tmp_path / "license.yaml"
    server.cli_ok("customer", "download-license", customer["id"], "--file", str(out))
    document = helm.values_from_yaml(out.read_text())
    assert document["kind"] == "License" and document["spec"]["customerName"] == 'Globex "East"'
    assert document["spec"]["fields"]["seats"] == {"value": "40", "valueType": "Integer"}
    key = serialization.load_pem_public_key(server.cli_ok("app", "public-key", app).out.encode())

    def signed(spec: dict) -> bytes:
        entries = sorted((k, v) for k, v in spec.items() if k != "fields")
        fields = sorted((name, f["value"]) for name, f in spec["fields"].items())
        lines = ["portcullis-license-v1"] + [f"{k}={v}" for k, v in entries] + [f"field.{n}={v}" for n, v in fields]
        return "\n".join(lines).encode()

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signature = base64.b64decode(document["signature"]["v1"])
    key.verify(signature, signed(document["spec"]), pss, hashes.SHA256())
    edited = {**document["spec"], "fields": {"seats": {"value": "4000", "valueType": "Integer"}}}
    with pytest.raises(InvalidSignature):
        key.verify(signature, signed(edited), pss, hashes.SHA256())
    assert customer["licenseId"] not in out.read_text()
