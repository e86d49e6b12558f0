"""The docker backend against a real Compose stack: up, health, actions, down.

The stack is the session's one docker lab (tests/docker_stack.py: its own Compose project
name and free ports; the teardown checks `lab down` leaves nothing behind). Under CI=true
with an engine present a skip here fails the run (tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lab.backends.base import BackendError
from lab.backends.docker_backend import (
    DockerBackend,
    isolated_ports,
)
from lab.health import HealthProbeError, probe_http, probe_tls
from services.ports import SERVICES, VIA_PROXY
from tests.docker_stack import Stack, lab, require_docker

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]


def eventually(check: Callable[[], object], timeout: float = 15.0) -> object:
    """Retry ``check`` until it stops raising; the last error if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, OSError, HealthProbeError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def stack(docker_stack: Stack) -> Stack:
    return docker_stack


def test_up_prints_every_service_healthy(stack):
    for service in SERVICES:
        assert service in stack.up_output
    assert "healthy" in stack.up_output
    rows = {r.service: r for r in stack.backend.status()}
    assert set(rows) == set(SERVICES)
    assert {r.state for r in rows.values()} == {"healthy"}, {s: r.detail for s, r in rows.items()}
    assert f"127.0.0.1:{stack.ports['rawhttp']}/tcp" in rows["rawhttp"].addresses


