"""Practice endpoints for streaming and bytes: JSON lines, server-sent events, seeded
random bytes and Range requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.restapi.http_helpers import E422, E429, problem_doc
from services.restapi.practice import MAX_BYTES, max_delay
from services.restapi.practice_logic import (
    RangeNotSatisfiable,
    parse_range,
    range_body,
    seeded_bytes,
)
from services.restapi.problems import problem_response

router = APIRouter(tags=["practice"])


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
    interval = min(interval, max_delay(request))

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
    interval = min(interval, max_delay(request))

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
