"""The lab's own state: it remembers how it was started, never signals a process that a
stale PID file names, finds its processes without PID files, reports a failing health
check instead of killing, and says (and repairs) what a killed run left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from lab import proc_identity
from lab.backends.local import LocalBackend, _alive, _task_state, free_port_offset
from services.ports import default_port
from tests.lab.test_local_backend import lab_cli

CLEAN = ("WIRELAB_PORT_OFFSET", "WIRELAB_BACKEND")


def clean_env(state: Path, **extra: str) -> dict[str, str]:
    """A shell with only the state folder set: no offset, no backend."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    env.update(WIRELAB_STATE_DIR=str(state), COLUMNS="200", **extra)
    return env


def cli(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    # lab_cli merges os.environ in; blank the variables a clean shell does not have.
    blank = {k: "" for k in os.environ if k.startswith("WIRELAB_") and k not in env}
    return lab_cli(*args, env={**blank, **env}, timeout=timeout)


def wait_dead(pids: list[int], timeout: float = 8.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def lab_dir(tmp_path: Path):
    """A state folder whose lab is always taken down (and its processes swept) afterwards."""
    yield tmp_path
    LocalBackend(state_dir=tmp_path).down()


# -- 1. the lab remembers how it was started ----------------------------------------------


def test_a_clean_shell_finds_the_lab_started_with_an_offset(lab_dir):
    offset = free_port_offset()
    up = cli("up", "--backend", "local", "--port-offset", str(offset), "udpstream",
             env=clean_env(lab_dir))  # fmt: skip
    assert up.returncode == 0, up.stderr
    record = json.loads((lab_dir / "backend.json").read_text())
    assert record["backend"] == "local" and record["port_offset"] == offset
    port = default_port("udpstream", {"WIRELAB_PORT_OFFSET": str(offset)})
    assert record["ports"]["udpstream"] == port

    status = cli("status", "--json", env=clean_env(lab_dir))
    rows = {r["service"]: r for r in json.loads(status.stdout)["services"]}
    assert rows["udpstream"]["state"] == "healthy", status.stdout
    assert rows["udpstream"]["addresses"] == [f"127.0.0.1:{port}/udp"]

    # The same offset in the env agrees; another one is refused, in one line, exit 2.
    same = cli("status", "--json", env=clean_env(lab_dir, WIRELAB_PORT_OFFSET=str(offset)))
    assert json.loads(same.stdout)["services"], same.stderr
    for args, env_extra in (
        (("status",), {"WIRELAB_PORT_OFFSET": str(offset + 50)}),
        (("action", "pause", "udpstream"), {"WIRELAB_PORT_OFFSET": str(offset + 50)}),
        (("status",), {"WIRELAB_BACKEND": "docker"}),
        (("down",), {"WIRELAB_UDPSTREAM_PORT": "9"}),
        (("up", "--port-offset", str(offset + 50)), {}),
        (("up", "--backend", "docker"), {}),
    ):
        refused = cli(*args, env=clean_env(lab_dir, **env_extra))
        assert refused.returncode == 2, (args, env_extra, refused.stdout, refused.stderr)
        lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "points at another lab" in lines[0], refused.stderr
        assert "Traceback" not in refused.stderr
    # Nothing was paused or taken down by the refused commands.
    again = cli("status", "--json", env=clean_env(lab_dir))
    rows = {r["service"]: r for r in json.loads(again.stdout)["services"]}
    assert rows["udpstream"]["state"] == "healthy"

    down = cli("down", env=clean_env(lab_dir))
    assert down.returncode == 0, down.stderr
    assert not (lab_dir / "backend.json").exists()


# -- 2. stale PID files and lost state folders --------------------------------------------


def test_a_stale_pid_file_never_gets_another_process_signalled(lab_dir):
    env = clean_env(lab_dir, WIRELAB_BACKEND="local", WIRELAB_PORT_OFFSET=str(free_port_offset()))
    # An unrelated process that leads its own group, so killpg(pid) would reach it.
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        backend = LocalBackend(state_dir=lab_dir)
        # What `lab up` wrote for udpstream before it died and its PID was reused.
        stale = {
            "pid": sleeper.pid,
            "cmd": backend.command("udpstream"),
            "cmdline": backend.command("udpstream"),
            "start_ticks": proc_identity.proc_info(sleeper.pid).start_ticks - 100,
            "state": "running",
        }
        (lab_dir / "pids" / "udpstream.json").write_text(json.dumps(stale))

        pause = cli("action", "pause", "udpstream", env=env)
        assert pause.returncode == 1
        assert f"pid {sleeper.pid} is now another process (sleep 300)" in pause.stderr
        assert _task_state(Path(f"/proc/{sleeper.pid}/stat")) == "S"  # not stopped

        up = cli("up", "udpstream", env=env)
        assert up.returncode == 0, up.stderr
        assert sleeper.poll() is None, "lab up killed an unrelated process"
        down = cli("down", env=env)
        assert down.returncode == 0, down.stderr
        time.sleep(0.2)
        assert sleeper.poll() is None, "lab down killed an unrelated process"
        assert _task_state(Path(f"/proc/{sleeper.pid}/stat")) == "S"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_down_stops_every_service_when_the_state_folder_is_gone(lab_dir):
    env = clean_env(lab_dir, WIRELAB_BACKEND="local", WIRELAB_PORT_OFFSET=str(free_port_offset()))
    up = cli("up", "udpstream", "rawhttp-blocking", env=env)
    assert up.returncode == 0, up.stderr
    pids = [json.loads(p.read_text())["pid"] for p in (lab_dir / "pids").glob("*.json")]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    shutil.rmtree(lab_dir)

    status = cli("status", "--json", env=env)
    rows = {r["service"]: r for r in json.loads(status.stdout)["services"]}
    for service in ("udpstream", "rawhttp-blocking"):
        assert rows[service]["state"] == "healthy", status.stdout
        assert "found by scanning /proc" in rows[service]["detail"]
    assert rows["restapi"]["state"] == "not started"

    down = cli("down", env=env)
    assert down.returncode == 0, down.stderr
    assert wait_dead(pids) == [], "lab down left a service running"


# -- 3. a running service that fails its probe is reported, not killed --------------------


def test_up_reports_a_failing_health_check_and_keeps_the_service(lab_dir):
    offset = free_port_offset()
    env = clean_env(lab_dir, WIRELAB_BACKEND="local", WIRELAB_PORT_OFFSET=str(offset))
    up = cli("up", "faultproxy", env=env)
    assert up.returncode == 0, up.stderr
    pid = json.loads((lab_dir / "pids" / "faultproxy.json").read_text())["pid"]
    api = f"http://127.0.0.1:{default_port('faultproxy', {'WIRELAB_PORT_OFFSET': str(offset)})}"
    with httpx.Client(base_url=api, trust_env=False, timeout=5) as http:
        # State made at run time, which a restart would lose; and a health failure.
        made = http.post("/proxies", json={"name": "mine", "listen": "127.0.0.1:0",
                                           "upstream": "127.0.0.1:9"})  # fmt: skip
        assert made.status_code == 201, made.text
        assert http.delete("/proxies/restapi").status_code == 204

        t0 = time.monotonic()
        again = cli("up", "faultproxy", env=env)
        elapsed = time.monotonic() - t0
        assert again.returncode == 1
        assert "faultproxy is running (pid" in again.stderr
        assert "fails its health check: proxies missing: restapi" in again.stderr
        assert "it was left running" in again.stderr
        assert elapsed < 15, f"lab up took {elapsed:.1f} s to report it"
        assert _alive(pid)
        assert "mine" in http.get("/proxies").json()


def test_backend_up_leaves_a_running_service_with_a_disabled_proxy(lab_dir):
    offset = free_port_offset()
    backend = LocalBackend(state_dir=lab_dir, port_offset=offset)
    backend.up(["faultproxy"], timeout=30)
    pid = backend._running_pid("faultproxy")
    with httpx.Client(base_url=backend.faultproxy_url(), trust_env=False, timeout=5) as http:
        assert http.post("/proxies/udpstream", json={"enabled": False}).status_code == 200
        from lab.backends.base import BackendError

        with pytest.raises(
            BackendError, match="fails its health check: proxies disabled: udpstream"
        ):
            backend.up(["faultproxy"], timeout=30)
        assert backend._running_pid("faultproxy") == pid
        assert http.get("/proxies/udpstream").json()["enabled"] is False


# -- 4. `lab up` repairs what a killed run left, and says so ------------------------------


def test_up_repairs_toxics_disabled_proxies_and_paused_services(lab_dir):
    offset = free_port_offset()
    env = clean_env(lab_dir, WIRELAB_BACKEND="local", WIRELAB_PORT_OFFSET=str(offset))
    up = cli("up", "faultproxy", "udpstream", env=env)
    assert up.returncode == 0, up.stderr
    api = f"http://127.0.0.1:{default_port('faultproxy', {'WIRELAB_PORT_OFFSET': str(offset)})}"
    with httpx.Client(base_url=api, trust_env=False, timeout=5) as http:
        toxic = {"name": "lag", "type": "latency", "attributes": {"latency": 300}}
        assert http.post("/proxies/udpstream/toxics", json=toxic).status_code == 200
        assert http.post("/proxies/restapi", json={"enabled": False}).status_code == 200
        assert cli("action", "pause", "udpstream", env=env).returncode == 0

        status = cli("status", "--json", env=clean_env(lab_dir))  # any shell sees it
        assert status.returncode == 1
        left = json.loads(status.stdout)["leftovers"]
        assert sorted(left) == [
            "proxy restapi is disabled",
            "proxy udpstream still has toxic lag",
            "service udpstream is paused (left by a scenario or `lab action`)",
        ]

        again = cli("up", "faultproxy", "udpstream", env=clean_env(lab_dir))
        assert again.returncode == 0, again.stderr
        said = again.stderr.replace("\n", " ")
        assert "repaired: resumed paused service udpstream" in said
        assert "removed toxic lag from proxy udpstream" in said
        assert "enabled disabled proxy restapi" in said
        assert http.get("/proxies/udpstream/toxics").json() == []
        assert http.get("/proxies/restapi").json()["enabled"] is True
        clean = cli("status", "--json", env=clean_env(lab_dir))
        assert json.loads(clean.stdout)["leftovers"] == []