def test_cli_status_logs_and_ca_use_the_docker_backend(stack):
    status = lab("status", "--json", env=stack.env, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["backend"] == "docker"
    assert {s["service"]: s["state"] for s in report["services"]} == dict.fromkeys(
        SERVICES, "healthy"
    )
    logs = lab("logs", "restapi", "--tail", "5", env=stack.env, timeout=60)
    assert logs.returncode == 0 and logs.stdout.strip(), logs.stderr
    ca = lab("ca", env=stack.env, timeout=60)
    assert ca.returncode == 0 and Path(ca.stdout.strip()).is_file(), ca.stderr


def test_image_is_lean_and_runs_python_3_11(stack):
    rawhttp = next(
        c for c in stack.containers() if c.labels["com.docker.compose.service"] == "rawhttp"
    )
    code, out = rawhttp.exec_run(["python", "-c", "import sys; print(sys.version_info[:2])"])
    assert code == 0 and out.strip() == b"(3, 11)"
    # No compilers, no pip: nothing that builds or installs software at run time.
    code, out = rawhttp.exec_run(
        ["sh", "-c", "for t in gcc cc make pip pip3 apt-get; do command -v $t; done; true"]
    )
    assert out.decode().split() == ["/usr/bin/apt-get"], out


def test_base_image_resolution_is_cached(stack):
    from lab.images import DEFAULT_BASE, debootstrap_tag, docker_client, resolve_base_image

    client = docker_client()
    started = time.monotonic()
    first = resolve_base_image(client, log=lambda line: None)
    assert resolve_base_image(client, log=lambda line: None) == first
    assert time.monotonic() - started < 5.0  # no debootstrap: the imported base is reused
    assert first in (DEFAULT_BASE, debootstrap_tag())
    image = client.images.get(stack.containers()[0].image.id)
    assert "WIRELAB_STATE_DIR=/var/lib/wirelab" in image.attrs["Config"]["Env"]


def test_services_answer_directly_and_through_the_proxy(stack):
    for endpoint in ("rawhttp", "rawhttp.blocking", "restapi"):
        assert httpx.get(stack.url(endpoint), timeout=5).status_code == 200
        assert httpx.get(stack.url(endpoint + VIA_PROXY), timeout=5).status_code == 200
    version = httpx.get(stack.url("faultproxy", "/version"), timeout=5)
    assert version.status_code == 200
    from services.udpstream.health import probe

    for endpoint in ("udpstream", "udpstream.via_proxy"):
        assert probe("127.0.0.1", stack.ports[endpoint], 3.0)
    with socket.create_connection(("127.0.0.1", stack.ports["rawhttp.echo.via_proxy"]), 5) as s:
        s.sendall(b"through the proxy\n")
        assert s.recv(100) == b"through the proxy\n"


def test_address_reads_the_published_ports(stack):
    for name in ("rawhttp", "rawhttp.https", "udpstream", "restapi.via_proxy", "faultproxy"):
        assert stack.backend.address(name) == ("127.0.0.1", stack.ports[name])


def test_ports_are_published_on_loopback_only(stack):
    for container in stack.containers():
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", container.name


def test_services_run_as_a_non_root_user(stack):
    for container in stack.containers():
        code, out = container.exec_run(["id", "-u"])
        assert code == 0 and out.strip() not in (b"0", b""), container.name


def test_docroot_is_the_repo_folder(stack):
    index = REPO / "services" / "rawhttp" / "docroot" / "index.html"
    response = httpx.get(stack.url("rawhttp", "/index.html"), timeout=5)
    assert response.status_code == 200
    assert response.content == index.read_bytes()


def test_ca_is_copied_out_and_verifies_https(stack):
    ca = Path(stack.backend.ca_path())
    assert ca.is_file() and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert ca.is_relative_to(stack.state)
    assert "TLS verified" in probe_tls("127.0.0.1", stack.ports["rawhttp.https"], str(ca))


def test_pause_and_resume(stack):
    backend = stack.backend
    backend.pause("rawhttp-blocking")
    try:
        assert {r.service: r.state for r in backend.status()}["rawhttp-blocking"] == "paused"
        with pytest.raises(HealthProbeError):
            probe_http("127.0.0.1", stack.ports["rawhttp.blocking"], timeout=1.0)
    finally:
        backend.resume("rawhttp-blocking")
    eventually(lambda: probe_http("127.0.0.1", stack.ports["rawhttp.blocking"]))
    assert backend.paused_or_stopped() == []


def test_stop_and_start(stack):
    backend = stack.backend
    backend.stop("udpstream")
    try:
        assert {r.service: r.state for r in backend.status()}["udpstream"] == "stopped"
    finally:
        backend.start("udpstream")
    from services.udpstream.health import probe

    eventually(lambda: probe("127.0.0.1", stack.ports["udpstream"], 1.0))


def test_partition_and_heal(stack):
    backend = stack.backend
    backend.partition("restapi")
    try:
        assert {r.service: r.state for r in backend.status()}["restapi"] == "partitioned"
        assert "restapi" in backend.paused_or_stopped()
        # Off the network, the proxy cannot reach it: no 200 through the proxy.
        try:
            answer = httpx.get(stack.url("restapi.via_proxy"), timeout=3).status_code
        except httpx.HTTPError:
            answer = None
        assert answer != 200
    finally:
        backend.heal("restapi")
    # Back on the network under its service name: the proxy resolves it again, and the
    # engine publishes its port on the host again.
    eventually(lambda: probe_http("127.0.0.1", stack.ports["restapi.via_proxy"], timeout=2))
    eventually(lambda: probe_http("127.0.0.1", stack.ports["restapi"], timeout=2))
    assert {r.service: r.state for r in backend.status()}["restapi"] == "healthy"


def test_logs_lines_and_follow(stack):
    lines = list(stack.backend.logs("udpstream", tail=50))
    assert lines and all(isinstance(line, str) for line in lines)
    followed = stack.backend.logs("udpstream", follow=True, tail=1)
    assert isinstance(next(followed), str)
    followed.close()


def test_unknown_service_is_one_clear_error(stack):
    with pytest.raises(BackendError, match="unknown service 'rawhtp'"):
        stack.backend.pause("rawhtp")


def journal_outcomes(path: Path) -> dict[str, tuple[str, str]]:
    data = json.loads(path.read_text())
    return {
        s["name"]: (s["status"], s.get("failure") or s.get("reason") or "")
        for s in data["scenarios"]
    }


def scenario_files() -> list[Path]:
    root = REPO / "scenarios"
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def test_lab_run_all_on_docker_runs_every_scenario(stack, tmp_path):
    """One `lab run all` on the docker backend runs the whole library: none skipped.

    Scenarios that pause, stop or partition a service run on the host (the engine is
    there); all others in a runner container on the lab network (no docker-proxy). The
    count is that of the files in scenarios/, so a new scenario that skips on Docker
    fails here.
    """
    if importlib.util.find_spec("lab.cli_scenarios") is None:
        pytest.skip("the scenario engine (`lab run`) is not in this tree yet")
    from lab.backends.docker_backend import ACTIONS
    from lab.scenario.library import load_all

    files = scenario_files()
    library = {s.name: set(s.needs) for s in load_all().scenarios}
    assert len(library) == len(files)
    needs_engine = {name for name, needs in library.items() if needs & ACTIONS}
    assert {"paused-service", "stopped-service", "partition"} <= needs_engine

    journal, junit = tmp_path / "run.json", tmp_path / "run.xml"
    run = lab("run", "all", "--json", str(journal), "--junit", str(junit), env=stack.env)
    log = run.stdout[-4000:] + run.stderr[-2000:]
    assert journal.is_file(), log
    data = json.loads(journal.read_text())
    assert data["backend"] == "docker"
    outcomes = {s["name"]: (s["status"], s["ran_in"]) for s in data["scenarios"]}
    assert len(data["scenarios"]) == len(files), log
    assert {name: o for name, o in outcomes.items() if o[0] != "passed"} == {}, log
    assert data["counts"] == {"passed": len(files)} and data["passed"] is True
    assert run.returncode == 0, log
    # Where each ran: the engine's actions on the host, everything else in the network.
    assert {n for n, o in outcomes.items() if o[1] == "host"} == needs_engine
    assert {n for n, o in outcomes.items() if o[1] == "lab network"} == set(library) - needs_engine
    # The runner's own journal entries come through, steps and all.
    reset_peer = next(s for s in data["scenarios"] if s["name"] == "reset-peer")
    assert reset_peer["steps"] and reset_peer["file"] == str(
        REPO / "scenarios/outages/reset-peer.yaml"
    )
    # One report: the table says where each ran; the JUnit file counts every scenario.
    assert "ran in" in run.stdout and "lab network" in run.stdout, log
    assert f"{len(files)} scenario run(s): {len(files)} passed" in run.stdout, log
    import xml.etree.ElementTree as ET

    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == len(files) and not ET.parse(junit).getroot().findall(".//skipped")
    assert stack.backend.runners() == [], "the runner container must be removed"


HELD_FAULT = """\
name: held-fault
summary: a toxic is in place when Ctrl-C arrives
lesson: the rollback removes it
steps:
  - name: add latency
    toxic: {add: {proxy: restapi, type: latency, name: held, attributes: {latency: 50}}}
  - name: hold it
    sleep: 60
"""


def test_ctrl_c_mid_run_removes_the_runner_and_rolls_back(stack, tmp_path):
    """A real SIGINT while the runner container holds a fault: it rolls back, it goes."""
    scenario = tmp_path / "held-fault.yaml"  # from outside the image: bind-mounted
    scenario.write_text(HELD_FAULT)
    journal = tmp_path / "run.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "run", str(scenario), "--json", str(journal)],
        cwd=REPO,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    toxics_url = stack.url("faultproxy", "/proxies/restapi/toxics")
    try:

        def fault_in_place() -> None:
            assert stack.backend.runners(), "no runner container yet"
            names = [t["name"] for t in httpx.get(toxics_url, timeout=2).json()]
            assert names == ["held"], names

        eventually(fault_in_place, timeout=60)
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + errors
    assert "interrupted: the lab was rolled back" in errors
    assert stack.backend.runners() == []
    assert httpx.get(toxics_url, timeout=5).json() == []
    data = json.loads(journal.read_text())
    assert data["interrupted"] is True
    [entry] = data["scenarios"]
    assert (entry["status"], entry["ran_in"]) == ("interrupted", "lab network"), entry
    # The runner itself removed the toxic (its rollback), not only the host's safety net.
    assert any("held" in action["what"] and action["ok"] for action in entry["rollback"]), entry


def test_a_left_runner_is_labelled_for_lab_down(stack):
    """A runner left behind (its `lab run` killed outright, say) carries the label `lab down`
    uses: this one stays on the network, and the fixture's teardown checks `lab down`
    removes it, and the network with it."""
    from lab.backends.docker_backend import RUNNER_LABEL

    image = stack.backend._containers()["rawhttp"].image.id
    left = stack.backend.client.containers.run(
        image,
        ["sleep", "300"],
        detach=True,
        labels={RUNNER_LABEL: stack.project},
        network=stack.backend.network_name(),
    )
    assert [c.id for c in stack.backend.runners()] == [left.id]


def test_ci_guard_turns_a_docker_skip_into_a_failure(tmp_path):
    """The conftest hook itself: under CI=true with an engine, a skipped docker test fails."""
    require_docker()
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "test_guarded.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.docker\n"
        "def test_skips():\n"
        "    pytest.skip('pretend the engine vanished')\n"
    )
    base_env = {k: v for k, v in os.environ.items() if k != "CI"}
    base_env["PYTHONPATH"] = str(REPO)
    results = {}
    for ci in ("true", None):
        env = {**base_env, "CI": ci} if ci else base_env
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        results[ci] = (proc.returncode, proc.stdout)
    assert results["true"][0] == 1 and "1 failed" in results["true"][1], results["true"][1]
    assert "although a Docker engine answers" in results["true"][1]
    assert results[None][0] == 0 and "1 skipped" in results[None][1], results[None][1]


