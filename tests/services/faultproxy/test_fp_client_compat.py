"""The PyPI client ``toxiproxy-python``, unmodified, drives faultproxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.services.faultproxy.fp_support import (
    EchoServer,
    connect,
    faultproxy_process,
    recv_exactly,
)


@pytest.fixture(scope="module")
def server() -> Iterator[Toxiproxy]:
    echo = EchoServer()
    with faultproxy_process() as (api, _proc):
        client = Toxiproxy()
        client.update_api_consumer("127.0.0.1", api.port)
        client.echo_port = echo.port  # type: ignore[attr-defined]
        yield client
    echo.close()
    APIConsumer.host, APIConsumer.port = "127.0.0.1", 8474


def roundtrip(port: int, data: bytes = b"hello") -> bytes:
    with connect(port, timeout=5) as s:
        s.sendall(data)
        # One recv() is not one send(): under a slicer the echo arrives in pieces.
        return recv_exactly(s, len(data))


def test_full_client_lifecycle(server: Toxiproxy) -> None:
    assert server.running()
    assert b"2." in server.version()
    upstream = f"127.0.0.1:{server.echo_port}"  # type: ignore[attr-defined]
    proxy = server.create(upstream=upstream, name="compat")
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert roundtrip(port) == b"hello"
    assert set(server.proxies()) == {"compat"}
    with pytest.raises(ProxyExists):
        server.create(upstream=upstream, name="compat")

    proxy.disable()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    proxy.enable()
    assert roundtrip(port) == b"hello"
    with proxy.down():
        assert server.get_proxy("compat").enabled is False
    assert server.get_proxy("compat").enabled is True

    proxy.add_toxic(type="latency", attributes={"latency": 50})
    proxy.add_toxic(
        type="slicer", stream="upstream", attributes={"average_size": 2, "size_variation": 1}
    )
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "slicer_upstream"}
    assert toxics["latency_downstream"].attributes == {"latency": 50, "jitter": 0}
    assert roundtrip(port, b"sliced!") == b"sliced!"
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    assert proxy.destroy_toxic("slicer_upstream")
    assert set(proxy.toxics()) == {"latency_downstream"}

    assert server.reset()
    assert proxy.toxics() == {}
    proxy.destroy()
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/compat")
    assert server.proxies() == {}


def test_client_populate_and_destroy_all(server: Toxiproxy) -> None:
    upstream = f"127.0.0.1:{server.echo_port}"  # type: ignore[attr-defined]
    created = server.populate(
        [
            {"name": "one", "upstream": upstream, "listen": "127.0.0.1:0"},
            {"name": "two", "upstream": upstream, "listen": "127.0.0.1:0"},
        ]
    )
    assert sorted(p.name for p in created) == ["one", "two"]
    for p in created:
        assert roundtrip(int(p.listen.rsplit(":", 1)[1])) == b"hello"
    server.destroy_all()
    assert server.proxies() == {}
