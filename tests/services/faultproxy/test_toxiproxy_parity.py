"""Behaviour clients depend on, checked on faultproxy and on the real Toxiproxy alike.

Every test runs twice: against faultproxy, and against the reference Toxiproxy 2.12.0
when its binary is present (skipped with the reason otherwise). Both must pass the same
assertions on exact values, so where both run, they agree.
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Iterator

import pytest

from services.common.processes import free_port
from services.common.reference_peers import reference_missing, toxiproxy_process
from services.faultproxy.tcp.toxic_maths import slice_offsets
from tests.services.faultproxy.fp_support import (
    Api,
    EchoServer,
    connect,
    faultproxy_process,
    recv_all,
    recv_exactly,
    wait_until,
)


@pytest.fixture(scope="module", params=["faultproxy", "toxiproxy"])
def fp(request: pytest.FixtureRequest) -> Iterator[Api]:
    """Overrides conftest's ``fp``: each test runs on faultproxy and on the reference
    Toxiproxy (conftest's ``api`` resets whichever it is after each test)."""
    if request.param == "toxiproxy":
        why = reference_missing()
        if why:
            pytest.skip(why)
        with toxiproxy_process("-proxy-metrics") as port:
            api = Api(port)
            yield api
            api.close()
    else:
        with faultproxy_process() as (api, _proc):
            yield api


def echoes(sock: socket.socket, data: bytes) -> bool:
    sock.sendall(data)
    return recv_exactly(sock, len(data)) == data


def proxy_body(name: str, listen: str, upstream_port: int, **extra: object) -> dict:
    return {"name": name, "listen": listen, "upstream": f"127.0.0.1:{upstream_port}", **extra}


# ---- POST /populate ---------------------------------------------------------------------


@pytest.mark.parametrize("toxics_key", [{}, {"toxics": None}, {"toxics": []}])
def test_populate_leaves_an_unchanged_proxy_alone(
    api: Api, echo: EchoServer, toxics_key: dict
) -> None:
    """Toxiproxy's TestPopulateExistingProxy: `localhost:P` is the stored `127.0.0.1:P`,
    a null or empty `toxics` key keeps the toxics, and a live connection survives."""
    port = free_port()
    assert (
        api.post("/proxies", proxy_body("one", f"127.0.0.1:{port}", echo.port)).status_code == 201
    )
    api.toxic("one", "latency", latency=1)
    with connect(port) as live:
        assert echoes(live, b"before")
        r = api.post("/populate", [proxy_body("one", f"localhost:{port}", echo.port, **toxics_key)])
        assert r.status_code == 201, r.text
        (shown,) = r.json()["proxies"]
        assert (shown["listen"], shown["enabled"]) == (f"127.0.0.1:{port}", True)
        assert [t["type"] for t in shown["toxics"]] == ["latency"]
        assert [t["type"] for t in api.get("/proxies/one/toxics").json()] == ["latency"]
        assert echoes(live, b"after")  # the same connection: not torn down


def test_populate_keeps_a_disabled_proxy_disabled(api: Api, echo: EchoServer) -> None:
    port = free_port()
    api.post("/proxies", proxy_body("off", f"127.0.0.1:{port}", echo.port))
    assert api.post("/proxies/off", {"enabled": False}).json()["enabled"] is False
    r = api.post("/populate", [proxy_body("off", f"127.0.0.1:{port}", echo.port)])
    assert r.status_code == 201 and r.json()["proxies"][0]["enabled"] is False
    assert api.get("/proxies/off").json()["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        connect(port).close()


def test_populate_with_another_upstream_replaces_the_proxy(api: Api, echo: EchoServer) -> None:
    port = free_port()
    api.post("/proxies", proxy_body("moved", f"127.0.0.1:{port}", echo.port))
    api.toxic("moved", "latency", latency=1)
    with connect(port) as live:
        assert echoes(live, b"x")
        other = EchoServer()
        try:
            r = api.post("/populate", [proxy_body("moved", f"127.0.0.1:{port}", other.port)])
            assert r.status_code == 201
            assert r.json()["proxies"][0]["toxics"] == []
            try:
                assert live.recv(10) == b""  # the old proxy's connections are closed
            except ConnectionResetError:
                pass
            with connect(port) as fresh:
                assert echoes(fresh, b"y")
        finally:
            other.close()


def test_populate_error_names_the_entry_and_creates_nothing(api: Api, echo: EchoServer) -> None:
    r = api.post(
        "/populate",
        [proxy_body("c", "127.0.0.1:0", echo.port), proxy_body("", "127.0.0.1:0", echo.port)],
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "missing required field: name at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert api.get("/proxies").json() == {}


def test_populate_bind_error_keeps_the_proxies_before_it(api: Api, echo: EchoServer) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        r = api.post(
            "/populate",
            [
                proxy_body("first", "127.0.0.1:0", echo.port),
                proxy_body("second", f"127.0.0.1:{busy_port}", echo.port),
                proxy_body("third", "127.0.0.1:0", echo.port),
            ],
        )
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == f"listen tcp 127.0.0.1:{busy_port}: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == ["first"]
    assert sorted(api.get("/proxies").json()) == ["first"]


# ---- upstreams, headers, metrics ------------------------------------------------------


def test_any_upstream_behind_a_loopback_listener(api: Api) -> None:
    """A database on the network is a normal upstream (nothing connects until a client does)."""
    r = api.post("/proxies", {"name": "db", "listen": "127.0.0.1:0", "upstream": "10.1.2.3:5432"})
    assert r.status_code == 201, r.text
    r = api.post("/proxies/db", {"upstream": "192.0.2.1:80"})
    assert r.status_code == 200 and r.json()["upstream"] == "192.0.2.1:80"


def test_every_answer_carries_a_request_id(api: Api) -> None:
    answers = [api.get("/version"), api.get("/proxies"), api.get("/proxies/missing")]
    ids = [r.headers.get("X-Toxiproxy-Request-Id", "") for r in answers]
    assert all(re.fullmatch(r"[0-9a-v]{20}", i) for i in ids), ids
    assert len(set(ids)) == 3


def test_unknown_path_and_browsers_get_go_plain_text(api: Api) -> None:
    r = api.get("/nope")
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    r = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert (r.status_code, r.text) == (403, "User agent not allowed\n")


def _series(text: str, family: str, proxy: str) -> dict[tuple[str, str, str], int]:
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(
            family
            + r'\{direction="(\w+)",listener="([^"]+)",proxy="([^"]+)",upstream="([^"]+)"\} (\d+)',
            line,
        )
        if m and m.group(3) == proxy:
            out[(m.group(1), m.group(2), m.group(4))] = int(m.group(5))
    return out


def test_toxiproxy_byte_counters(api: Api, echo: EchoServer) -> None:
    port = api.create("m", echo.port)
    listen, upstream = f"127.0.0.1:{port}", f"127.0.0.1:{echo.port}"
    with connect(port) as s:
        assert echoes(s, b"x" * 100)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b""
    want = {("upstream", listen, upstream): 100, ("downstream", listen, upstream): 100}
    for family in ("toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"):
        # Toxiproxy adds the bytes when a direction ends: wait for the close to land.
        wait_until(lambda f=family: _series(api.get("/metrics").text, f, "m") == want)


# ---- toxic semantics --------------------------------------------------------------------


def test_reset_peer_waits_for_data_drops_it_then_resets(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "reset_peer", "upstream", timeout=300)
    with connect(port) as s:
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):  # no data yet: no timer running, no reset
            s.recv(10)
        s.settimeout(5)
        start = time.monotonic()
        s.sendall(b"dropped")
        with pytest.raises(ConnectionResetError):
            assert s.recv(10) == b"", "the first chunk must not reach the upstream"
        assert 0.29 <= time.monotonic() - start <= 1.5


def test_timeout_restarts_on_every_chunk(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "timeout", "upstream", timeout=300)
    with connect(port) as s:
        s.settimeout(0.1)
        for _ in range(8):  # 0.8 s of chatter, a chunk every 100 ms: never 300 ms idle
            s.sendall(b"lost")
            last = time.monotonic()
            with pytest.raises(TimeoutError):
                s.recv(10)  # nothing comes back: the data is dropped
        s.settimeout(5)
        assert recv_all(s) == b""
        assert 0.29 <= time.monotonic() - last <= 1.5


def test_slicer_halves_recursively(api: Api, echo: EchoServer) -> None:
    """1000 bytes at average 64, variation 0: sixteen slices of 62 and 63 bytes."""
    port = api.create("p", echo.port)
    api.toxic("p", "slicer", "downstream", average_size=64, size_variation=0, delay=30_000)
    cuts = slice_offsets(1000, 64, 0, random.Random(0))
    expected = [b - a for a, b in zip(cuts, cuts[1:], strict=False)]
    assert expected == [62, 63] * 8
    with connect(port) as s:
        s.sendall(bytes(range(250)) * 4)
        sizes = []
        while sum(sizes) < 1000:
            sizes.append(len(s.recv(4096)))  # 30 ms apart: one slice per read
    assert sizes == expected
