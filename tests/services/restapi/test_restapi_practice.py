"""Practice endpoints over real HTTP: statuses, timing, streams, bytes, ranges, redirects, echo, docs."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.services.restapi.conftest import RestApi


def test_status_codes_and_weighted_choice(http: httpx.Client) -> None:
    assert http.get("/status/201").status_code == 201
    r = http.get("/status/503")
    assert (r.status_code, r.headers["retry-after"], r.headers["content-type"]) == (
        503,
        "1",
        "application/problem+json",
    )
    r = http.get("/status/302")
    assert (r.status_code, r.headers["location"]) == (302, "/anything")
    assert http.get("/status/204").content == b""
    codes = [http.get("/status/200:1,500:1", params={"seed": s}).status_code for s in range(40)]
    assert set(codes) == {200, 500}
    again = [http.get("/status/200:1,500:1", params={"seed": s}).status_code for s in range(40)]
    assert again == codes  # a seed makes the choice repeatable
    r = http.get("/status/abc")
    assert r.status_code == 422 and "not CODE or CODE:WEIGHT" in r.json()["detail"]


def test_unstable_with_seed_repeats_after_reset(http: httpx.Client) -> None:
    first = [
        http.get("/unstable", params={"failure_rate": 0.5, "seed": 7}).status_code
        for _ in range(12)
    ]
    assert set(first) == {200, 503}
    http.post("/_lab/reset")
    second = [
        http.get("/unstable", params={"failure_rate": 0.5, "seed": 7}).status_code
        for _ in range(12)
    ]
    assert second == first
    assert {http.get("/unstable", params={"failure_rate": 0}).status_code for _ in range(5)} == {
        200
    }
    assert {http.get("/unstable", params={"failure_rate": 1}).status_code for _ in range(5)} == {
        503
    }


def test_delay_waits_and_is_capped(http: httpx.Client) -> None:
    t0 = time.monotonic()
    r = http.get("/delay/0.5")
    elapsed = time.monotonic() - t0
    assert r.json() == {"delay": 0.5, "requested": 0.5}
    assert 0.45 <= elapsed < 5.0
    with pytest.raises(httpx.ReadTimeout):
        http.get("/delay/3", timeout=0.3)
    assert http.get("/delay/-1").status_code == 422


def test_drip_is_slow_body_read_timeout_vs_total(http: httpx.Client) -> None:
    t0 = time.monotonic()
    arrivals = []
    with http.stream("GET", "/drip", params={"numbytes": 5, "duration": 1.0}) as r:
        assert r.headers["content-length"] == "5"
        for chunk in r.iter_raw():
            arrivals.append((time.monotonic() - t0, chunk))
    body = b"".join(c for _, c in arrivals)
    assert body == b"*****"
    assert arrivals[-1][0] >= 0.9  # spread over about a second
    assert len(arrivals) >= 2  # and not in one piece
    # Each gap (~0.2 s) is under a 1 s read timeout, though the whole takes longer than that:
    r = http.get(
        "/drip", params={"numbytes": 4, "duration": 1.2}, timeout=httpx.Timeout(5.0, read=1.0)
    )
    assert r.content == b"****"


def test_stream_json_lines(http: httpx.Client) -> None:
    with http.stream("GET", "/stream/3") as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert [line["id"] for line in lines] == [0, 1, 2]


def test_sse_and_last_event_id(http: httpx.Client) -> None:
    r = http.get("/sse", params={"count": 3, "interval": 0.05})
    assert r.headers["content-type"].startswith("text/event-stream")
    ids = [line.split(": ")[1] for line in r.text.splitlines() if line.startswith("id: ")]
    assert ids == ["0", "1", "2"]
    r = http.get("/sse", params={"count": 3, "interval": 0.05}, headers={"Last-Event-ID": "1"})
    assert [line for line in r.text.splitlines() if line.startswith("id: ")] == ["id: 2"]


def test_bytes_are_seeded(http: httpx.Client) -> None:
    a = http.get("/bytes/64", params={"seed": 3}).content
    assert len(a) == 64 and a == http.get("/bytes/64", params={"seed": 3}).content
    assert a != http.get("/bytes/64", params={"seed": 4}).content
    assert http.get("/bytes/2000000").status_code == 422


def test_range_requests(http: httpx.Client) -> None:
    full = http.get("/range/100")
    assert (
        full.headers["accept-ranges"] == "bytes"
        and full.content[:5] == b"abcde"
        and len(full.content) == 100
    )
    r = http.get("/range/100", headers={"Range": "bytes=26-30"})
    assert (r.status_code, r.content, r.headers["content-range"]) == (
        206,
        b"abcde",
        "bytes 26-30/100",
    )
    r = http.get("/range/100", headers={"Range": "bytes=-3"})
    assert (r.status_code, r.content) == (206, b"tuv")
    r = http.get("/range/100", headers={"Range": "bytes=100-"})
    assert (r.status_code, r.headers["content-range"]) == (416, "bytes */100")


def test_redirect_chain(http: httpx.Client) -> None:
    r = http.get("/redirect/3")
    assert (r.status_code, r.headers["location"]) == (302, "/redirect/2")
    r = http.get("/redirect/3", follow_redirects=True)
    assert r.status_code == 200 and [h.status_code for h in r.history] == [302, 302, 302]
    assert r.json()["path"] == "/anything"
    r = http.get("/redirect/2", params={"status": 307, "absolute": "true"})
    assert r.status_code == 307 and r.headers["location"].startswith("http://127.0.0.1:")
    with (
        httpx.Client(base_url=http.base_url, max_redirects=2) as short,
        pytest.raises(httpx.TooManyRedirects),
    ):
        short.get("/redirect/5", follow_redirects=True)


def test_headers_and_anything_echo(http: httpx.Client) -> None:
    r = http.get("/headers", headers={"X-Probe": "42"})
    assert r.json()["headers"]["X-Probe"] == "42"
    r = http.post("/anything/a/b?x=1&y=2", json={"k": [1, 2]}, headers={"X-Probe": "7"})
    echo = r.json()
    assert echo["method"] == "POST" and echo["path"] == "/anything/a/b"
    assert echo["args"] == {"x": "1", "y": "2"} and echo["json"] == {"k": [1, 2]}
    assert echo["headers"]["X-Probe"] == "7" and echo["origin"] == "127.0.0.1"
    assert http.request("PATCH", "/anything", content=b"\xff\xfe").json()["data"] == "\ufffd\ufffd"


def test_openapi_lists_every_status_and_docs_work_offline(http: httpx.Client, api: RestApi) -> None:
    spec = http.get("/openapi.json").json()
    codes = {
        code
        for item in spec["paths"].values()
        for op in item.values()
        for code in op.get("responses", {})
    }
    for code in (
        "200",
        "201",
        "204",
        "206",
        "302",
        "304",
        "400",
        "401",
        "403",
        "404",
        "409",
        "412",
        "415",
        "416",
        "422",
        "429",
    ):
        assert code in codes, code
    assert "MethodNotAllowed" in spec["components"]["responses"]
    post = spec["paths"]["/api/users"]["post"]["responses"]
    assert "application/problem+json" in post["422"]["content"]
    assert set(post["429"]["headers"]) >= {"Retry-After", "RateLimit", "RateLimit-Policy"}

    page = http.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        r = http.get(f"/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000, asset
    spec30 = http.get("/docs/openapi-3.0.json").json()
    assert spec30["openapi"] == "3.0.3"
    assert '"null"' not in json.dumps(spec30)  # no 3.1-only null types for Swagger UI 4
