"""What the resource routes share: JSON responses with ETags, 415 checks, idempotency, docs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.restapi.auth import Token, require_scope
from services.restapi.conditional import etag_for, json_bytes, match_fails, none_match
from services.restapi.models import Problem, ValidationProblem
from services.restapi.pagination import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    PageRequest,
    link_header,
)
from services.restapi.problems import ProblemError, invalid
from services.restapi.storage import Conflict, IdempotencyKey, NotFound, Store

JSON = "application/json"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft asks


def problem_doc(description: str, model: type = Problem) -> dict[str, Any]:
    return {"model": model, "description": description}


# Error responses for /openapi.json; the app turns their media type into problem+json.
E400 = {400: problem_doc("Malformed JSON body")}
E401 = {401: problem_doc("Missing or unknown bearer token (see WWW-Authenticate)")}
E403 = {403: problem_doc("The token lacks the needed scope")}
E404 = {404: problem_doc("No such resource")}
E409 = {
    409: problem_doc(
        "Conflicts with the current state (duplicate email, user still has orders, unknown user)"
    )
}
E412 = {412: problem_doc("If-Match did not match the current ETag")}
E413 = {413: problem_doc("Request body over 2 MiB")}
E415 = {415: problem_doc("Body is not application/json")}
E422 = {422: problem_doc("Validation failed: every bad field and why", ValidationProblem)}
E422_IDEMPOTENT = {
    422: problem_doc(
        "Validation failed: every bad field and why; also an Idempotency-Key this client "
        "already used for another request (type .../idempotency-key-reused)",
        ValidationProblem,
    )
}
E429 = {429: problem_doc("Rate limited: see Retry-After and the RateLimit headers")}
READ_ERRORS = {**E404, **E422, **E429}
WRITE_ERRORS = {**E400, **E401, **E403, **E404, **E409, **E412, **E413, **E415, **E422, **E429}


def store_of(request: Request) -> Store:
    return request.app.state.store


def translate_storage_errors(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except NotFound as exc:
        raise ProblemError(404, str(exc), kind="not-found") from None
    except Conflict as exc:
        raise ProblemError(409, str(exc), kind="conflict") from None


def resource_response(
    request: Request, obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A single resource with its ETag; a matching If-None-Match on GET/HEAD gives 304."""
    body = json_bytes(obj)
    etag = etag_for(body)
    out = {"ETag": etag, **(headers or {})}
    if request.method in ("GET", "HEAD") and none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, status_code=status, media_type=JSON, headers=out)


def current_etag(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else etag_for(json_bytes(obj))


def check_if_match(request: Request, current: dict[str, Any] | None) -> None:
    etag = current_etag(current)
    if match_fails(request.headers.get("if-match"), etag):
        raise ProblemError(
            412,
            f"If-Match {request.headers.get('if-match')} does not match the current ETag {etag}; GET it again",
            kind="precondition-failed",
        )


async def require_json(request: Request) -> None:
    """Dependency for bodies: 415 (not 422) when the body is there but is not JSON."""
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media == JSON or (media.startswith("application/") and media.endswith("+json")):
        return
    if not ctype and not await request.body():
        return  # no body at all: the model's own 422 says what is missing
    raise ProblemError(
        415,
        f"Content-Type {ctype or '(none)'} is not supported; send application/json",
        kind="unsupported-media-type",
        headers={
            "Accept-Post": JSON,
            "Accept-Patch": "application/json, application/merge-patch+json",
        },
    )


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def idempotency_key(
    request: Request, client: str, key: str | None, payload: dict[str, Any]
) -> IdempotencyKey | None:
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ProblemError(
            422,
            "Idempotency-Key must be 1-255 visible ASCII characters",
            kind="validation-error",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "in": "header",
                    "reason": "1-255 visible ASCII characters",
                }
            ],
        )
    return IdempotencyKey(client, key, request.method, request.url.path, fingerprint(payload))


def replay_if_seen(store: Store, idem: IdempotencyKey | None) -> Response | None:
    """The stored first response for a retried key; 422 if the key was used for another body."""
    if idem is None:
        return None
    seen = store.idempotent_response(idem.client, idem.key)
    if seen is None:
        return None
    if seen.fingerprint != idem.fingerprint or seen.path != idem.path:
        # 422 is what draft-ietf-httpapi-idempotency-key-header asks for a reused key.
        raise invalid(
            "Idempotency-Key",
            "header",
            "key already used for a different request",
            f"Idempotency-Key {idem.key!r} was already used for a different request ({seen.method} {seen.path} with another body)",
            kind="idempotency-key-reused",
        )
    # Serialized again exactly as the first answer was, so replay and ETag match byte for byte.
    body = json_bytes(json.loads(seen.body))
    headers = {"Idempotent-Replayed": "true", "ETag": etag_for(body)}
    if seen.location:
        headers["Location"] = seen.location
    return Response(body, status_code=seen.status, media_type=JSON, headers=headers)


def allow_response(methods: str) -> Response:
    return Response(status_code=204, headers={"Allow": methods})


def get_with_head(
    router: APIRouter, path: str, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register GET (documented) and HEAD (same handler; uvicorn drops the body)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, fn, methods=["GET"], **kwargs)
        router.add_api_route(path, fn, methods=["HEAD"], include_in_schema=False)
        return fn

    return register


bearer_scheme = HTTPBearer(
    auto_error=False,
    description="Demo tokens: alice-token, carol-token (read+write), bob-token (read only), admin-token.",
)


async def writer(
    request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Token:
    """Dependency for writes (async: no thread hop): 401 without a known token, 403 without the ``write`` scope."""
    return require_scope(request.headers.get("authorization"), "write")


PAGE_HEADERS = {
    "Link": {
        "description": "RFC 8288 links: next, prev, first, last",
        "schema": {"type": "string"},
    },
    "X-Total-Count": {
        "description": "Number of items over all pages",
        "schema": {"type": "integer"},
    },
}
ETAG_HEADER = {
    "ETag": {"description": "Strong validator of this representation", "schema": {"type": "string"}}
}


def paged(request: Request, items: list[Any], total: int, page: PageRequest) -> Response:
    query = list(request.query_params.multi_items())
    base = str(request.url.replace(query=""))
    headers = {"Link": link_header(base, query, page, total), "X-Total-Count": str(total)}
    return Response(json_bytes(items), media_type=JSON, headers=headers)


async def page_params(
    page: int = Query(1, ge=1, le=MAX_PAGE, description="1-based page number"),
    per_page: int = Query(
        DEFAULT_PER_PAGE,
        ge=1,
        le=MAX_PER_PAGE,
        description=f"items per page, at most {MAX_PER_PAGE}",
    ),
) -> PageRequest:
    return PageRequest(page, per_page)
