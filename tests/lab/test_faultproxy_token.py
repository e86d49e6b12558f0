"""A lab whose fault proxy wants a bearer token (WIRELAB_FAULTPROXY_TOKEN): every lab
command sends it (issue 15, item 2). Real processes, through the `lab` CLI."""

from __future__ import annotations

import json
import secrets

import httpx

from lab.faultproxy_client import TOKEN_ENV, FaultProxyClient, auth_headers
from services.faultproxy.service import TOKEN_ENV as SERVICE_TOKEN_ENV
from services.ports import default_port
from tests.lab.test_local_backend import isolated_env, lab_cli


def test_the_lab_and_faultproxy_read_the_same_variable() -> None:
    assert TOKEN_ENV == SERVICE_TOKEN_ENV


def test_no_token_means_no_header(monkeypatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert auth_headers() == {}
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    assert auth_headers() == {"Authorization": "Bearer s3cret"}
    assert auth_headers("other") == {"Authorization": "Bearer other"}


def test_lab_up_status_run_with_a_token(tmp_path) -> None:
    token = secrets.token_hex(8)
    env = {**isolated_env(tmp_path), TOKEN_ENV: token}
    up = lab_cli("up", env=env, timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = lab_cli("status", "--json", env=env)
        rows = {r["service"]: r for r in json.loads(status.stdout)["services"]}
        assert rows["faultproxy"]["state"] == "healthy", rows["faultproxy"]
        assert {r["state"] for r in rows.values()} == {"healthy"}, rows
        assert status.returncode == 0
        # The token is really required: without it the API refuses, with it it answers.
        api = f"http://127.0.0.1:{default_port('faultproxy', env)}"
        assert httpx.get(f"{api}/version", trust_env=False).status_code == 401
        with FaultProxyClient(api, token=token) as client:
            assert "rawhttp" in client.proxies()
        run = lab_cli("run", "reset-peer", env=env, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "pass" in run.stdout.lower()
        with FaultProxyClient(api, token=token) as client:
            assert client.toxics("rawhttp") == []  # rolled back, with the token too
    finally:
        down = lab_cli("down", env=env)
        assert down.returncode == 0, down.stderr
