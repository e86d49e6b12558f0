"""Practice endpoints for statuses and timing: weighted statuses, seeded failures, delays,
slow bodies and redirect chains. Sleeps are capped by ``settings.max_delay_s``.

The useful part of httpbin plus what it lacks; streams are in practice_streams.py and the
echo and auth endpoints in practice_echo.py.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.restapi.http_helpers import E422, E429, problem_doc
from services.restapi.practice_logic import (
    CODES_PATTERN,
    choose_code,
    drip_chunks,
    parse_weighted_codes,
)
from services.restapi.problems import invalid, problem_response

router = APIRouter(tags=["practice"])
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
REDIRECT_CODES = {301, 302, 303, 307, 308}
MAX_BYTES = 1_048_576  # /drip, /bytes and /range never send more
MAX_SEEDS = 1024  # /unstable sequences remembered at once
ANY_STATUS = {"default": {"description": "The status asked for (problem+json for 4xx/5xx)"}}
# /drip answers ?code= (200-599) with the dripped bytes, whatever the class.
DRIP_STATUSES = {
    f"{c}XX": {
        "description": "The status asked for with ?code=, deliberately (the body is still the drip)",
        "content": {"application/octet-stream": {}},
    }
    for c in "2345"
}


def every_method(
    router: APIRouter, path: str, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One route per method: a multi-method route would give every method the same operationId."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for method in ALL_METHODS:
            router.add_api_route(
                path, fn, methods=[method], operation_id=f"{fn.__name__}_{method.lower()}", **kwargs
            )
        return fn

    return register


def max_delay(request: Request) -> float:
    return request.app.state.settings.max_delay_s


@every_method(
    router,
    "/status/{codes}",
    responses={**ANY_STATUS, **E422},
    summary="Answer with a status, or a weighted random one: 200:3,500:1",
)
async def status(
    request: Request,
    codes: str = Path(
        max_length=200,
        examples=["200:3,503:1"],
        description="CODE or CODE:WEIGHT items, comma separated: codes 200-599, weights above 0",
        json_schema_extra={"pattern": CODES_PATTERN},  # checked by parse_weighted_codes
    ),
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
    if len(rngs) >= MAX_SEEDS:  # a client walking through seeds must not grow memory forever
        rngs.clear()
        counts.clear()
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


@every_method(
    router,
    "/delay/{seconds}",
    responses={
        200: {
            "description": "After min(seconds, cap) s; the cap (10 s unless started with --max-delay) is deliberate, and the body says both"
        },
        **E422,
        **E429,
    },
    summary="Answer after a pause, capped at 10 s (--max-delay)",
)
async def delay(
    request: Request,
    seconds: float = Path(ge=0, le=3600, description="asked-for pause; over the cap waits the cap"),
) -> Response:
    actual = min(seconds, max_delay(request))
    await asyncio.sleep(actual)
    return Response(
        json.dumps({"delay": actual, "requested": seconds}), media_type="application/json"
    )


@router.get(
    "/drip",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **DRIP_STATUSES,
        **E422,
        **E429,
    },
    summary="A slow body: wait delay, then numbytes spread over duration (read vs total timeouts)",
)
async def drip(
    request: Request,
    numbytes: int = Query(10, ge=0, le=MAX_BYTES),
    duration: float = Query(2.0, ge=0, le=3600),
    delay: float = Query(0.0, ge=0, le=3600),
    code: int = Query(200, ge=200, le=599, description="the status to answer with, 200-599"),
) -> Response:
    cap = max_delay(request)
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
