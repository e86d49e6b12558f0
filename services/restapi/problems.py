"""RFC 9457 problem details: every error this service sends is ``application/problem+json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://wirelab.invalid/problems/"  # never fetched; names the kind of problem


class ProblemError(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind, self.title = status, detail, kind, title
        self.headers = dict(headers or {})
        self.extra = extra


def invalid(
    field: str, where: str, reason: str, detail: str | None = None, kind: str = "validation-error"
) -> ProblemError:
    """A 422 shaped like FastAPI's own validation errors: every 422 names field and reason."""
    return ProblemError(
        422,
        detail or f"request failed validation: {field}: {reason}",
        kind=kind,
        errors=[{"field": field, "in": where, "reason": reason}],
    )


def title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    kind = kind or title_for(status).lower().replace(" ", "-").replace("'", "")
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind,
        "title": title or title_for(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_bytes(status: int, detail: str, **kw: Any) -> bytes:
    return json.dumps(problem_body(status, detail, **kw), separators=(",", ":")).encode()


def problem_response(
    status: int, detail: str, *, headers: Mapping[str, str] | None = None, **kw: Any
) -> Response:
    return Response(
        problem_bytes(status, detail, **kw),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        headers=exc.headers,
        kind=exc.kind,
        title=exc.title,
        instance=request.url.path,
        **exc.extra,
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) as problem documents."""
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else title_for(exc.status_code)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    elif exc.status_code == 405:
        allow = ", ".join(allowed_methods(request))
        exc.headers = {**(exc.headers or {}), "Allow": allow}
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {allow}"
    if exc.status_code < 400:  # e.g. a bare 304 raised by a handler
        return Response(status_code=exc.status_code, headers=exc.headers)
    return problem_response(exc.status_code, detail, headers=exc.headers, instance=request.url.path)


METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on this path.

    Starlette's 405 names only the first route that matched the path, so ask the router
    about each method in turn.
    """
    scope = {**request.scope, "type": "http"}
    return [
        method
        for method in METHOD_ORDER
        if any(
            route.matches({**scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "email") -> "email"; ("query", "per_page") -> "per_page"; keep list indexes.
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "body"


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """422 naming every bad field and why; malformed JSON is a 400 naming the position."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            return problem_response(
                400,
                f"request body is not valid JSON: {ctx.get('error', 'parse error')} at position {err.get('loc', ['', '?'])[-1]}",
                kind="malformed-json",
                instance=request.url.path,
            )
    fields = [
        {
            "field": _field_path(err.get("loc", ())),
            "in": str(err.get("loc", ("body",))[0]),
            "reason": err.get("msg", "invalid"),
        }
        for err in errors
    ]
    summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
    return problem_response(
        422,
        f"request failed validation: {summary}",
        kind="validation-error",
        instance=request.url.path,
        errors=fields,
    )
