"""UDP proxies through a real faultproxy process: sessions, toxics, counters, the API.

Streams are numbered datagrams (sequence, send time) and are measured on arrival with the
udpstream statistics library. The sender pauses after each window until the proxy has taken
every datagram (its ``in`` counter), so the kernel's buffers never drop one behind our back
and every figure asserted is the toxic's doing.
"""

from __future__ import annotations

import socket
import statistics
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from services.common.processes import free_port
from services.udpstream.stats import StreamStats, StreamSummary
from tests.services.faultproxy.fp_support import Api, wait_until

HEADER = struct.Struct("!QQ")  # sequence number, send time (ns, CLOCK_REALTIME)
TIMESPEC = struct.Struct("qq")  # the kernel's receive timestamp (SO_TIMESTAMPNS)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python lacks the name


class Sink:
    """The upstream: a UDP socket that receives the stream (and can echo, for replies)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        # The kernel stamps each datagram on arrival, so the delay measured does not depend
        # on when this test gets round to reading it.
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def receive(self) -> tuple[bytes, int] | None:
        """(payload, arrival time in ns) of the next datagram waiting, or None."""
        try:
            data, ancillary, _flags, _addr = self.sock.recvmsg(65535, 64)
        except BlockingIOError:
            return None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = TIMESPEC.unpack(value[: TIMESPEC.size])
                return data, seconds * 1_000_000_000 + nanos
        return data, time.time_ns()

    def close(self) -> None:
        self.sock.close()


class Echo(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.sock.setblocking(True)
        self.sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(65535)
                self.sock.sendto(data, addr)
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        super().close()


@pytest.fixture()
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


@pytest.fixture()
def echo() -> Iterator[Echo]:
    e = Echo()
    yield e
    e.close()


def create_udp(api: Api, name: str, upstream_port: int, **options: object) -> int:
    body = {
        "name": name,
        "protocol": "udp",
        "upstream": f"127.0.0.1:{upstream_port}",
        "listen": "127.0.0.1:0",
        **options,
    }
    r = api.post("/proxies", body)
    assert r.status_code == 201, r.text
    return int(r.json()["listen"].rsplit(":", 1)[1])


def udp_stats(api: Api, name: str) -> dict:
    return api.get(f"/proxies/{name}").json()["stats"]["datagrams"]


@dataclass
class Stream:
    summary: StreamSummary
    arrivals: list[int] = field(default_factory=list)  # sequence numbers in arrival order
    delays_ms: list[float] = field(default_factory=list)  # one-way, in arrival order

    @property
    def lost(self) -> set[int]:
        return set(range(self.summary.sent)) - set(self.arrivals)


def send_stream(
    api: Api,
    name: str,
    port: int,
    sink: Sink,
    n: int,
    *,
    size: int = 16,
    window: int = 2000,
    gap: float = 0.0,
) -> Stream:
    """Send ``n`` numbered datagrams through proxy ``name`` and measure what reaches ``sink``."""
    stats, arrivals, delays = StreamStats(size=size), [], []
    padding = b"." * max(0, size - HEADER.size)
    base = udp_stats(api, name)["upstream"]

    def drain() -> None:
        while (got := sink.receive()) is not None:
            data, arrived_ns = got
            seq, sent_ns = HEADER.unpack_from(data)
            stats.add(seq, sent_ns, arrived_ns)
            arrivals.append(seq)
            delays.append((arrived_ns - sent_ns) / 1e6)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.connect(("127.0.0.1", port))
        sent = 0
        while sent < n:
            for _ in range(min(window, n - sent)):
                client.send(HEADER.pack(sent, time.time_ns()) + padding)
                sent += 1
                if gap:
                    time.sleep(gap)
                    drain()
            drain()

            def taken(target: int = sent) -> bool:
                drain()
                return udp_stats(api, name)["upstream"]["in"] - base["in"] >= target

            wait_until(taken, timeout=10, interval=0.005)

    # Wait for the toxics to let go of every datagram (delays), and for each one the proxy
    # sent to arrive: loopback with big buffers loses nothing here.
    def all_arrived() -> bool:
        drain()
        now = udp_stats(api, name)["upstream"]
        d = {k: now[k] - base[k] for k in ("in", "out", "dropped", "duplicated")}
        return d["in"] == n and d["out"] == d["in"] - d["dropped"] + d["duplicated"] == len(
            arrivals
        )

    wait_until(all_arrived, timeout=10, interval=0.01)
    return Stream(stats.summary(sent=n), arrivals, delays)


def add_toxic(api: Api, proxy: str, type_: str, stream: str = "upstream", **attrs: object) -> dict:
    return api.toxic(proxy, type_, stream, **attrs)


# -- loss ----------------------------------------------------------------------------------------


def test_ten_percent_loss_of_50000_and_an_exact_rerun_with_a_seed(api: Api, sink: Sink) -> None:
    runs = []
    for attempt in range(2):
        name = f"loss{attempt}"
        port = create_udp(api, name, sink.port, seed=1234)
        add_toxic(api, name, "loss", probability=0.1)
        runs.append(send_stream(api, name, port, sink, 50_000))
        stats = udp_stats(api, name)
        # Every loss is the toxic's: the counters and the receiver agree exactly.
        assert stats["upstream"]["dropped"] == runs[-1].summary.lost
        assert stats["toxics"]["loss_upstream"]["dropped"] == runs[-1].summary.lost
        assert stats["upstream"]["send_failed"] == 0
    first, second = runs
    assert 9.0 <= first.summary.loss_pct <= 11.0
    assert first.summary.duplicates == 0 and first.summary.out_of_order == 0
    assert second.lost == first.lost  # the same datagrams, not just the same count

    metrics = api.get("/metrics").text
    assert (
        f'faultproxy_datagrams_total{{proxy="loss0",direction="upstream",outcome="dropped"}} {first.summary.lost}'
        in metrics
    )
    assert (
        'faultproxy_toxic_datagrams_total{proxy="loss0",toxic="loss_upstream",outcome="in"} 50000'
        in metrics
    )


def test_gilbert_elliott_loss_comes_in_bursts_of_the_model_length(api: Api, sink: Sink) -> None:
    # netem gemodel p=1%, r=25% (h=0, k=1): bursts last 1/r = 4 datagrams on average, and the
    # long-run loss is p/(p+r) = 3.85%. Random loss of the same rate would give bursts of ~1.04.
    port = create_udp(api, "ge", sink.port, seed=7)
    add_toxic(api, "ge", "loss", p=0.01, r=0.25)
    stream = send_stream(api, "ge", port, sink, 30_000)
    s = stream.summary
    assert s.loss_bursts > 100
    assert s.lost / s.loss_bursts == pytest.approx(4.0, rel=0.2)
    assert s.loss_pct == pytest.approx(100 * 0.01 / 0.26, rel=0.2)
    assert s.longest_loss_burst >= 10


def test_duplicate_and_reorder_counts_match_their_probabilities(api: Api, sink: Sink) -> None:
    port = create_udp(api, "dr", sink.port, seed=3)
    add_toxic(api, "dr", "duplicate", probability=0.05)
    dup = send_stream(api, "dr", port, sink, 10_000).summary
    assert dup.lost == 0 and dup.out_of_order == 0
    assert dup.duplicates == udp_stats(api, "dr")["upstream"]["duplicated"]
    assert dup.duplicates / 10_000 == pytest.approx(0.05, abs=0.01)

    assert api.delete("/proxies/dr/toxics/duplicate_upstream").status_code == 204
    add_toxic(api, "dr", "reorder", probability=0.25, gap=5)
    reo = send_stream(api, "dr", port, sink, 10_000).summary
    # netem's gap model: one reordered per (gap - 1) + 1/q datagrams.
    expected = 0.25 / (1 + 4 * 0.25)
    assert reo.lost == 0 and reo.duplicates == 0
    assert reo.out_of_order == udp_stats(api, "dr")["upstream"]["reordered"]
    assert reo.out_of_order / 10_000 == pytest.approx(expected, rel=0.15)
    assert reo.max_reorder == 1  # held back behind exactly one later datagram


def test_latency_with_jitter_spreads_delays_within_bounds_and_loses_nothing(
    api: Api, sink: Sink
) -> None:
    port = create_udp(api, "lat", sink.port)
    add_toxic(api, "lat", "latency", latency=40, jitter=15)
    stream = send_stream(api, "lat", port, sink, 1500, window=100, gap=0.0005)
    s = stream.summary
    assert s.lost == 0 and s.duplicates == 0
    # Send and kernel receive times share one clock, so the delays are absolute.
    delays = sorted(stream.delays_ms)
    # No datagram can beat latency - jitter: a hard bound, whatever the load.
    assert delays[0] >= 25 - 1
    # The machine is shared: a stalled proxy delays some datagrams further, so the upper
    # bound is asserted for the bulk, not for every one.
    within = sum(1 for d in delays if d <= 55 + 10) / len(delays)
    assert within >= 0.8, f"only {within:.0%} within 65 ms"
    assert statistics.median(delays) == pytest.approx(40, abs=10)
    assert delays[int(0.9 * len(delays))] - delays[int(0.1 * len(delays))] >= 15  # spread
    assert s.out_of_order > 0  # jitter lets later datagrams overtake earlier ones


# -- the proxy itself ----------------------------------------------------------------------------


def test_datagram_boundaries_are_kept_exactly_both_ways(api: Api, echo: Echo) -> None:
    port = create_udp(api, "bound", echo.port)
    sizes = [0, 1, 2, 100, 1200, 1500, 9000, 65000]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.connect(("127.0.0.1", port))
        for size in sizes:
            payload = bytes((i * 7 + size) % 256 for i in range(size))
            client.send(payload)
            assert client.recv(65535) == payload
    stats = udp_stats(api, "bound")
    assert stats["upstream"]["in"] == stats["downstream"]["out"] == len(sizes)


def test_each_client_has_its_own_session_and_idle_sessions_expire(api: Api, echo: Echo) -> None:
    port = create_udp(api, "sess", echo.port, idle_timeout=1500)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for i, c in enumerate(clients):
            c.settimeout(5)
            c.connect(("127.0.0.1", port))
            c.send(f"client {i}".encode())
        for i, c in enumerate(clients):
            assert c.recv(100) == f"client {i}".encode()
        live = api.get("/proxies/sess/connections").json()
        assert sorted(s["client"] for s in live) == sorted(
            f"127.0.0.1:{c.getsockname()[1]}" for c in clients
        )
        assert all(s["datagrams"] == {"upstream": 1, "downstream": 1} for s in live)
        wait_until(lambda: api.get("/proxies/sess/connections").json() == [], timeout=5)
        kinds = [e for e in api.get("/proxies/sess").json()["stats"].items()]
        assert ("sessions_total", 3) in kinds
        # A client whose session expired just gets a new one.
        clients[0].send(b"again")
        assert clients[0].recv(100) == b"again"
    finally:
        for c in clients:
            c.close()


def test_the_session_cap_drops_new_clients_and_says_so(api: Api, echo: Echo) -> None:
    port = create_udp(api, "cap", echo.port, max_sessions=1)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
    ):
        a.settimeout(5)
        b.settimeout(0.5)  # only ever waits for what must not come
        for c in (a, b):
            c.connect(("127.0.0.1", port))
        a.send(b"first")
        assert a.recv(100) == b"first"
        b.send(b"second")
        with pytest.raises(TimeoutError):
            b.recv(100)
        a.send(b"still")
        assert a.recv(100) == b"still"
    stats = api.get("/proxies/cap").json()["stats"]
    assert stats["sessions_rejected"] == 1 and stats["sessions_active"] == 1
    assert 'faultproxy_udp_sessions_rejected_total{proxy="cap"} 1' in api.get("/metrics").text


def test_disabled_is_down_and_enabling_listens_on_the_same_port(api: Api, echo: Echo) -> None:
    port = create_udp(api, "down", echo.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(5)
        c.connect(("127.0.0.1", port))
        c.send(b"up")
        assert c.recv(10) == b"up"
        assert api.post("/proxies/down", {"enabled": False}).json()["enabled"] is False
        c.send(b"anyone?")
        c.settimeout(1)
        with pytest.raises((ConnectionRefusedError, TimeoutError)):
            c.recv(10)  # nothing listens: loopback answers ICMP port unreachable
        c.settimeout(5)
        r = api.post("/proxies/down", {"enabled": True}).json()
        assert r["listen"] == f"127.0.0.1:{port}"
        c.send(b"back")
        assert c.recv(10) == b"back"


def test_corrupt_bandwidth_and_limit_data_on_real_sockets(api: Api, echo: Echo) -> None:
    port = create_udp(api, "misc", echo.port, seed=5)
    add_toxic(api, "misc", "corrupt", stream="downstream", probability=1.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(2)
        c.connect(("127.0.0.1", port))
        payload = bytes(range(256)) * 4
        c.send(payload)
        got = c.recv(65535)
        assert len(got) == len(payload)
        assert sum(bin(x ^ y).count("1") for x, y in zip(got, payload, strict=True)) == 1
        assert api.delete("/proxies/misc/toxics/corrupt_downstream").status_code == 204

        # 100 KB/s: a 1000-byte datagram takes 10 ms; the 5000-byte queue holds five.
        add_toxic(api, "misc", "bandwidth", rate=100, queue=5000)
        start = time.monotonic()
        for i in range(20):
            c.send(bytes([i]) * 1000)
        got_sizes = []
        c.settimeout(1.0)
        try:
            while True:
                got_sizes.append(len(c.recv(65535)))
        except TimeoutError:
            pass
        # Five fit at once; a sixth or seventh only if this process was slow enough between
        # sends for the link to drain one (a loaded machine), never fewer than five.
        assert 5 <= len(got_sizes) <= 7 and set(got_sizes) == {1000}
        dropped = udp_stats(api, "misc")["toxics"]["bandwidth_upstream"]["dropped"]
        assert dropped == 20 - len(got_sizes)
        assert time.monotonic() - start >= 0.01 * len(got_sizes)
        assert api.delete("/proxies/misc/toxics/bandwidth_upstream").status_code == 204

        add_toxic(api, "misc", "limit_data", bytes=250)
        for i in range(4):
            c.send(bytes([i]) * 100)
        c.settimeout(5)
        received = [c.recv(65535), c.recv(65535)]
        c.settimeout(0.5)
        with pytest.raises(TimeoutError):
            received.append(c.recv(65535))
        assert received == [b"\x00" * 100, b"\x01" * 100]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"protocol": "udp", "idle_timeout": 0}, "idle_timeout must be between 1"),
        ({"protocol": "udp", "max_sessions": "many"}, "max_sessions must be a whole number"),
        ({"protocol": "udp", "seed": 1.5}, "seed must be a whole number"),
        ({"protocol": "sctp"}, "available protocols"),
    ],
)
def test_bad_udp_options_are_400_naming_the_cause(
    api: Api, echo: Echo, body: dict, fragment: str
) -> None:
    r = api.post(
        "/proxies",
        {"name": "bad", "upstream": f"127.0.0.1:{echo.port}", "listen": "127.0.0.1:0", **body},
    )
    assert r.status_code == 400 and fragment in r.json()["error"]


def test_wrong_protocol_toxics_get_a_400_listing_the_types_that_fit(api: Api, echo: Echo) -> None:
    create_udp(api, "u", echo.port)
    r = api.post("/proxies/u/toxics", {"type": "slicer", "attributes": {"average_size": 10}})
    assert r.status_code == 400
    assert "slicer fits tcp proxies, not udp" in r.json()["error"]
    assert "loss" in r.json()["error"] and "reorder" in r.json()["error"]
    r = api.post("/proxies/u/toxics", {"type": "http_status", "attributes": {"status": 404}})
    assert r.status_code == 400 and "udp types are" in r.json()["error"]
    tcp = api.post(
        "/proxies", {"name": "t", "upstream": f"127.0.0.1:{echo.port}", "listen": "127.0.0.1:0"}
    )
    assert tcp.status_code == 201
    r = api.post("/proxies/t/toxics", {"type": "loss", "attributes": {"probability": 0.1}})
    assert r.status_code == 400
    assert (
        "loss fits udp proxies, not tcp" in r.json()["error"] and "http_status" in r.json()["error"]
    )


def test_udp_settings_show_in_the_api_and_session_events_in_the_feed(api: Api, echo: Echo) -> None:
    port = create_udp(api, "ev", echo.port, seed=9, idle_timeout=200, max_sessions=8)
    data = api.get("/proxies/ev").json()
    assert (data["protocol"], data["seed"], data["idle_timeout"], data["max_sessions"]) == (
        "udp",
        9,
        200,
        8,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(2)
        c.connect(("127.0.0.1", port))
        c.send(b"hi")
        assert c.recv(10) == b"hi"
    wait_until(lambda: api.get("/proxies/ev/connections").json() == [], timeout=5)
    with api.http.stream("GET", "/events?since=0", timeout=5) as r:
        seen: list[str] = []
        for line in r.iter_lines():
            if line.startswith("data:") and '"ev"' in line:
                seen.append(line)
            if any('"session.closed"' in s for s in seen):
                break
    assert any('"session.opened"' in s for s in seen)
    assert any('"udp.stats"' in s for s in seen)


def test_populate_creates_udp_proxies_with_their_toxics(api: Api, echo: Echo) -> None:
    listen_port = free_port("udp")
    body = [
        {
            "name": "pop",
            "protocol": "udp",
            "listen": f"127.0.0.1:{listen_port}",
            "upstream": f"127.0.0.1:{echo.port}",
            "seed": 1,
            "toxics": [{"type": "loss", "stream": "upstream", "attributes": {"probability": 1.0}}],
        }
    ]
    r = api.post("/populate", body)
    assert r.status_code in (200, 201), r.text
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(0.3)
        c.connect(("127.0.0.1", listen_port))
        c.send(b"lost")
        with pytest.raises(TimeoutError):
            c.recv(10)
    assert udp_stats(api, "pop")["upstream"]["dropped"] == 1
    again = api.post("/populate", body)  # identical: the proxy and its toxics stay
    assert again.status_code in (200, 201)
    assert [t["type"] for t in api.get("/proxies/pop/toxics").json()] == ["loss"]
