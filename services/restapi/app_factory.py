"""The application factory: wires storage, limiter, request log, routes and docs together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from services.restapi import (
    docs_offline,
    practice,
    practice_echo,
    practice_streams,
    routes_lab,
    routes_orders,
    routes_users,
    websockets_chat,
)
from services.restapi.body_limit import BodyLimitMiddleware
from services.restapi.disconnects import handle_client_disconnect
from services.restapi.lab_guard import LabGuardMiddleware
from services.restapi.openapi_doc import polish
from services.restapi.problems import (
    ProblemError,
    handle_http_exception,
    handle_problem,
    handle_validation_error,
    problem_response,
)
from services.restapi.ratelimit import RateLimiter
from services.restapi.ratelimit_middleware import RateLimitMiddleware
from services.restapi.request_log import RequestLog, RequestLogMiddleware
from services.restapi.settings import Settings
from services.restapi.storage import Store

log = logging.getLogger("restapi")
MAX_BODY_BYTES = 2 * 1024 * 1024

DESCRIPTION = """A realistic API to practise clients against: CRUD with pagination, bearer and
basic auth, idempotency keys, ETags, rate limits with standard headers, and practice
endpoints for timeouts, retries, streaming and WebSockets. See docs/restapi.md."""


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # A bug of ours still answers in the same format, and the log says where.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, f"internal error: {type(exc).__name__}", instance=request.url.path)


def create_app(settings: Settings) -> FastAPI:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="wirelab restapi",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,  # served from local assets by docs_offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.limiter = RateLimiter(dict(settings.policies), enabled=settings.rate_limit_enabled)
    app.state.request_log = RequestLog(settings.request_log_size)
    app.state.chat = websockets_chat.ChatRoom()
    app.state.unstable_rngs = {}
    app.state.unstable_counts = {}

    app.add_exception_handler(ProblemError, handle_problem)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(ClientDisconnect, handle_client_disconnect)
    app.add_exception_handler(Exception, handle_unexpected)

    for module in (
        routes_users,
        routes_orders,
        practice,
        practice_streams,
        practice_echo,
        websockets_chat,
        routes_lab,
    ):
        app.include_router(module.router)
    docs_offline.install(app)

    # Added last = outermost: the log sees the limiter's own 429s.
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES)
    app.add_middleware(LabGuardMiddleware)  # before any body is read: cross-site refusals
    app.add_middleware(RateLimitMiddleware, limiter=app.state.limiter)
    app.add_middleware(RequestLogMiddleware, log=app.state.request_log)

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = polish(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
