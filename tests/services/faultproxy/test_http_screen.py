"""The HTTP screen on real sockets: requests no toxic touches take the fast path, and a
connection moves to the full exchange (or back to splice) without losing, duplicating or
reordering a byte (issue 16, item 3).

The ``mode`` of a connection in ``GET /proxies/{name}/connections`` says which path carries
each direction: ``screen``, ``chain`` or ``splice``.
"""

from __future__ import annotations

import random
import socket
import threading
import time

import httpx

from tests.services.faultproxy.fp_support import Api, Web, connect, http_requests, wait_until


def modes(api: Api, name: str) -> list[dict[str, str]]:
    return [c["mode"] for c in api.get(f"/proxies/{name}/connections").json()]


def read_response(sock: socket.socket, buf: bytearray) -> bytes:
    """One Content-Length response from ``sock`` (``buf`` keeps what came after it)."""
    while b"\r\n\r\n" not in buf:
        part = sock.recv(65536)
        assert part, f"closed after {bytes(buf)!r}"
        buf += part
    head_end = buf.index(b"\r\n\r\n") + 4
    length = int(bytes(buf[:head_end]).lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(buf) < head_end + length:
        part = sock.recv(65536)
        assert part, f"closed after {bytes(buf)!r}"
        buf += part
    response = bytes(buf[: head_end + length])
    del buf[: head_end + length]
    return response


def test_a_non_matching_toxic_keeps_the_connection_on_the_screen(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/never"})
    for i in range(20):
        r = client.post(f"/echo/{i}", content=f"body {i}".encode())
        assert (r.status_code, r.content) == (200, f"body {i}".encode())
    assert modes(api, name) == [{"upstream": "screen", "downstream": "screen"}]
    # The screen plans every request like the exchange would: nothing matched, nothing counted.
    assert http_requests(api, name, "matched") == 0


def test_matches_that_roll_no_fault_are_counted_and_stay_on_the_screen(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/x"}, toxicity=0.0)
    for _ in range(5):
        assert client.get("/x").status_code == 200
    assert http_requests(api, name, "matched") == 5
    assert http_requests(api, name, "faulted") == 0
    assert modes(api, name) == [{"upstream": "screen", "downstream": "screen"}]


def test_the_first_matching_request_moves_the_connection_to_the_exchange(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(
        name, "http_status", status=429, headers={"Retry-After": "1"}, match={"path": "/limited"}
    )
    assert client.get("/free").text == "upstream /free"
    r = client.get("/limited")
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    # Planned once on the screen and not rolled again by the exchange.
    assert http_requests(api, name, "matched") == 1
    assert http_requests(api, name, "faulted") == 1
    assert client.get("/free").text == "upstream /free"  # same connection, now on the chain
    assert modes(api, name) == [{"upstream": "chain", "downstream": "chain"}]


def test_a_byte_toxic_added_to_a_screened_connection_applies_from_the_next_request(
    web: Web,
) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/never"})
    assert client.get("/a").text == "upstream /a"
    api.toxic(name, "latency", latency=300)
    start = time.monotonic()
    assert client.get("/b").text == "upstream /b"
    assert 0.29 <= time.monotonic() - start < 2.0
    assert modes(api, name)[0]["downstream"] == "chain"


def test_a_byte_toxic_added_mid_body_waits_for_the_body_and_loses_nothing(web: Web) -> None:
    api, name = web.api, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/never"})
    port = web.port
    body = bytes(random.Random(7).randrange(256) for _ in range(100_000))
    with connect(port) as s:
        s.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + body[:40_000]
        )
        wait_until(lambda: modes(api, name) == [{"upstream": "screen", "downstream": "screen"}])
        api.toxic(name, "latency", stream="upstream", latency=200)
        time.sleep(0.1)  # the change waits for the message boundary, still on the screen
        assert modes(api, name) == [{"upstream": "screen", "downstream": "screen"}]
        s.sendall(body[40_000:])
        buf = bytearray()
        response = read_response(s, buf)
        assert response.endswith(body) and response.startswith(b"HTTP/1.1 200 OK\r\n")
        # Now at rest: the next request goes through the chain, and the latency.
        start = time.monotonic()
        s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s, buf).endswith(b"upstream /after")
        assert time.monotonic() - start >= 0.19
        assert modes(api, name) == [{"upstream": "chain", "downstream": "chain"}]


def test_removing_the_last_http_toxic_returns_a_screened_connection_to_splice(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/never"})
    assert client.get("/a").text == "upstream /a"
    assert api.delete(f"/proxies/{name}/toxics/http_status_downstream").status_code == 204
    assert wait_until(lambda: modes(api, name) == [{"upstream": "splice", "downstream": "splice"}])
    assert client.get("/b").text == "upstream /b"


def test_a_websocket_style_upgrade_is_relayed_untouched(web: Web) -> None:
    """An Upgrade goes to h11, which relays what follows the 101 as it is."""
    api, name = web.api, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/never"})
    port = web.port
    with connect(port) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: lab\r\nConnection: upgrade\r\n\r\n")
        # http.server does not switch: it answers 200, and the exchange relays it.
        assert read_response(s, bytearray()).endswith(b"upstream /a")
    assert http_requests(api, name, "faulted") == 0


def request_bytes(i: int, rng: random.Random) -> tuple[bytes, bytes]:
    """A request (GET, POST with a length, or POST chunked) and the body its answer ends with."""
    kind = rng.choice(["get", "slow", "post", "chunked"])
    if kind in ("get", "slow"):
        path = f"/{kind}/{i}"
        return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), f"upstream {path}".encode()
    payload = f"{i}:".encode() + rng.randbytes(rng.randint(0, 3000))
    if kind == "post":
        head = f"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n"
        return head.encode() + payload, payload
    half = len(payload) // 2
    chunks = b"".join(
        f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (payload[:half], payload[half:]) if c
    )
    head = "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head.encode() + chunks + b"0\r\n\r\n", payload


def test_keepalive_traffic_stays_exact_while_toxics_churn(web: Web) -> None:
    """600 requests (GET, POST with a length, POST chunked; sent whole, split anywhere or two
    pipelined) on a new connection every 25, while a thread adds and removes http and byte
    toxics: every answer is the right one, in order, and the connections went through every
    path (screen, chain, splice) and the moves between them."""
    api, name = web.api, web.name
    port = web.port
    stop = threading.Event()
    errors: list[str] = []
    seen_modes: set[str] = set()

    def churn() -> None:
        rng = random.Random(3)
        bodies = [
            {
                "type": "http_status",
                "name": "never",
                "attributes": {"status": 500, "match": {"path": "/never"}},
            },
            {"type": "latency", "name": "lat", "attributes": {"latency": 1}},
            {
                "type": "http_delay",
                "name": "slow",
                "attributes": {"latency": 2, "match": {"path": "/slow"}},
            },
        ]
        base = f"/proxies/{name}/toxics"
        with httpx.Client(base_url=api.http.base_url, timeout=10) as http:
            while not stop.is_set():
                choice = rng.random()
                if choice < 0.6:
                    body = bodies[0] if choice < 0.35 else bodies[1] if choice < 0.5 else bodies[2]
                    r = http.post(base, json=body)
                    if r.status_code not in (200, 409):
                        errors.append(f"{r.status_code} {r.text}")
                else:
                    for toxic in http.get(base).json():
                        http.delete(f"{base}/{toxic['name']}")
                for conn in http.get(f"/proxies/{name}/connections").json():
                    seen_modes.update(conn["mode"].values())
                time.sleep(rng.random() * 0.03)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    rng = random.Random(11)
    try:
        for first in range(0, 600, 25):
            with connect(port) as s:
                buf = bytearray()
                i = first
                while i < first + 25:
                    wire, expected = request_bytes(i, rng)
                    how = rng.random()
                    if how < 0.15:  # two pipelined in one write
                        wire2, expected2 = request_bytes(i + 1, rng)
                        s.sendall(wire + wire2)
                        assert read_response(s, buf).endswith(expected), (i, wire[:60])
                        assert read_response(s, buf).endswith(expected2), (i + 1, wire2[:60])
                        i += 2
                        continue
                    cut = rng.randint(0, len(wire)) if how < 0.4 else len(wire)
                    s.sendall(wire[:cut])
                    if cut < len(wire):
                        time.sleep(0.001)
                        s.sendall(wire[cut:])
                    assert read_response(s, buf).endswith(expected), (i, wire[:60])
                    i += 1
    finally:
        stop.set()
        thread.join(10)
    assert not errors
    assert {"screen", "chain", "splice"} <= seen_modes, seen_modes
