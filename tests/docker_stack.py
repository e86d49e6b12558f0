"""One docker-backend lab for the whole test session, started through the CLI.

`lab up --backend docker` under its own Compose project name and on free ports, so a lab
left running on the machine (or the integrator's own test run) is never touched; the
teardown runs `lab down` and checks nothing is left behind. Every docker-marked test that
needs a running stack takes the ``docker_stack`` fixture, so the stack starts once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.backends.base import BackendError
from lab.backends.docker_backend import (
    DockerBackend,
    compose_command,
    engine_available,
    isolated_ports,
)
from services.ports import env_var_for

REPO = Path(__file__).resolve().parents[1]


def require_docker() -> None:
    if not engine_available():
        pytest.skip("no Docker engine answers: docker backend tests skipped")
    try:
        compose_command()
    except BackendError as exc:
        pytest.skip(str(exc))


def lab(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Stack:
    def __init__(self, project: str, env: dict[str, str], ports: dict[str, int], state: Path):
        self.project, self.env, self.ports, self.state = project, env, ports, state
        self.backend = DockerBackend(ports=ports, project=project, state_dir=state)
        self.up_output = ""

    def url(self, endpoint: str, path: str = "/healthz") -> str:
        return f"http://127.0.0.1:{self.ports[endpoint]}{path}"

    def containers(self) -> list:
        import docker

        client = docker.from_env()
        return client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )


@pytest.fixture(scope="session")
def docker_stack(tmp_path_factory) -> Iterator[Stack]:
    require_docker()
    state = tmp_path_factory.mktemp("docker-state")
    project = f"wirelab-test-{os.getpid()}"
    ports = isolated_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    env.update({env_var_for(name): str(port) for name, port in ports.items()})
    # WIRELAB_BACKEND: the second `lab down` (with --volumes) finds no recorded backend.
    env.update(
        WIRELAB_STATE_DIR=str(state),
        WIRELAB_COMPOSE_PROJECT=project,
        WIRELAB_BACKEND="docker",
        PYTHONUNBUFFERED="1",
    )
    s = Stack(project, env, ports, state)
    up = lab("up", "--backend", "docker", "--timeout", "120", env=env)
    s.up_output = up.stdout + up.stderr
    try:
        assert up.returncode == 0, f"lab up --backend docker failed:\n{s.up_output}"
        yield s
    finally:
        down = lab("down", env=env, timeout=120)
        left = s.containers() + s.backend.runners()
        import docker

        networks = docker.from_env().networks.list(names=[s.backend.network_name()])
        volumes = docker.from_env().volumes.list(filters={"name": f"{project}_state"})
        down_v = lab("down", "--volumes", env=env, timeout=120)
        gone = docker.from_env().volumes.list(filters={"name": f"{project}_state"})
        assert down.returncode == 0, down.stdout + down.stderr
        assert left == [], f"lab down left containers: {[c.name for c in left]}"
        assert networks == [], f"lab down left the network {s.backend.network_name()}"
        assert [v.name for v in volumes] == [f"{project}_state"], "lab down must keep volumes"
        assert gone == [], (
            f"lab down --volumes left the state volume: {down_v.stdout}{down_v.stderr}"
        )
