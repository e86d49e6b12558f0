"""Practice endpoints: statuses, timing, streams, bytes, ranges, redirects, echo, auth.

The useful part of httpbin plus what it lacks (weighted statuses, seeded failures,
SSE with Last-Event-ID). Sleeps are capped by ``settings.max_delay_s``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic
from starlette.convertors import Convertor, register_url_convertor

from services.restapi.auth import check_basic, require_scope
from services.restapi.http_helpers import E401, E403, E422, E429, bearer_scheme, problem_doc
from services.restapi.models import Echo, Identity
from services.restapi.practice_logic import (
    RangeNotSatisfiable,
    choose_code,
    drip_chunks,
    parse_range,
    parse_weighted_codes,
    range_body,
    seeded_bytes,
)
from services.restapi.problems import ProblemError, invalid, problem_response

router = APIRouter(tags=["practice"])
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_BYTES = 1_048_576
MAX_ECHO_BODY = 1_048_576
REDIRECT_CODES = {301, 302, 303, 307, 308}
ANY_STATUS = {"default": {"description": "The status asked for (problem+json for 4xx/5xx)"}}


class AnyPathConvertor(Convertor[str]):
    """Like Starlette's ``path``, but also matching control characters such as %0A, so
    /anything/... echoes every path instead of 404ing on a newline."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPathConvertor())