def test_a_taken_port_is_one_clear_line(tmp_path):
    require_docker()
    ports = isolated_ports()
    backend = DockerBackend(
        ports=ports, project=f"wirelab-test-busy-{os.getpid()}", state_dir=tmp_path
    )
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["restapi"]))
        holder.listen()
        try:
            with pytest.raises(BackendError) as caught:
                backend.up(["restapi"], timeout=60)
        finally:
            backend.down(volumes=True)
    message = str(caught.value)
    assert message.startswith(f"port {ports['restapi']}/tcp for restapi is already in use")
    assert "WIRELAB_RESTAPI_PORT" in message and "\n" not in message


def test_skip_reasons_say_why_and_where_to_run(tmp_path):
    """No engine needed: the reasons come from the declared needs and where the lab runs."""
    from lab.scenario.engine import skip_reason
    from lab.scenario.model import load_scenario

    scenarios = {}
    for needs in ("raw-transport", "pause, resume", "partition"):
        file = tmp_path / f"{needs.split(',')[0]}.yaml"
        file.write_text(
            f"name: s\nsummary: s\nlesson: l\nneeds: [{needs}]\nsteps: [{{sleep: 0}}]\n"
        )
        scenarios[needs] = load_scenario(file)
    host = DockerBackend(project="wirelab-test-reasons", state_dir=tmp_path, in_network=False)
    inside = DockerBackend(project="wirelab-test-reasons", state_dir=tmp_path, in_network=True)

    reason = skip_reason(scenarios["raw-transport"], host)
    assert reason and "docker-proxy" in reason and "refused/RST" in reason
    assert "`lab run` runs it in a runner container on the lab network" in reason
    assert skip_reason(scenarios["pause, resume"], host) is None
    assert skip_reason(scenarios["partition"], host) is None

    assert skip_reason(scenarios["raw-transport"], inside) is None
    reason = skip_reason(scenarios["pause, resume"], inside)
    assert reason and reason.startswith("needs the pause, resume capabilities")
    assert "no Docker engine" in reason and "lab up --backend docker" in reason
    assert "no Docker engine" in (skip_reason(scenarios["partition"], inside) or "")
