"""Fixtures the faultproxy test modules share: an echo upstream and a faultproxy process.

Both are module-scoped (one process per test module); ``api`` removes every proxy after
each test, so tests in a module do not see each other's proxies. A module that needs a
differently set-up proxy defines its own ``fp``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.common.processes import free_port, service_process, wait_tcp
from tests.services.faultproxy.fp_support import (
    HTTP_UPSTREAM_SERVER,
    Api,
    EchoServer,
    Web,
    faultproxy_process,
    proxy_numbers,
)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def fp() -> Iterator[Api]:
    with faultproxy_process() as (api, _proc):
        yield api


@pytest.fixture()
def api(fp: Api) -> Iterator[Api]:
    yield fp
    fp.reset()


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    port = free_port()
    with service_process(
        ["-c", HTTP_UPSTREAM_SERVER, str(port)], lambda: wait_tcp(port, timeout=0.5)
    ):
        yield port


@pytest.fixture()
def web(api: Api, upstream: int) -> Iterator[Web]:
    """A proxy to the upstream and a keep-alive httpx client on it (one connection).

    Metrics live as long as the faultproxy process, so each test's proxy has its own name.
    """
    name = f"web{next(proxy_numbers)}"
    port = api.create(name, upstream)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, limits=limits) as client:
        yield Web(api, client, name, port)
