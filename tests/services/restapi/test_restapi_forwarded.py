"""X-Forwarded-For cannot mint fresh rate-limit buckets or fake the logged client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.services.restapi.conftest import running_restapi

TIGHT = ["--rate-limit", "api=10/0.001"]  # 10 requests, then none for the test's duration


def burst(url: str, headers_of) -> list[int]:
    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as client:
            tasks = [client.get("/api/users/1", headers=headers_of(i)) for i in range(100)]
            return [r.status_code for r in await asyncio.gather(*tasks)]

    return asyncio.run(run())


def spoofed(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}"}


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="anonymous"),
        pytest.param({"Authorization": "Bearer made-up-token"}, id="made-up-token"),
    ],
)
def test_a_different_x_forwarded_for_per_request_gets_no_new_bucket(
    tmp_path: Path, extra: dict[str, str]
) -> None:
    with running_restapi(tmp_path, *TIGHT) as api:
        statuses = burst(api.url, lambda i: {**spoofed(i), **extra})
        log = httpx.get(api.url + "/_lab/requests").json()
    assert (statuses.count(200), statuses.count(429)) == (10, 90)
    assert len(log) == 100
    assert {e["client"] for e in log} == {"127.0.0.1"}  # the real peer, not 203.0.113.x


def test_a_named_trusted_proxy_is_believed(tmp_path: Path) -> None:
    # The opt-in works: behind a real proxy at 127.0.0.1 the forwarded address is the client.
    with running_restapi(tmp_path, *TIGHT, "--trusted-proxy", "127.0.0.1") as api:
        statuses = burst(api.url, spoofed)
        log = httpx.get(api.url + "/_lab/requests").json()
    assert statuses.count(200) == 100
    assert {e["client"] for e in log} == {f"203.0.113.{i}" for i in range(100)}
