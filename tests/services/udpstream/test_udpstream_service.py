"""The real service process over real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from services.common.paths import REPO_ROOT
from services.common.processes import free_port
from services.udpstream import wire
from services.udpstream.client import UdpStreamError, measure, ping
from services.udpstream.control import encode
from services.udpstream.health import probe
from tests.services.udpstream.udp_helpers import start_server


@pytest.fixture(scope="module")
def server_port():
    port, proc = start_server()
    with proc:
        yield port


def raw_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    return sock


def read_all(sock: socket.socket, seconds: float) -> list[bytes]:
    out, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            out.append(sock.recv(65535))
    return out


def replies(datagrams: list[bytes]) -> list[dict]:
    return [json.loads(d[4:]) for d in datagrams if d.startswith(wire.REPLY_PREFIX)]


def test_loopback_20000_at_5000_per_second_arrive_complete_and_in_order(server_port):
    r = measure("127.0.0.1", server_port, rate=5000, size=200, count=20_000)
    assert (r.sent, r.received, r.lost, r.duplicates, r.out_of_order) == (20_000, 20_000, 0, 0, 0)
    assert (r.longest_loss_burst, r.malformed, r.end_reason, r.validated) == (0, 0, "count", True)
    assert r.loss_pct == 0.0
    assert r.kernel_timestamps is sys.platform.startswith("linux")
    assert 0 <= r.delay_p50_ms <= r.delay_p99_ms <= r.delay_spread_ms
    # paced, not blasted: 20,000 at 5,000/s take 4 s (generous bounds for a shared machine)
    assert 3.9 <= r.elapsed_s <= 6.0
    assert r.throughput_pps == pytest.approx(5000, rel=0.05)
    # The pacer's target is 1 % over a run; 2 % leaves room for a machine shared with
    # other test runs (a sender descheduled at the very end stretches the span).
    assert r.send_rate_pps == pytest.approx(5000, rel=0.02)
    assert len(r.intervals) == 40 and all(s.received == 500 and s.lost == 0 for s in r.intervals)


def test_duration_stream_and_payload_pattern(server_port):
    r = measure("127.0.0.1", server_port, rate=200, size=64, duration=0.5, pattern="random")
    assert (r.requested, r.received, r.lost) == (100, 100, 0)


def test_refusal_is_a_clear_error(server_port):
    with pytest.raises(UdpStreamError, match="rate 1000000 out of bounds: 1..100000"):
        measure("127.0.0.1", server_port, rate=1_000_000, size=64, count=1)
    with pytest.raises(UdpStreamError, match="size 10 out of bounds"):
        measure("127.0.0.1", server_port, rate=10, size=10, count=1)


def test_nothing_listening_is_a_clear_error():
    port = free_port("udp")
    with pytest.raises(UdpStreamError, match=f"nothing is listening on 127.0.0.1:{port}/udp"):
        probe("127.0.0.1", port, timeout=0.5)
    with pytest.raises(UdpStreamError, match="nothing is listening"):
        measure("127.0.0.1", port, rate=10, size=64, count=1, timeout=0.5)


def test_ping_echo(server_port):
    r = ping("127.0.0.1", server_port, count=20, interval=0.005, size=100)
    assert (r.sent, r.received, r.lost, r.loss_pct) == (20, 20, 0, 0.0)
    assert 0 < r.min_ms <= r.p50_ms <= r.p99_ms <= r.max_ms < 100
    assert r.min_ms <= r.avg_ms <= r.max_ms and len(r.rtts_ms) == 20


def test_echo_returns_bytes_unchanged(server_port):
    sock = raw_socket(server_port)
    datagram = wire.ECHO_PREFIX + bytes(range(256)) * 4
    sock.send(datagram)
    assert read_all(sock, 0.5) == [datagram]


def test_health_probe(server_port):
    h = probe("127.0.0.1", server_port)
    assert (h["type"], h["service"], h["version"]) == ("health", "udpstream", 1)
    assert h["uptime_s"] > 0 and h["rtt_ms"] > 0 and "counters" in h


def test_interrupted_measure_sends_stop(server_port):
    def interrupt(p):
        if p.received >= 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure("127.0.0.1", server_port, rate=500, size=64, duration=20, progress=interrupt)
    deadline = time.monotonic() + 2
    while probe("127.0.0.1", server_port)["streams"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert probe("127.0.0.1", server_port)["streams"] == 0  # STOP ended it, well before 20 s


def test_client_that_never_validates_gets_at_most_three_times_what_it_sent(server_port):
    sock = raw_socket(server_port)
    spent = 0
    request = wire.build_control(
        encode({"op": "start", "rate": 2000, "size": 1000, "count": 2000}), pad_to=600
    )
    sock.send(request)
    spent += len(request)
    got = []
    for _ in range(4):  # keepalives (no token) add budget, 3x their size, and nothing else
        got += read_all(sock, 0.25)
        keepalive = wire.build_control(encode({"op": "keepalive"}))
        sock.send(keepalive)
        spent += len(keepalive)
    got += read_all(sock, 0.3)
    received = sum(len(d) for d in got)
    data = [d for d in got if d[3] == wire.KIND_DATA]
    assert replies(got)[0]["type"] == "accept"
    assert 0 < received <= 3 * spent
    assert 1 <= len(data) <= 3 * spent // 1000  # a trickle, where 2000 were asked for
    stream = replies(got)[0]["stream"]
    sock.send(wire.build_control(encode({"op": "stop", "stream": stream})))


def test_silent_client_stream_stops_after_the_keepalive_timeout():
    port, proc = start_server("--keepalive-timeout", "0.5")
    with proc:
        sock = raw_socket(port)
        sock.send(
            wire.build_control(
                encode({"op": "start", "rate": 500, "size": 100, "duration": 30}), pad_to=512
            )
        )
        accept = replies(read_all(sock, 0.2))[0]
        silent_since = time.monotonic()
        sock.send(wire.build_control(encode({"op": "validate", "token": accept["token"]})))
        got = []
        last_data = None
        while time.monotonic() - silent_since < 4:
            batch = read_all(sock, 0.1)
            got += batch
            if any(d[3] == wire.KIND_DATA for d in batch):
                last_data = time.monotonic()
            if any(r["type"] == "end" for r in replies(batch)):
                break
        ends = [r for r in replies(got) if r["type"] == "end"]
        assert ends and ends[0]["reason"] == "keepalive" and ends[0]["stream"] == accept["stream"]
        assert last_data is not None and 0.4 <= last_data - silent_since <= 2.0
        assert read_all(sock, 0.3) == [] or all(d[3] != wire.KIND_DATA for d in read_all(sock, 0.3))
        assert probe("127.0.0.1", port)["streams"] == 0


def test_fuzz_datagrams_while_a_real_stream_runs(server_port):
    rng = random.Random(1234)
    stop = threading.Event()
    fuzzed = [0]

    def fuzz() -> None:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        prefixes = [
            b"",
            b"WU",
            b"WU\x01",
            b"WU\x01C",
            b"WU\x01D",
            b"WU\x01E",
            b"WU\x01R",
            b"WU\x07C",
            b"XX\x01C",
        ]
        bodies = [
            b"{",
            b'{"op":"start","rate":1e999}',
            b'{"op":"stop","stream":1}',
            b'{"rate":-1,"size":"x"}',
            b"\xff",
        ]
        while not stop.is_set():
            data = rng.choice(prefixes) + (
                rng.choice(bodies) if rng.random() < 0.5 else rng.randbytes(rng.randint(0, 1400))
            )
            rng.choice(socks).sendto(data, ("127.0.0.1", server_port))
            fuzzed[0] += 1
            time.sleep(0.0005)
        for s in socks:
            s.close()

    before = probe("127.0.0.1", server_port)["counters"]
    thread = threading.Thread(target=fuzz)
    thread.start()
    try:
        r = measure("127.0.0.1", server_port, rate=2000, size=300, count=4000)
    finally:
        stop.set()
        thread.join()
    assert fuzzed[0] > 500
    assert (r.received, r.lost, r.duplicates, r.out_of_order, r.end_reason) == (
        4000,
        0,
        0,
        0,
        "count",
    )
    after = probe("127.0.0.1", server_port)["counters"]
    assert after["datagrams_in"] - before["datagrams_in"] >= fuzzed[0]
    assert after["bad_magic"] > before["bad_magic"] and after["bad_request"] > before["bad_request"]


def test_sigterm_exits_promptly_and_cleanly():
    port, proc = start_server()
    results = []
    with proc as p:
        client = threading.Thread(
            target=lambda: results.append(
                measure("127.0.0.1", port, rate=100, size=64, count=5000, timeout=0.5)
            )
        )
        client.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
        assert time.monotonic() - t0 < 1.5
        client.join(10)
    # The client notices the silence (or the ICMP error): the unsent rest counts as lost.
    (r,) = results
    assert r.end_reason in ("timeout", "unreachable") and r.sent == 5000
    assert 20 <= r.received <= 200 and r.lost == 5000 - r.received


def test_paused_server_resumes_without_flooding_the_client():
    """SIGSTOP for 1 s mid-stream (as the lab's pause does): the schedule slides, so the
    backlog is not blasted at once, nothing is lost, and the stall is reported."""
    port, proc = start_server()
    results = []
    with proc as p:
        client = threading.Thread(
            target=lambda: results.append(
                measure("127.0.0.1", port, rate=1000, size=1200, count=2000)
            )
        )
        client.start()
        time.sleep(0.7)
        p.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        p.send_signal(signal.SIGCONT)
        client.join(20)
    (r,) = results
    assert (r.sent, r.received, r.lost, r.end_reason) == (2000, 2000, 0, "count")
    assert 500 <= r.sender_stalled_ms <= 1500  # about 1000 ms paused - 200 ms caught up
    assert 2.5 <= r.elapsed_s <= 5.0
    # Timestamps are taken at the real send, so the pause is not network delay or jitter:
    # it shows as the stall and as a slower sender over the run.
    assert r.send_rate_pps < 0.85 * 1000 and r.jitter_ms < 5


def test_port_in_use_is_one_line_and_exit_2():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "services.udpstream", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"port {port}/udp on 127.0.0.1 for udpstream is already in use" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-rate", "-5"], "--max-rate: must be more than 0, got '-5'"),
        (["--port", "99999"], "--port: port must be 0-65535, got 99999"),
        (["--keepalive-timeout", "soon"], "--keepalive-timeout: expected a float, got 'soon'"),
    ],
)
def test_bad_flags_are_named(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "services.udpstream", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