class _DocumentedBasic(HTTPBasic):
    """Declares Basic auth in /openapi.json; checking is ours (FastAPI's would hide why it failed)."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


basic_scheme = _DocumentedBasic(auto_error=False, description="user 'student', password 'wirelab'")


def _max_delay(request: Request) -> float:
    return request.app.state.settings.max_delay_s


@router.api_route(
    "/status/{codes}",
    methods=ALL_METHODS,
    responses={**ANY_STATUS, **E422},
    summary="Answer with a status, or a weighted random one: 200:3,500:1",
)
async def status(
    request: Request,
    codes: str = Path(max_length=200, examples=["200:3,503:1"]),
    seed: int | None = Query(
        None, ge=0, le=2**32, description="makes the weighted choice repeatable"
    ),
) -> Response:
    try:
        choices = parse_weighted_codes(codes)
    except ValueError as exc:
        raise invalid("codes", "path", str(exc), f"bad status list {codes!r}: {exc}") from None
    code = choose_code(choices, random.Random(seed) if seed is not None else random.Random())
    if code in (204, 304):
        return Response(status_code=code)
    headers: dict[str, str] = {}
    if code in REDIRECT_CODES:
        headers["Location"] = "/anything"
    elif code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="wirelab"'
    elif code in (429, 503):
        headers["Retry-After"] = "1"
    elif code == 405:
        headers["Allow"] = ", ".join(ALL_METHODS)
    if code >= 400:
        return problem_response(
            code, f"you asked for {code}", headers=headers, instance=request.url.path
        )
    return Response(
        json.dumps({"status": code}),
        status_code=code,
        media_type="application/json",
        headers=headers,
    )


@router.get(
    "/unstable",
    responses={503: problem_doc("The planned failure"), **E422, **E429},
    summary="Fail with probability failure_rate; with a seed the sequence repeats after /_lab/reset",
)
async def unstable(
    request: Request,
    failure_rate: float = Query(0.5, ge=0.0, le=1.0),
    seed: int | None = Query(None, ge=0, le=2**32),
) -> Response:
    rngs: dict[int, random.Random] = request.app.state.unstable_rngs
    counts: dict[int | None, int] = request.app.state.unstable_counts
    if seed is None:
        rng = random.Random()
    else:
        rng = rngs.get(seed) or rngs.setdefault(seed, random.Random(seed))
    counts[seed] = attempt = counts.get(seed, 0) + 1
    if rng.random() < failure_rate:
        return problem_response(
            503,
            f"planned failure (failure_rate={failure_rate}, attempt {attempt})",
            kind="unstable",
            headers={"Retry-After": "1"},
            attempt=attempt,
        )
    return Response(
        json.dumps({"ok": True, "attempt": attempt, "failure_rate": failure_rate}),
        media_type="application/json",
    )


@router.api_route(
    "/delay/{seconds}",
    methods=ALL_METHODS,
    responses={**E422, **E429},
    summary="Answer after a pause (capped)",
)
async def delay(request: Request, seconds: float = Path(ge=0, le=3600)) -> Response:
    actual = min(seconds, _max_delay(request))
    await asyncio.sleep(actual)
    return Response(
        json.dumps({"delay": actual, "requested": seconds}), media_type="application/json"
    )


@router.get(
    "/drip",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **E422, **E429},
    summary="A slow body: wait delay, then numbytes spread over duration (read vs total timeouts)",
)
async def drip(
    request: Request,
    numbytes: int = Query(10, ge=0, le=MAX_BYTES),
    duration: float = Query(2.0, ge=0, le=3600),
    delay: float = Query(0.0, ge=0, le=3600),
    code: int = Query(200, ge=200, le=599),
) -> Response:
    cap = _max_delay(request)
    duration, delay = min(duration, cap), min(delay, cap)
    await asyncio.sleep(delay)  # before the status line: a time-to-first-byte test

    async def body() -> AsyncIterator[bytes]:
        for pause, size in drip_chunks(numbytes, duration):
            await asyncio.sleep(pause)
            yield b"*" * size

    return StreamingResponse(
        body(),
        status_code=code,
        media_type="application/octet-stream",
        headers={"Content-Length": str(numbytes)},
    )


@router.get(
    "/stream/{n}",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}}, **E422, **E429},
    summary="n JSON lines, each its own chunk",
)
async def stream(
    request: Request, n: int = Path(ge=0, le=1000), interval: float = Query(0.0, ge=0, le=1)
) -> Response:
    url = str(request.url)

    async def lines() -> AsyncIterator[bytes]:
        for i in range(n):
            if interval and i:
                await asyncio.sleep(interval)
            yield (json.dumps({"id": i, "url": url}) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get(
    "/sse",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}, **E422, **E429},
    summary="Server-sent events; resumes after the Last-Event-ID header",
)
async def sse(
    request: Request,
    count: int = Query(5, ge=0, le=1000),
    interval: float = Query(1.0, ge=0, le=60),
) -> Response:
    last = request.headers.get("last-event-id", "")
    start = int(last) + 1 if last.isdigit() and len(last) < 10 else 0
    interval = min(interval, _max_delay(request))

    async def events() -> AsyncIterator[bytes]:
        yield f"retry: {int(interval * 1000) or 1000}\n\n".encode()
        for i in range(start, count):
            if i > start:
                await asyncio.sleep(interval)
            yield f"id: {i}\nevent: tick\ndata: {json.dumps({'n': i, 'of': count})}\n\n".encode()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/bytes/{n}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **E422, **E429},
    summary="n random bytes; the same seed gives the same bytes",
)
async def random_bytes(
    n: int = Path(ge=0, le=MAX_BYTES), seed: int | None = Query(None, ge=0, le=2**63)
) -> Response:
    return Response(seeded_bytes(n, seed), media_type="application/octet-stream")


@router.get(
    "/range/{n}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {
            "description": "The requested byte range",
            "content": {"application/octet-stream": {}},
        },
        416: problem_doc("Range starts past the end"),
        **E422,
        **E429,
    },
    summary="n bytes (abc...z repeated) honouring a single-range Range header",
)
async def byte_range(request: Request, n: int = Path(ge=0, le=MAX_BYTES)) -> Response:
    body = range_body(n)
    headers = {"Accept-Ranges": "bytes", "ETag": f'"range-{n}"'}
    try:
        wanted = parse_range(request.headers.get("range"), n)
    except RangeNotSatisfiable:
        return problem_response(
            416,
            f"Range {request.headers.get('range')} is outside 0-{n - 1}",
            headers={**headers, "Content-Range": f"bytes */{n}"},
        )
    if wanted is None:
        return Response(body, media_type="application/octet-stream", headers=headers)
    headers["Content-Range"] = wanted.content_range(n)
    return Response(
        body[wanted.first : wanted.last + 1],
        status_code=206,
        media_type="application/octet-stream",
        headers=headers,
    )


@router.get(
    "/redirect/{n}",
    response_class=Response,
    status_code=302,
    responses={
        **{
            code: {"description": "Redirect to /redirect/{n-1}; /redirect/1 goes to /anything"}
            for code in sorted(REDIRECT_CODES)
        },
        **E422,
        **E429,
    },
    summary="A chain of n redirects",
)
async def redirect(
    request: Request,
    n: int = Path(ge=1, le=50),
    status: int = Query(302, json_schema_extra={"enum": sorted(REDIRECT_CODES)}),
    absolute: bool = Query(False, description="absolute URLs in Location"),
) -> Response:
    if status not in REDIRECT_CODES:
        raise invalid("status", "query", f"must be one of {sorted(REDIRECT_CODES)}, got {status}")
    target = f"/redirect/{n - 1}" if n > 1 else "/anything"
    if n > 1 and (status != 302 or absolute):
        target += "?" + "&".join(
            f"{k}={v}" for k, v in (("status", status), ("absolute", str(absolute).lower()))
        )
    if absolute:
        target = str(request.base_url).rstrip("/") + target
    return Response(status_code=status, headers={"Location": target})


def _headers(request: Request) -> dict[str, str]:
    # Repeated headers are joined with ", " as RFC 9110 allows; names keep their wire case.
    out: dict[str, str] = {}
    for key, value in request.headers.raw:
        name, text = key.decode("latin-1").title(), value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


@router.get("/headers", responses=E429, summary="Echo the request headers")
async def headers(request: Request) -> dict[str, Any]:
    return {"headers": _headers(request)}


async def _echo(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_ECHO_BODY:
        raise ProblemError(
            413, f"body of {len(raw)} bytes is over the {MAX_ECHO_BODY}-byte echo limit"
        )
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    peer = request.client
    return {
        "method": request.method,
        "url": str(request.url),
        "path": request.url.path,
        "args": dict(request.query_params.multi_items()),
        "headers": _headers(request),
        "origin": peer.host if peer else "unknown",
        "data": text,
        "json": parsed,
    }


@router.api_route(
    "/anything",
    methods=ALL_METHODS,
    response_model=Echo,
    responses={413: problem_doc("Body too large"), **E429},
    summary="Echo the request",
)
async def anything(request: Request) -> dict[str, Any]:
    return await _echo(request)


@router.api_route(
    "/anything/{rest:anypath}",
    methods=ALL_METHODS,
    response_model=Echo,
    responses={413: problem_doc("Body too large"), **E429},
    summary="Echo the request (any sub-path)",
)
async def anything_path(request: Request, rest: str) -> dict[str, Any]:
    return await _echo(request)


@router.get(
    "/auth/basic",
    response_model=Identity,
    responses={**E401, **E429},
    summary="HTTP Basic auth (user 'student', password 'wirelab'), to compare with Bearer",
)
async def basic_auth(request: Request, _: None = Depends(basic_scheme)) -> Identity:
    user = check_basic(request.headers.get("authorization"))
    return Identity(authenticated=True, user=user, scheme="basic")


@router.get(
    "/auth/bearer",
    response_model=Identity,
    responses={**E401, **E403, **E429},
    summary="Who a bearer token belongs to",
)
async def bearer_auth(
    request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Identity:
    token = require_scope(request.headers.get("authorization"), "read")
    return Identity(
        authenticated=True, user=token.name, scheme="bearer", scopes=sorted(token.scopes)
    )
