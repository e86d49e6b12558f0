"""Toxiproxy's documented toxic behaviours, ported, with honest tolerances.

The machine is shared, so lower bounds (a toxic can never be *faster* than configured)
are tight, and upper bounds allow for scheduling noise.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest

from tests.services.faultproxy.fp_support import (
    Api,
    EchoServer,
    connect,
    recv_all,
    recv_exactly,
    send_and_read_all,
    wait_until,
)


def rtt(sock: socket.socket, payload: bytes = b"x") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - start


class RecordingServer:
    """Records the size of every recv() on each connection (to count slices)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reads: list[int] = []
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                self.reads.append(len(data))
        self.done.set()


def test_latency_adds_configured_delay(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    with connect(port) as s:
        base = statistics.median(rtt(s) for _ in range(5))
        api.toxic("p", "latency", latency=100)
        samples = [rtt(s) for _ in range(5)]
    # Never less than configured; the median within 10 ms of it, plus the plain RTT.
    assert min(samples) >= 0.0995
    assert statistics.median(samples) <= 0.100 + 0.010 + base


def test_latency_with_jitter_stays_within_bounds(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "latency", latency=100, jitter=30)
    with connect(port) as s:
        samples = [rtt(s) for _ in range(12)]
    assert min(samples) >= 0.070 - 0.001
    assert statistics.median(samples) <= 0.130 + 0.010
    assert max(samples) - min(samples) > 0.005  # the jitter is really applied


def test_latency_does_not_cap_throughput(api: Api, echo: EchoServer) -> None:
    """Delay is measured from each chunk's arrival, so chunks wait concurrently."""
    port = api.create("p", echo.port)
    api.toxic("p", "latency", latency=100)
    payload = bytes(range(256)) * 8192  # 2 MiB: 32+ chunks
    start = time.monotonic()
    assert send_and_read_all(port, payload) == payload
    elapsed = time.monotonic() - start
    # Serialised per chunk it would be >= 3.2 s; pipelined it is ~0.1 s plus transfer.
    assert 0.1 <= elapsed < 2.0


def test_bandwidth_480kb_at_1000kbps_takes_about_480ms(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "bandwidth", "upstream", rate=1000)
    payload = b"hello world " * 40000  # 480 kB, as in Toxiproxy's test
    start = time.monotonic()
    assert send_and_read_all(port, payload) == payload
    elapsed = time.monotonic() - start
    assert 0.475 <= elapsed <= 0.48 * 1.5


def test_slicer_variation_zero_halves_like_toxiproxy(api: Api) -> None:
    upstream = RecordingServer()
    port = api.create("p", upstream.port)
    # 50 ms between slices keeps each slice its own segment and its own recv().
    api.toxic("p", "slicer", "upstream", average_size=100, size_variation=0, delay=50000)
    with connect(port) as s:
        s.sendall(bytes(1000))
    assert upstream.done.wait(10)
    assert upstream.reads == [62, 63] * 8  # 1000 halved until <= 100: Toxiproxy's cuts


def test_slicer_with_variation_keeps_bytes_exact(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "slicer", "downstream", average_size=64, size_variation=32, delay=10)
    payload = bytes(range(256)) * 200
    assert send_and_read_all(port, payload) == payload


def test_reset_peer_gives_econnreset(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "reset_peer", "downstream", timeout=0)
    with connect(port) as s:
        s.settimeout(5)
        with pytest.raises(ConnectionResetError):
            s.sendall(b"hello")
            s.recv(10)


def test_reset_peer_clock_survives_a_chain_rebuild(api: Api, echo: EchoServer) -> None:
    """The timer runs from the first chunk; another toxic arriving must not restart it."""
    port = api.create("p", echo.port)
    api.toxic("p", "reset_peer", "upstream", timeout=600)
    with connect(port) as s:
        s.settimeout(5)
        start = time.monotonic()
        s.sendall(b"first")  # dropped; starts the clock
        time.sleep(0.3)
        api.toxic("p", "noop", "upstream")  # rebuilds the chain mid-wait
        with pytest.raises(ConnectionResetError):
            assert s.recv(10) == b""
        assert 0.59 <= time.monotonic() - start <= 0.85


def test_timeout_drops_data_then_closes(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "timeout", "upstream", timeout=300)
    with connect(port) as s:
        start = time.monotonic()
        s.sendall(b"lost")
        assert recv_all(s) == b""
        assert 0.29 <= time.monotonic() - start <= 2.0


def test_timeout_zero_holds_until_removed(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "timeout", "downstream", timeout=0)
    with connect(port) as s:
        s.sendall(b"held")
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(10)
        s.settimeout(5)
        start = time.monotonic()
        assert api.delete("/proxies/p/toxics/timeout_downstream").status_code == 204
        assert recv_all(s) == b""  # removing it closes the connection
        assert time.monotonic() - start < 1.0


def test_slow_close_delays_the_fin(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "slow_close", "downstream", delay=300)
    with connect(port) as s:
        s.sendall(b"bye")
        assert recv_exactly(s, 3) == b"bye"
        start = time.monotonic()
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b""
        assert 0.29 <= time.monotonic() - start <= 2.0


def test_limit_data_cuts_and_closes(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "limit_data", "downstream", bytes=100)
    with connect(port) as s:
        s.sendall(b"a" * 60)
        assert recv_exactly(s, 60) == b"a" * 60
        s.sendall(b"b" * 90)
        assert recv_all(s) == b"b" * 40


def test_limit_data_zero_closes_on_first_data(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "limit_data", "upstream", bytes=0)
    with connect(port) as s:
        s.sendall(b"x")
        assert recv_all(s) == b""


def test_toxicity_zero_never_applies(api: Api, echo: EchoServer) -> None:
    port = api.create("zero", echo.port)
    api.toxic("zero", "latency", latency=1000, toxicity=0.0)
    for _ in range(20):
        with connect(port) as s:
            assert rtt(s) < 0.5
    metrics = api.get("/metrics").text
    assert 'proxy="zero",toxic="latency_downstream"' not in metrics


def test_toxicity_is_rolled_per_connection(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "latency", latency=60, toxicity=0.5)
    active = 0
    for _ in range(40):
        with connect(port) as s:
            first = rtt(s)
            # The previous connection may not be reaped yet: pick ours by client port.
            me = f"127.0.0.1:{s.getsockname()[1]}"
            conns = [c for c in api.get("/proxies/p/connections").json() if c["client"] == me]
            assert len(conns) == 1
            on = conns[0]["toxics"]["downstream"] == ["latency_downstream"]
            second = rtt(s)
            # The decision holds for the whole connection (a stall can make a clean
            # round trip slow, but nothing makes a delayed one fast).
            if on:
                assert first >= 0.0595 and second >= 0.0595
            active += on
    assert 6 <= active <= 34  # binomial(40, 0.5): outside this is p < 1e-5


def test_live_toxic_changes_apply_to_open_connections(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    with connect(port) as s:
        assert rtt(s) < 0.09
        api.toxic("p", "latency", "upstream", latency=200)
        assert rtt(s) >= 0.199
        api.post("/proxies/p/toxics/latency_upstream", {"attributes": {"latency": 100}})
        assert 0.099 <= rtt(s) < 0.199
        api.delete("/proxies/p/toxics/latency_upstream")
        assert rtt(s) < 0.09
        wait_until(
            lambda: api.get("/proxies/p/connections").json()[0]["mode"]["upstream"] == "splice"
        )
        assert rtt(s, b"back on splice") < 0.09


def test_noop_passes_bytes(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "noop", "upstream")
    payload = b"0123456789" * 10000
    assert send_and_read_all(port, payload) == payload
