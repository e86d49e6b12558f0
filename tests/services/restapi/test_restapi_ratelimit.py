"""Rate limits over real HTTP: concurrent bursts, honest Retry-After, headers, run-time config, log."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.services.restapi.conftest import WRITER, RestApi


def set_limit(http: httpx.Client, group: str, capacity: int, refill: float) -> dict:
    r = http.post(
        "/_lab/ratelimit", json={"group": group, "capacity": capacity, "refill_per_s": refill}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_concurrent_burst_passes_at_most_capacity(http: httpx.Client, api: RestApi) -> None:
    set_limit(http, "api", 5, 0.001)  # no refill during the test

    async def burst() -> list[int]:
        # 10 clients on their own connections, one token, 40 requests in flight together.
        clients = [
            httpx.AsyncClient(base_url=api.url, headers=WRITER, timeout=10) for _ in range(10)
        ]
        try:
            tasks = [clients[i % 10].get("/api/users/1") for i in range(40)]
            return [r.status_code for r in await asyncio.gather(*tasks)]
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 5
    assert statuses.count(429) == 35
    log = http.get("/_lab/requests", params={"client": "alice"}).json()
    assert len(log) == 40
    assert sum(not e["rate_limited"] for e in log) == 5
    assert all(e["status"] == 429 for e in log if e["rate_limited"])
    assert all(e["retry_after"] >= 1 for e in log if e["rate_limited"])
    assert all("retry_after" not in e for e in log if not e["rate_limited"])


def test_429_carries_every_header_and_retry_after_is_honest(http: httpx.Client) -> None:
    set_limit(http, "api", 2, 0.5)  # a token every 2 s
    first = http.get("/api/users/1", headers=WRITER)
    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"api";q=2;w=4'
    assert first.headers["ratelimit"].startswith('"api";r=1;t=')
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
        "2",
        "1",
    )
    assert int(first.headers["x-ratelimit-reset"]) >= int(time.time())
    assert http.get("/api/users/1", headers=WRITER).headers["x-ratelimit-remaining"] == "0"

    refused = http.get("/api/users/1", headers=WRITER)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["status"] == 429 and body["type"].endswith("/rate-limited")
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 2
    assert refused.headers["ratelimit"].startswith('"api";r=0;t=')
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert http.get("/api/users/1", headers=WRITER).status_code == 429  # too soon
    time.sleep(wait)  # exactly Retry-After, no margin
    assert http.get("/api/users/1", headers=WRITER).status_code == 200


def test_groups_and_clients_have_separate_buckets(http: httpx.Client) -> None:
    set_limit(http, "api", 1, 0.001)
    assert http.get("/api/users/1", headers=WRITER).status_code == 200
    assert http.get("/api/users/1", headers=WRITER).status_code == 429
    assert (
        http.get("/api/users/1", headers={"Authorization": "Bearer bob-token"}).status_code == 200
    )
    assert http.get("/api/users/1").status_code == 200  # anonymous: by IP
    assert http.get("/anything", headers=WRITER).status_code == 200  # practice group
    # The lab's own endpoints are never limited.
    assert all(http.get("/healthz").status_code == 200 for _ in range(5))


def test_runtime_config_disable_and_reset(http: httpx.Client) -> None:
    state = set_limit(http, "practice", 3, 1.5)
    assert state["groups"]["practice"] == {"capacity": 3, "refill_per_s": 1.5, "window_s": 2}
    assert http.get("/_lab/ratelimit").json() == state
    r = http.post("/_lab/ratelimit", json={"enabled": False})
    assert r.json()["enabled"] is False
    plain = http.get("/api/users/1")
    assert "ratelimit" not in plain.headers and "x-ratelimit-limit" not in plain.headers
    bad = http.post("/_lab/ratelimit", json={"group": "nope", "capacity": 1, "refill_per_s": 1})
    assert bad.status_code == 422 and "unknown group 'nope'" in bad.json()["detail"]
    bad = http.post("/_lab/ratelimit", json={"group": "api", "capacity": 0, "refill_per_s": 1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "capacity"

    http.post("/_lab/ratelimit", json={"enabled": True})
    every = set_limit(http, "*", 7, 1)["groups"]
    assert {g: p["capacity"] for g, p in every.items()} == {"api": 7, "practice": 7}
    set_limit(http, "api", 2, 1)
    kept = http.post("/_lab/reset", params={"keep_rate_limits": "true"}).json()["rate_limit"]
    assert kept["groups"]["api"]["capacity"] == 2
    restored = http.post("/_lab/reset").json()["rate_limit"]
    assert restored["groups"]["api"]["capacity"] == 100000  # the start-up value


def test_request_log_fields_and_filters(http: httpx.Client) -> None:
    t0 = time.time()
    http.get("/api/users/1", headers=WRITER)
    http.post(
        "/api/users",
        json={"name": "L", "email": "l@example.org"},
        headers={**WRITER, "Idempotency-Key": "k-1"},
    )
    http.get("/api/users/2")
    http.get("/healthz")
    log = http.get("/_lab/requests").json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/users/1", 200),
        ("POST", "/api/users", 201),
        ("GET", "/api/users/2", 200),
    ]
    first = log[0]
    assert set(first) == {
        "time",
        "client",
        "method",
        "path",
        "status",
        "rate_limited",
        "duration_ms",
    }
    assert first["client"] == "alice" and first["rate_limited"] is False
    assert t0 - 1 <= first["time"] <= time.time() and first["duration_ms"] >= 0
    assert log[1]["idempotency_key"] == "k-1"
    assert log[2]["client"] == "127.0.0.1"
    assert [e["path"] for e in http.get("/_lab/requests", params={"client": "alice"}).json()] == [
        "/api/users/1",
        "/api/users",
    ]
    assert len(http.get("/_lab/requests", params={"limit": 1}).json()) == 1
    assert http.get("/_lab/requests", params={"since": time.time() + 60}).json() == []
    assert http.get("/_lab/requests", params={"limit": 0}).status_code == 422
