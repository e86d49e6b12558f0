"""Practice endpoints that show the request back (/headers, /anything) and the two auth
schemes side by side (/auth/basic, /auth/bearer)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic
from starlette.convertors import Convertor, register_url_convertor

from services.restapi.auth import check_basic, require_scope
from services.restapi.http_helpers import E401, E403, E429, bearer_scheme, problem_doc
from services.restapi.models import Echo, Identity
from services.restapi.practice import every_method

router = APIRouter(tags=["practice"])


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
    raw = await request.body()  # BodyLimitMiddleware caps its size
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


@every_method(
    router,
    "/anything",
    response_model=Echo,
    responses={413: problem_doc("Body too large"), **E429},
    summary="Echo the request",
)
async def anything(request: Request) -> dict[str, Any]:
    return await _echo(request)


@every_method(
    router,
    "/anything/{rest:anypath}",
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
