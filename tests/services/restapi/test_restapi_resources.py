"""Users and orders over real HTTP: methods, errors, pagination, auth, idempotency, ETags."""

from __future__ import annotations

import asyncio

import httpx

from tests.services.restapi.conftest import WRITER

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int, detail_part: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    assert detail_part in body["detail"]
    return body


def test_health(http: httpx.Client) -> None:
    r = http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "service": "restapi", "users": 7, "orders": 9}


def test_crud_round_trip(http: httpx.Client) -> None:
    r = http.post(
        "/api/users", json={"name": "Hedy Lamarr", "email": "hedy@example.org"}, headers=WRITER
    )
    assert r.status_code == 201
    created = r.json()
    assert r.headers["location"] == f"/api/users/{created['id']}" == "/api/users/8"
    assert created["name"] == "Hedy Lamarr" and created["active"] is True
    assert http.get(r.headers["location"]).json() == created

    r = http.put(
        "/api/users/8", json={"name": "H. Lamarr", "email": "hl@example.org"}, headers=WRITER
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["email"]) == ("H. Lamarr", "hl@example.org")

    r = http.patch("/api/users/8", json={"active": False}, headers=WRITER)
    assert (r.status_code, r.json()["active"], r.json()["name"]) == (200, False, "H. Lamarr")

    r = http.delete("/api/users/8", headers=WRITER)
    assert (r.status_code, r.content) == (204, b"")
    assert_problem(http.get("/api/users/8"), 404, "user 8 does not exist")


def test_put_requires_every_field(http: httpx.Client) -> None:
    body = assert_problem(
        http.put("/api/users/1", json={"name": "x"}, headers=WRITER), 422, "email"
    )
    assert body["errors"] == [{"field": "email", "in": "body", "reason": "Field required"}]


