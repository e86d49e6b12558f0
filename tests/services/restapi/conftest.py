"""A real restapi process on a free port, for the tests in this folder."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.common.processes import free_port, service_process

HIGH_LIMITS = ["--rate-limit", "api=100000/100000", "--rate-limit", "practice=100000/100000"]
WRITER = {"Authorization": "Bearer alice-token"}


@dataclass
class RestApi:
    url: str
    port: int
    state_dir: Path
    proc: subprocess.Popen[bytes]

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kw)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_restapi(
    state_dir: Path, *extra: str, port: int | None = None, log_path: Path | None = None
) -> Iterator[RestApi]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "-m",
        "services.restapi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        *extra,
    ]

    def ready() -> None:
        httpx.get(url + "/healthz", timeout=1.0).raise_for_status()

    with service_process(args, ready, timeout=30.0, log_path=log_path) as proc:
        yield RestApi(url, port, state_dir, proc)


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestApi]:
    """One server for the behaviour tests (each resets it), limiter on with limits nobody reaches."""
    with running_restapi(tmp_path_factory.mktemp("restapi"), *HIGH_LIMITS) as server:
        yield server


@pytest.fixture
def http(api: RestApi) -> Iterator[httpx.Client]:
    """A client on a freshly reset server."""
    with api.client() as client:
        client.post("/_lab/reset").raise_for_status()
        yield client
