"""The local backend and the `lab` CLI over real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lab.backends.base import BackendError
from lab.backends.local import LocalBackend, _alive, free_port_offset, port_free

REPO = Path(__file__).resolve().parents[2]
LAB = [sys.executable, "-m", "lab.cli"]


def lab_cli(
    *args: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAB, *args], cwd=REPO, env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def isolated_env(tmp_path: Path) -> dict[str, str]:
    return {
        "WIRELAB_PORT_OFFSET": str(free_port_offset()),
        "WIRELAB_STATE_DIR": str(tmp_path),
        "WIRELAB_BACKEND": "local",
    }


def test_port_in_use_is_one_clear_line(tmp_path):
    env = isolated_env(tmp_path)
    port = 8080 + int(env["WIRELAB_PORT_OFFSET"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = lab_cli("up", env=env)
    assert result.returncode == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert f"port {port}/tcp for rawhttp is already in use" in lines[0]
    assert "--port rawhttp=" in lines[0] and "WIRELAB_RAWHTTP_PORT" in lines[0]
    # The port it suggests is free and is not another endpoint's (8081 is rawhttp.blocking).
    suggested = int(lines[0].split("--port rawhttp=")[1].split("`")[0])
    assert suggested != port + 1 and port_free("127.0.0.1", suggested, "tcp")
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_port_flag_names_the_problem(tmp_path):
    result = lab_cli("up", "--port", "rawhtp=9", env=isolated_env(tmp_path))
    assert result.returncode == 2
    assert "unknown endpoint 'rawhtp' (did you mean 'rawhttp'?)" in result.stderr


class DyingBackend(LocalBackend):
    def command(self, service: str) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import sys; print('config file is broken', file=sys.stderr); sys.exit(3)",
        ]


def test_service_that_dies_at_start_names_the_cause(tmp_path):
    backend = DyingBackend(state_dir=tmp_path, port_offset=free_port_offset())
    with pytest.raises(
        BackendError,
        match=r"rawhttp-blocking exited during start: config file is broken \(full log: `lab logs rawhttp-blocking`\)",
    ):
        backend.up(["rawhttp-blocking"], timeout=10)


def test_missing_dependency_names_the_package_and_the_fix(tmp_path, monkeypatch):
    from lab.backends import local

    monkeypatch.setitem(local.REQUIRED_MODULES, "udpstream", ("no_such_module_wirelab",))
    backend = LocalBackend(state_dir=tmp_path, port_offset=free_port_offset())
    with pytest.raises(
        BackendError, match="needs the Python package 'no_such_module_wirelab'.*make lab"
    ):
        backend.up(["udpstream"])


def test_status_and_down_work_from_another_shell(tmp_path):
    env = isolated_env(tmp_path)
    up = lab_cli("up", "udpstream", "rawhttp-blocking", env=env)
    assert up.returncode == 0, up.stderr
    assert "healthy" in up.stdout
    pids = [json.loads(p.read_text())["pid"] for p in (tmp_path / "pids").glob("*.json")]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    try:
        status = lab_cli("status", "--json", env=env)
        rows = {r["service"]: r for r in json.loads(status.stdout)["services"]}
        assert rows["udpstream"]["state"] == "healthy"
        assert rows["rawhttp-blocking"]["state"] == "healthy"
        assert rows["restapi"]["state"] == "not started"
        assert status.returncode == 1  # not every service is up
    finally:
        down = lab_cli("down", env=env)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), "lab down left a process behind"


def test_whole_lab_is_healthy(local_lab):
    rows = {r.service: r for r in local_lab.status()}
    assert {s: r.state for s, r in rows.items()} == dict.fromkeys(rows, "healthy")
    assert set(rows) == {"rawhttp", "rawhttp-blocking", "udpstream", "restapi", "faultproxy"}


def test_pause_resume_stop_start(local_lab):
    host, port = local_lab.address("rawhttp.blocking")
    url = f"http://{host}:{port}/healthz"
    local_lab.pause("rawhttp-blocking")
    try:
        assert {r.service: r.state for r in local_lab.status()}["rawhttp-blocking"] == "paused"
        with pytest.raises(httpx.ReadTimeout):  # the kernel still accepts; nobody answers
            httpx.get(url, timeout=httpx.Timeout(1.0, connect=1.0))
    finally:
        local_lab.resume("rawhttp-blocking")
    assert httpx.get(url, timeout=5).status_code == 200
    local_lab.stop("rawhttp-blocking")
    try:
        assert {r.service: r.state for r in local_lab.status()}["rawhttp-blocking"] == "stopped"
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
    finally:
        local_lab.start("rawhttp-blocking")
    assert httpx.get(url, timeout=5).status_code == 200


def test_through_the_proxy_and_direct_give_the_same_answer(local_lab):
    direct = httpx.get(local_lab.url("restapi") + "/healthz", timeout=5)
    proxied = httpx.get(local_lab.url("restapi.via_proxy") + "/healthz", timeout=5)
    assert direct.status_code == proxied.status_code == 200
    assert direct.json() == proxied.json()


def test_proxies_export_and_load_round_trip(local_lab, tmp_path):
    api = local_lab.faultproxy_url()
    toxic = {
        "name": "slow",
        "type": "latency",
        "stream": "downstream",
        "attributes": {"latency": 50},
    }
    assert httpx.post(f"{api}/proxies/restapi/toxics", json=toxic, timeout=5).status_code == 200
    try:
        saved = tmp_path / "faults.json"
        env = {"WIRELAB_STATE_DIR": str(local_lab.state), "WIRELAB_BACKEND": "local"}
        assert lab_cli("proxies", "export", str(saved), env=env).returncode == 0
        exported = {p["name"]: p for p in json.loads(saved.read_text())}
        assert [t["name"] for t in exported["restapi"]["toxics"]] == ["slow"]
        httpx.post(f"{api}/reset", timeout=5)
        assert httpx.get(f"{api}/proxies/restapi/toxics", timeout=5).json() == []
        loaded = lab_cli("proxies", "load", str(saved), env=env)
        assert loaded.returncode == 0, loaded.stderr
        toxics = httpx.get(f"{api}/proxies/restapi/toxics", timeout=5).json()
        assert [(t["name"], t["attributes"]["latency"]) for t in toxics] == [("slow", 50)]
        (tmp_path / "bad.json").write_text("{not json")
        bad = lab_cli("proxies", "load", str(tmp_path / "bad.json"), env=env)
        assert (
            bad.returncode == 1
            and "is not valid JSON" in bad.stderr
            and "Traceback" not in bad.stderr
        )
    finally:
        httpx.post(f"{api}/reset", timeout=5)