def test_orders_and_user_orders(http: httpx.Client) -> None:
    r = http.post(
        "/api/orders",
        json={"user_id": 2, "item": "bombe", "quantity": 2, "price_cents": 100},
        headers=WRITER,
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"
    r = http.get("/api/users/2/orders")
    assert [o["item"] for o in r.json()] == ["enigma rotor", "bombe"]
    assert r.headers["x-total-count"] == "2"
    assert_problem(http.get("/api/users/999/orders"), 404, "user 999")
    r = http.post("/api/orders", json={"user_id": 999, "item": "x"}, headers=WRITER)
    assert_problem(r, 409, "user 999 does not exist")


def test_validation_422_names_field_and_reason(http: httpx.Client) -> None:
    r = http.post(
        "/api/users", json={"name": "", "email": "not-an-email", "extra": 1}, headers=WRITER
    )
    body = assert_problem(r, 422, "name")
    fields = {e["field"]: e["reason"] for e in body["errors"]}
    assert set(fields) == {"name", "email", "extra"}
    assert "at least 1 character" in fields["name"]
    assert "Extra inputs are not permitted" in fields["extra"]
    body = assert_problem(http.get("/api/users", params={"per_page": 1000}), 422, "per_page")
    assert body["errors"][0]["in"] == "query"
    assert_problem(http.get("/api/users/abc"), 422, "user_id")
    assert_problem(http.patch("/api/users/1", json={"name": None}, headers=WRITER), 422, "name")


def test_malformed_json_is_400_and_wrong_type_is_415(http: httpx.Client) -> None:
    r = http.post(
        "/api/users", content=b'{"name": ', headers={**WRITER, "Content-Type": "application/json"}
    )
    assert_problem(r, 400, "not valid JSON")
    r = http.post(
        "/api/users",
        content=b"name=x",
        headers={**WRITER, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(r, 415, "application/x-www-form-urlencoded")


def test_conflicts_409(http: httpx.Client) -> None:
    r = http.post("/api/users", json={"name": "Ada 2", "email": "ada@example.org"}, headers=WRITER)
    assert_problem(r, 409, "already used by user 1")
    assert_problem(http.delete("/api/users/1", headers=WRITER), 409, "still has 2 order(s)")


def test_405_lists_allowed_methods(http: httpx.Client) -> None:
    r = http.delete("/api/users")
    assert_problem(r, 405, "DELETE is not allowed")
    assert r.headers["allow"] == "GET, HEAD, POST, OPTIONS"


def test_head_and_options(http: httpx.Client) -> None:
    get = http.get("/api/users/1")
    head = http.head("/api/users/1")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.content))
    r = http.options("/api/users/1")
    assert (r.status_code, r.headers["allow"]) == (204, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS")
    assert http.options("/api/orders").headers["allow"] == "GET, HEAD, POST, OPTIONS"


def test_pagination_links_and_bounds(http: httpx.Client) -> None:
    r = http.get("/api/users", params={"page": 2, "per_page": 3})
    assert [u["id"] for u in r.json()] == [4, 5, 6]
    assert r.headers["x-total-count"] == "7"
    links = {link["rel"]: link["url"] for link in _links(r.headers["link"])}
    base = str(http.base_url).rstrip("/")
    assert links == {
        "next": f"{base}/api/users?page=3&per_page=3",
        "prev": f"{base}/api/users?page=1&per_page=3",
        "first": f"{base}/api/users?page=1&per_page=3",
        "last": f"{base}/api/users?page=3&per_page=3",
    }
    # Following "next" until it is gone visits every user exactly once.
    seen, url = [], f"{base}/api/users?per_page=2"
    while url:
        r = http.get(url)
        seen += [u["id"] for u in r.json()]
        url = next((x["url"] for x in _links(r.headers["link"]) if x["rel"] == "next"), None)
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert http.get("/api/users", params={"page": 99}).json() == []
    assert_problem(http.get("/api/users", params={"page": 0}), 422, "page")


def _links(header: str) -> list[dict[str, str]]:
    out = []
    for part in header.split(","):
        url, rel = part.split(";")
        out.append({"url": url.strip()[1:-1], "rel": rel.split("=")[1].strip('"')})
    return out


def test_auth_401_403(http: httpx.Client) -> None:
    new = {"name": "N", "email": "n@example.org"}
    r = http.post("/api/users", json=new)
    assert_problem(r, 401, "no Authorization header")
    assert r.headers["www-authenticate"] == 'Bearer realm="wirelab", scope="write"'
    r = http.post("/api/users", json=new, headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401, "unknown bearer token")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    r = http.post("/api/users", json=new, headers={"Authorization": "Bearer bob-token"})
    assert_problem(r, 403, "needs 'write'")
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert http.get("/api/users/1").status_code == 200  # reads need no token


def test_basic_auth_endpoint(http: httpx.Client) -> None:
    assert http.get("/auth/basic", auth=("student", "wirelab")).json() == {
        "authenticated": True,
        "user": "student",
        "scheme": "basic",
        "scopes": [],
    }
    r = http.get("/auth/basic", auth=("student", "wrong"))
    assert_problem(r, 401, "wrong user name or password")
    assert r.headers["www-authenticate"] == 'Basic realm="wirelab", charset="UTF-8"'
    assert_problem(
        http.get("/auth/basic", headers={"Authorization": "Basic !!!"}), 401, "not valid base64"
    )
    assert http.get("/auth/bearer", headers={"Authorization": "Bearer bob-token"}).json()[
        "scopes"
    ] == ["read"]


def test_idempotent_retry_returns_first_result_without_duplicate(http: httpx.Client) -> None:
    body = {"user_id": 1, "item": "difference engine", "price_cents": 500}
    headers = {**WRITER, "Idempotency-Key": "order-42"}
    first = http.post("/api/orders", json=body, headers=headers)
    retry = http.post("/api/orders", json=body, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert http.get("/api/orders").headers["x-total-count"] == "10"  # 9 seeded + 1
    # Without a key, the same retry does create a duplicate: the lesson.
    http.post("/api/orders", json=body, headers=WRITER)
    http.post("/api/orders", json=body, headers=WRITER)
    assert http.get("/api/orders").headers["x-total-count"] == "12"
    # The same key with another body is refused, not silently replayed.
    r = http.post("/api/orders", json={**body, "quantity": 9}, headers=headers)
    assert_problem(r, 422, "already used for a different request")
    # Keys belong to a client: carol's "order-42" is her own.
    r = http.post(
        "/api/orders",
        json=body,
        headers={"Authorization": "Bearer carol-token", "Idempotency-Key": "order-42"},
    )
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


def test_conditional_get_and_writes(http: httpx.Client) -> None:
    r = http.get("/api/users/3")
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    r304 = http.get("/api/users/3", headers={"If-None-Match": etag})
    assert (r304.status_code, r304.content, r304.headers["etag"]) == (304, b"", etag)
    assert http.get("/api/users/3", headers={"If-None-Match": '"stale"'}).status_code == 200

    stale = http.patch(
        "/api/users/3", json={"name": "G. Hopper"}, headers={**WRITER, "If-Match": '"stale"'}
    )
    assert_problem(stale, 412, "does not match the current ETag")
    assert http.get("/api/users/3").json()["name"] == "Grace Hopper"  # unchanged
    ok = http.patch(
        "/api/users/3", json={"name": "G. Hopper"}, headers={**WRITER, "If-Match": etag}
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    # The old ETag is now stale: a lost update is prevented.
    again = http.put(
        "/api/users/3",
        json={"name": "x", "email": "x@example.org"},
        headers={**WRITER, "If-Match": etag},
    )
    assert_problem(again, 412, "does not match")
    assert http.delete("/api/users/7", headers={**WRITER, "If-Match": '"nope"'}).status_code == 412


def test_unknown_path_is_problem_404(http: httpx.Client) -> None:
    assert_problem(http.get("/nope"), 404, "no resource at /nope")


def test_reset_restores_seed(http: httpx.Client) -> None:
    http.delete("/api/orders/1", headers=WRITER)
    http.post("/api/users", json={"name": "Z", "email": "z@example.org"}, headers=WRITER)
    r = http.post("/_lab/reset")
    assert (r.json()["users"], r.json()["orders"]) == (7, 9)
    assert http.get("/api/orders/1").status_code == 200
    # ids start again at 8 after a reset
    assert (
        http.post(
            "/api/users", json={"name": "Z", "email": "z@example.org"}, headers=WRITER
        ).json()["id"]
        == 8
    )


def test_oversized_bodies_get_413_problem(http: httpx.Client) -> None:
    big = b"a" * (2 * 1024 * 1024 + 1)
    r = http.post("/api/users", content=big, headers={**WRITER, "Content-Type": "application/json"})
    assert_problem(r, 413, "over the 2097152-byte limit")

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"b" * 65536

    with httpx.Client(base_url=http.base_url, timeout=10) as fresh:
        assert_problem(
            fresh.post("/anything", content=chunks()), 413, "over the 2097152-byte limit"
        )
        assert fresh.post("/anything", content=b"ok").json()["data"] == "ok"


def test_concurrent_retries_with_one_key_create_one_order(http: httpx.Client) -> None:
    body = {"user_id": 3, "item": "nanosecond wire", "price_cents": 1}
    headers = {**WRITER, "Idempotency-Key": "burst-1"}

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=http.base_url, timeout=10) as c:
            return await asyncio.gather(
                *(c.post("/api/orders", json=body, headers=headers) for _ in range(12))
            )

    responses = asyncio.run(send_all())
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 11
    assert http.get("/api/orders").headers["x-total-count"] == "10"


def test_merge_patch_media_type_head_on_lists_and_options_of_a_deleted_order(
    http: httpx.Client,
) -> None:
    r = http.patch(
        "/api/orders/3",
        content=b'{"status": "paid"}',
        headers={**WRITER, "Content-Type": "application/merge-patch+json"},
    )
    assert (r.status_code, r.json()["status"], r.json()["item"]) == (200, "paid", "enigma rotor")
    head = http.head("/api/orders", params={"per_page": 2})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["x-total-count"] == "9" and 'rel="next"' in head.headers["link"]
    assert http.delete("/api/orders/3", headers=WRITER).status_code == 204
    assert_problem(http.options("/api/orders/3"), 404, "order 3 does not exist")
