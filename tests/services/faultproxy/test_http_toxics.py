"""HTTP-level toxics on a TCP proxy, driven with httpx through a real faultproxy process.

The upstream is a tiny HTTP/1.1 keep-alive server started here (``http.server``), so these
tests depend on no other service of the lab.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import httpx
import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from tests.services.faultproxy.fp_support import (
    Api,
    EchoServer,
    Web,
    connect,
    http_requests,
    metric,
    recv_exactly,
)


def test_http_status_429_with_retry_after_reaches_httpx_exactly(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(
        name,
        "http_status",
        status=429,
        headers={"Retry-After": "30"},
        body="slow down",
        match={"path": "/limited"},
    )
    r = client.get("/limited/x")
    assert r.status_code == 429 and r.reason_phrase == "Too Many Requests"
    assert r.headers["retry-after"] == "30"
    assert r.text == "slow down"
    assert "x-upstream" not in r.headers  # the proxy answered; upstream never saw it
    ok = client.get("/open")
    assert (ok.status_code, ok.text, ok.headers["x-upstream"]) == (200, "upstream /open", "yes")
    assert http_requests(api, name, "faulted") == 1
    assert metric(api, "faultproxy_connections_total", proxy=name) == 1


def test_thirty_percent_toxicity_faults_about_thirty_percent_of_1000_keepalive_requests(
    web: Web,
) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503, toxicity=0.3)
    statuses = [client.get(f"/r{i}").status_code for i in range(1000)]
    faulted = statuses.count(503)
    assert statuses.count(200) + faulted == 1000
    assert 240 <= faulted <= 360  # 300 ± 4.1 standard deviations
    assert http_requests(api, name, "matched") == 1000
    assert http_requests(api, name, "faulted") == faulted
    # All on one connection: the toxic is decided per request, not per connection.
    assert metric(api, "faultproxy_connections_total", proxy=name) == 1


def test_match_confines_the_fault_to_method_path_and_header(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(
        name,
        "http_status",
        status=500,
        match={"method": "POST", "path": "/api/", "headers": {"X-Lab": "fail"}},
    )
    fail = {"X-Lab": "fail"}
    assert client.post("/api/items", content=b"abc", headers=fail).status_code == 500
    assert client.post("/api/items", content=b"abc").text == "abc"
    assert client.post("/api/items", content=b"abc", headers={"X-Lab": "pass"}).status_code == 200
    assert client.get("/api/items", headers=fail).status_code == 200
    assert client.post("/other", content=b"abc", headers=fail).status_code == 200
    assert http_requests(api, name, "matched") == 1
    assert http_requests(api, name, "faulted") == 1


def test_http_drip_trips_a_read_timeout_but_a_patient_client_gets_every_byte(
    web: Web, upstream: int
) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_drip", chunks=4, duration=1200, match={"path": "/big"})
    with pytest.raises(httpx.ReadTimeout):
        client.get("/big", timeout=httpx.Timeout(5, read=0.15))  # slices come 300 ms apart
    start = time.monotonic()
    r = client.get("/big", timeout=httpx.Timeout(5, read=1.0))
    elapsed = time.monotonic() - start
    assert r.content == b"x" * 4000
    assert 1.1 <= elapsed <= 3.0  # the whole body takes the drip's duration, ~1.2 s
    assert client.get("/small").text == "upstream /small"  # not matched: no drip


def test_http_delay_delays_the_request_or_the_response_headers(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    client.get("/warm")
    api.toxic(name, "http_delay", stream="upstream", latency=200, match={"path": "/slow-in"})
    api.toxic(name, "http_delay", stream="downstream", latency=300, match={"path": "/slow-out"})
    for path, low in (("/slow-in", 0.2), ("/slow-out", 0.3), ("/fast", 0.0)):
        start = time.monotonic()
        assert client.get(path).text == f"upstream {path}"
        elapsed = time.monotonic() - start
        assert low <= elapsed <= low + 0.6, (path, elapsed)  # + a loaded machine's noise


@pytest.mark.parametrize(
    ("toxic", "attrs", "error", "text"),
    [
        ("http_reset", {}, httpx.ReadError, "reset"),
        ("http_reset", {"mode": "empty"}, httpx.RemoteProtocolError, "without sending a response"),
        ("http_malformed", {}, httpx.RemoteProtocolError, "chunk"),
    ],
)
def test_reset_empty_and_malformed_responses_break_the_client_as_wiremock_does(
    web: Web, toxic: str, attrs: dict, error: type[Exception], text: str
) -> None:
    api, client, name = web.api, web.client, web.name
    assert client.get("/before").status_code == 200
    api.toxic(name, toxic, match={"path": "/broken"}, **attrs)
    with pytest.raises(error, match=text):
        client.get("/broken")
    assert client.get("/after").text == "upstream /after"  # a new connection works


def test_untouched_requests_and_responses_pass_byte_exact(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=404, match={"path": "/missing"})
    body = bytes(range(256)) * 400
    r = client.post("/echo", content=body)
    assert r.content == body
    assert client.head("/big").headers["content-length"] == "4000"
    assert client.get("/missing").status_code == 404
    assert client.post("/echo", content=b"after").content == b"after"


def test_removing_the_toxic_restores_the_same_keepalive_connection(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503)
    assert client.get("/a").status_code == 503
    assert api.delete(f"/proxies/{name}/toxics/http_status_downstream").status_code == 204
    assert client.get("/b").text == "upstream /b"
    api.toxic(name, "http_status", status=418)
    assert client.get("/c").status_code == 418
    assert metric(api, "faultproxy_connections_total", proxy=name) == 1


def test_toxiproxy_python_client_works_with_udp_and_http_toxics_present(
    api: Api, upstream: int
) -> None:
    APIConsumer.host, APIConsumer.port = "127.0.0.1", api.port
    server = Toxiproxy()
    udp = api.post(
        "/proxies",
        {"name": "dns", "protocol": "udp", "upstream": "127.0.0.1:53", "listen": "127.0.0.1:0"},
    )
    assert udp.status_code == 201
    proxy = server.create(upstream=f"127.0.0.1:{upstream}", name="site")
    assert set(server.proxies()) == {"dns", "site"}
    proxy.add_toxic(type="http_status", attributes={"status": 404, "body": "nope"})
    proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 10})
    assert set(proxy.toxics()) == {"http_status_downstream", "latency_upstream"}
    port = int(proxy.listen.rsplit(":", 1)[1])
    r = httpx.get(f"http://127.0.0.1:{port}/x")
    assert (r.status_code, r.text) == (404, "nope")
    proxy.destroy_toxic("http_status_downstream")
    assert httpx.get(f"http://127.0.0.1:{port}/x").text == "upstream /x"
    proxy.disable()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/x")
    proxy.enable()
    assert httpx.get(f"http://127.0.0.1:{port}/x").status_code == 200
    server.get_proxy("dns").add_toxic(type="loss", attributes={"probability": 0.5})
    assert server.get_proxy("dns").toxics()["loss_downstream"].attributes["probability"] == 0.5
    assert server.reset()
    assert proxy.toxics() == {} and server.get_proxy("dns").toxics() == {}
    server.destroy_all()
    assert server.proxies() == {}


def test_pipelined_requests_get_their_answers_in_order(web: Web) -> None:
    api, name = web.api, web.name
    api.toxic(name, "http_status", status=429, body="wait", match={"path": "/limited"})
    port = web.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"".join(
                f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in ("/a", "/limited", "/b")
            )
        )
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"upstream /b"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    statuses = re.findall(rb"HTTP/1.1 (\d+)", data)
    assert statuses == [b"200", b"429", b"200"]
    assert data.index(b"upstream /a") < data.index(b"wait") < data.index(b"upstream /b")


def test_removing_the_last_http_toxic_mid_response_loses_no_byte(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_drip", chunks=4, duration=3000, match={"path": "/big"})
    result: dict[str, object] = {}

    def fetch() -> None:
        start = time.monotonic()
        result["body"] = client.get("/big", timeout=10).content
        result["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=fetch)
    thread.start()
    time.sleep(0.4)  # headers and maybe the first slice are out; the rest is held
    assert api.delete(f"/proxies/{name}/toxics/http_drip_downstream").status_code == 204
    thread.join(10)
    assert result["body"] == b"x" * 4000
    assert result["elapsed"] < 2.5  # what was held went out at once when the toxic went
    assert client.get("/next").text == "upstream /next"  # and the connection carries on


def test_http_faults_show_in_the_events_feed(web: Web) -> None:
    api, client, name = web.api, web.client, web.name
    api.toxic(name, "http_status", status=503, match={"path": "/down"})
    assert client.get("/down").status_code == 503
    assert client.get("/up").status_code == 200
    seen: list[dict] = []
    with api.http.stream("GET", "/events?since=0", timeout=10) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("proxy") == name:
                    seen.append(event)
            if any(e["kind"] == "http.stats" for e in seen) and any(
                e["kind"] == "http.faulted" for e in seen
            ):
                break
    faulted = next(e for e in seen if e["kind"] == "http.faulted")
    assert (faulted["toxic"], faulted["method"], faulted["path"]) == (
        "http_status_downstream",
        "GET",
        "/down",
    )
    stats = [e for e in seen if e["kind"] == "http.stats"][-1]
    assert stats["toxics"]["http_status_downstream"]["faulted"] >= 1


def test_non_http_traffic_through_an_http_toxic_is_relayed_untouched(api: Api) -> None:
    echo = EchoServer()
    try:
        port = api.create("echo_http", echo.port)
        api.toxic("echo_http", "http_status", status=500)
        with connect(port) as s:
            s.sendall(b"GIMME file.txt\n")  # a line protocol: recognised at once
            assert recv_exactly(s, 15) == b"GIMME file.txt\n"
        with connect(port) as s:
            start = time.monotonic()
            s.sendall(b"ping")  # could be the start of a request: relayed after 1 s
            assert recv_exactly(s, 4) == b"ping"
            assert 0.9 <= time.monotonic() - start <= 3.0
            s.sendall(b"more")
            assert recv_exactly(s, 4) == b"more"
    finally:
        echo.close()
