"""/_lab/* cannot be driven by a web page: cross-site and non-JSON writes are refused."""

from __future__ import annotations

import httpx
import pytest

from tests.services.restapi.conftest import WRITER, RestApi

NEW_USER = {"name": "Mallory", "email": "mallory@example.org"}
LIMIT = '{"group": "api", "capacity": 1, "refill_per_s": 1}'
# (path, body) of every state-changing /_lab/ endpoint
WRITES = [("/_lab/reset", "{}"), ("/_lab/ratelimit", LIMIT)]


def state(http: httpx.Client) -> tuple[str, dict]:
    return http.get("/api/users").headers["x-total-count"], http.get("/_lab/ratelimit").json()


def assert_refused(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status
    for word in words:
        assert word in problem["detail"], problem["detail"]


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize(
    ("headers", "status", "cause"),
    [
        # A form or no-cors fetch from another site: text/plain needs no preflight.
        ({"Content-Type": "text/plain", "Origin": "https://evil.example"}, 403, "Origin"),
        ({"Content-Type": "application/json", "Origin": "null"}, 403, "Origin 'null'"),
        ({"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}, 403, "cross-site"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403, "same-site"),
        ({"Content-Type": "text/plain"}, 415, "text/plain"),  # a browser too old for Origin
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "urlencoded"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "multipart"),
        ({}, 415, "(none)"),  # a body with no Content-Type at all
    ],
)
def test_cross_site_or_non_json_lab_writes_are_refused_and_change_nothing(
    http: httpx.Client,
    path: str,
    body: str,
    headers: dict[str, str],
    status: int,
    cause: str,
) -> None:
    assert http.post("/api/users", json=NEW_USER, headers=WRITER).status_code == 201
    before = state(http)
    r = http.post(path, content=body.encode(), headers=headers)
    assert_refused(r, status, cause)
    assert state(http) == before  # not reset, limits not changed


def test_the_labs_own_callers_still_work(http: httpx.Client, api: RestApi) -> None:
    # The scenario runner's reset (httpx, no body), exercise checks (httpx json=), the
    # same origin's own page (Origin equal to the server's), and tools with the lab header.
    assert http.post("/_lab/reset").status_code == 200
    r = http.post("/_lab/ratelimit", json={"group": "api", "capacity": 7, "refill_per_s": 1})
    assert r.status_code == 200 and r.json()["groups"]["api"]["capacity"] == 7
    same_origin = {"Origin": api.url, "Sec-Fetch-Site": "same-origin"}
    assert http.post("/_lab/reset", json={}, headers=same_origin).status_code == 200
    lab_header = {"Content-Type": "text/plain", "X-Wirelab-Lab": "1"}
    assert http.post("/_lab/reset", content=b"", headers=lab_header).status_code == 200
    # Reads are not writes: a cross-site GET is answered (and unreadable there: no CORS).
    r = http.get("/_lab/requests", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
