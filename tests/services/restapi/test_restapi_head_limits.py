"""Request-head limits over real sockets: 431 for a huge head, 408 for a slow one, /healthz
unaffected by either, and a client leaving mid-upload is one log line, not a traceback."""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.services.restapi.conftest import RestApi, running_restapi

HEAD_TIMEOUT = 2.0


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def send_huge_head(port: int, size: int) -> tuple[bytes, float]:
    """Send a request whose one header is ``size`` bytes; return the answer and its delay."""
    sock = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()

    def send() -> None:
        with contextlib.suppress(OSError):  # the server may stop reading: that is the point
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * size + b"\r\n\r\n")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    with sock:
        answer = read_until_closed(sock, 10.0)
    sender.join(10)
    return answer, time.monotonic() - started


def test_a_head_over_one_megabyte_gets_431(tmp_path: Path) -> None:
    with running_restapi(tmp_path) as api:
        answer, elapsed = send_huge_head(api.port, 1_100_000)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
        assert b"connection: close\r\n" in answer
        assert b"application/problem+json" in answer and b"65536-byte limit" in answer
        assert elapsed < 5.0  # refused as the limit passes, not after reading it all
        # A head just under the limit is still served.
        r = httpx.get(api.url + "/healthz", headers={"X-Fill": "a" * 60_000})
        assert r.status_code == 200


def slowloris(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    return sock


def test_a_slow_head_gets_408_within_the_deadline(tmp_path: Path) -> None:
    with running_restapi(tmp_path, "--head-timeout", str(HEAD_TIMEOUT)) as api:
        sock, started = slowloris(api.port), time.monotonic()
        idle = socket.create_connection(("127.0.0.1", api.port))
        answer = b""
        with sock, idle:
            sock.settimeout(0.2)
            while time.monotonic() - started < HEAD_TIMEOUT + 3:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    sock.send(b"X")  # one byte of a header name every 0.2 s
                    continue
                if not chunk:
                    break
                answer += chunk
            closed_after = time.monotonic() - started
            assert read_until_closed(idle, 1.0) == b""  # never asked: closed without an answer
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
        assert b"within 2 s" in answer
        assert HEAD_TIMEOUT - 0.1 <= closed_after <= HEAD_TIMEOUT + 1.5


@contextlib.contextmanager
def attackers(api: RestApi, slow: int, huge: int) -> Iterator[list[socket.socket]]:
    """``slow`` slowloris connections (one byte each every 0.5 s) and ``huge`` clients
    sending 50 MB headers back to back, all running until the block ends."""
    stop = threading.Event()
    socks = [slowloris(api.port) for _ in range(slow)]

    def dribble() -> None:
        while not stop.wait(0.5):
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(b"X")

    def flood() -> None:
        while not stop.is_set():
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", api.port)) as s,
            ):
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ")
                for _ in range(50 * 16):
                    if stop.is_set():
                        break
                    s.sendall(b"a" * 65536)

    threads = [threading.Thread(target=dribble, daemon=True)]
    threads += [threading.Thread(target=flood, daemon=True) for _ in range(huge)]
    for t in threads:
        t.start()
    try:
        yield socks
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for s in socks:
            s.close()


def test_healthz_stays_fast_under_huge_heads_and_200_slowloris(tmp_path: Path) -> None:
    timeout = 4.0
    with running_restapi(tmp_path, "--head-timeout", str(timeout)) as api:
        with attackers(api, slow=200, huge=4) as socks, api.client() as client:
            started = time.monotonic()
            delays = []
            while time.monotonic() - started < timeout - 1.5:  # all 200 are still open
                t0 = time.perf_counter()
                assert client.get("/healthz", headers={"Connection": "close"}).status_code == 200
                delays.append(time.perf_counter() - t0)
                time.sleep(0.05)
            # Before the limits: 17.8 s with four 50 MB heads. A shared machine gets slack.
            assert statistics.median(delays) < 0.5 and max(delays) < 2.0, delays
            # Every slowloris connection is answered 408 and closed by the deadline.
            answers = [
                read_until_closed(s, timeout + 3 - (time.monotonic() - started)) for s in socks
            ]
        assert sum(a.startswith(b"HTTP/1.1 408 ") for a in answers) == 200


def test_a_client_leaving_mid_upload_is_one_log_line(tmp_path: Path) -> None:
    log_path = tmp_path / "restapi.log"
    with running_restapi(tmp_path, log_path=log_path) as api:
        for path in ("/anything", "/api/users", "/_lab/ratelimit"):
            with socket.create_connection(("127.0.0.1", api.port)) as s:
                s.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer alice-token\r\n"
                    "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                    '{"name": "half'.encode()
                )
                time.sleep(0.3)
        time.sleep(0.5)
        log = httpx.get(api.url + "/_lab/requests").json()
    text = log_path.read_text()
    assert "Traceback" not in text and "ClientDisconnect" not in text, text
    assert text.count("disconnected before its request was complete: POST /anything") == 1, text
    assert [(e["path"], e["status"]) for e in log if e["path"] == "/anything"] == [
        ("/anything", 499)
    ]
