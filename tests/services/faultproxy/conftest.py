"""Fixtures the faultproxy test modules share: an echo upstream and a faultproxy process.

Both are module-scoped (one process per test module); ``api`` removes every proxy after
each test, so tests in a module do not see each other's proxies. A module that needs a
differently set-up proxy defines its own ``fp``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.faultproxy.fp_support import Api, EchoServer, faultproxy_process


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
