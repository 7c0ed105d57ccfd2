"""A configuration file for ``portcullis serve`` (issue 17).

Contract under test:
- ``serve --config FILE`` (or ``PORTCULLIS_CONFIG``) takes every setting as a flat YAML mapping;
  a flag wins over the environment, which wins over the file, which wins over the default.
- A file that is not YAML, has an unknown key, a wrong type or an unreadable secret file stops
  ``serve`` before it binds a port, with one message naming the file, the line and the problem.
- ``config example`` prints a complete file that ``config check`` accepts; ``config options``
  lists the catalogue, and the README's configuration table lists exactly those flags.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import requests

from portcullis_testkit.proc import ManagedProcess, run
from portcullis_testkit.util import free_port, wait_until

README = Path(__file__).resolve().parent.parent / "README.md"


def portcullis(binary, *args, env=None):
    return run([str(binary), *args], env=env, timeout=60)


def serve(binary, tmp_path, config_text, *flags, env=None):
    config = tmp_path / "portcullis.yaml"
    config.write_text(config_text)
    proc = ManagedProcess([str(binary), "serve", "--config", str(config), *flags], tmp_path / "serve.log", env=env or {})
    return proc, config


def realm(url):
    r = requests.get(url + "/v2/", timeout=5)
    assert r.status_code == 401
    return re.search(r'realm="([^"]+)"', r.headers["WWW-Authenticate"]).group(1)


def test_serve_reads_its_settings_from_the_file_with_flags_and_environment_on_top(portcullis_binary, tmp_path):
    port = free_port()
    token_file = tmp_path / "admin-token"
    token_file.write_text("a-long-enough-admin-token-for-tests\n")
    text = (f"listen: 127.0.0.1:{port}\n"
            f"dataDir: {tmp_path / 'data'}\n"
            "publicURL: https://from-the-file.example\n"
            f"adminTokenFile: {token_file}\n"
            "tagTTL: 2m\n")
    proc, _ = serve(portcullis_binary, tmp_path, text)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(url + "/healthz", timeout=2).status_code == 200, timeout=30,
                   message=lambda: proc.log_tail())
        assert realm(url) == "https://from-the-file.example/v2/token"
        apps = requests.get(url + "/api/v1/apps", headers={"Authorization": "Bearer a-long-enough-admin-token-for-tests"}, timeout=5)
        assert apps.status_code == 200, "the admin token came from the secret file"
    finally:
        proc.stop()

    # The environment overrides the file; a flag overrides both.
    proc, _ = serve(portcullis_binary, tmp_path, text, env={"PORTCULLIS_PUBLIC_URL": "https://from-the-environment.example"})
    try:
        wait_until(lambda: requests.get(url + "/healthz", timeout=2).status_code == 200, timeout=30, message=lambda: proc.log_tail())
        assert realm(url) == "https://from-the-environment.example/v2/token"
    finally:
        proc.stop()
    proc, _ = serve(portcullis_binary, tmp_path, text, "--public-url", "https://from-the-flag.example",
                    env={"PORTCULLIS_PUBLIC_URL": "https://from-the-environment.example"})
    try:
        wait_until(lambda: requests.get(url + "/healthz", timeout=2).status_code == 200, timeout=30, message=lambda: proc.log_tail())
        assert realm(url) == "https://from-the-flag.example/v2/token"
    finally:
        proc.stop()


@pytest.mark.parametrize("body, message", [
    ("listen: 127.0.0.1:{port}\ntagTtl: 5m\n", "portcullis.yaml:2: unknown key \"tagTtl\"; did you mean tagTTL?"),
    ("listen: 127.0.0.1:{port}\nloginFailureLimit: many\n", "portcullis.yaml:2: loginFailureLimit: expected a whole number"),
    ("listen: 127.0.0.1:{port}\nsecretKeyFile: /nonexistent/key\n",
     "portcullis.yaml:2: secretKeyFile: cannot read the secret file /nonexistent/key"),
    ("listen: 127.0.0.1:{port}\n  tagTTL: 5m\n", "portcullis.yaml:2: not valid YAML"),
])
def test_a_bad_file_stops_serve_before_it_binds(portcullis_binary, tmp_path, body, message):
    port = free_port()
    config = tmp_path / "portcullis.yaml"
    config.write_text(body.format(port=port))
    cp = portcullis(portcullis_binary, "serve", "--config", str(config))
    assert cp.returncode == 2, cp.stderr
    assert cp.stderr.strip().startswith(f"portcullis: {config}:") and message.split(":", 1)[1] in cp.stderr, cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1, "one message"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens"
    check = portcullis(portcullis_binary, "config", "check", str(config))
    assert check.returncode == 2 and message.split(":", 1)[1] in check.stderr


def test_the_example_is_accepted_and_the_readme_lists_every_setting(portcullis_binary, tmp_path):
    example = portcullis(portcullis_binary, "config", "example")
    assert example.returncode == 0
    path = tmp_path / "example.yaml"
    path.write_text(example.stdout)
    check = portcullis(portcullis_binary, "config", "check", str(path))
    assert check.returncode == 0 and "ok" in check.stdout, check.stderr

    import json
    options = json.loads(portcullis(portcullis_binary, "config", "options", "-o", "json").stdout)
    flags = {o["flag"] for o in options}
    for o in options:
        assert f"{o['key']}:" in example.stdout
    help_text = portcullis(portcullis_binary, "serve", "--help").stdout
    assert all(flag in help_text for flag in flags), flags - {f for f in flags if f in help_text}

    table = portcullis(portcullis_binary, "config", "options", "--markdown").stdout
    assert table.count("\n") == len(options) + 2
    assert table in README.read_text(), "README's configuration table is `portcullis config options --markdown`"
