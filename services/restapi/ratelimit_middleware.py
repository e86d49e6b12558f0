"""The ASGI side of rate limiting: pick the route group and client, ask the bucket, and
either add the RateLimit headers to the response or answer 429 straight away."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.restapi.auth import client_of
from services.restapi.problems import PROBLEM_MEDIA_TYPE, problem_bytes
from services.restapi.ratelimit import RateLimiter
from services.restapi.request_log import CLIENT_KEY, RATE_LIMITED_KEY, RETRY_AFTER_KEY

PRACTICE_PREFIXES = (
    "/status/",
    "/unstable",
    "/delay/",
    "/drip",
    "/stream/",
    "/sse",
    "/bytes/",
    "/range/",
    "/redirect/",
    "/headers",
    "/anything",
    "/auth/",
)
PRUNE_EVERY = 10_000  # requests between sweeps of refilled buckets (memory stays bounded)


def route_group(path: str) -> str | None:
    """The limit group of a path; None for the lab's own endpoints, docs and health."""
    if path.startswith("/api/") or path == "/api":
        return "api"
    if path.startswith(PRACTICE_PREFIXES):
        return "practice"
    return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app, self.limiter = app, limiter
        self._since_prune = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        group = route_group(scope["path"])
        if group is None:
            await self.app(scope, receive, send)
            return
        client = scope.get(CLIENT_KEY) or client_of(scope)
        now = time.monotonic()
        # No await between the bucket check and the token taken: this is the atomic step.
        decision = self.limiter.check(group, client, now)
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._since_prune = 0
            self.limiter.prune(now)
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = decision.raw_headers(time.time())
        if not decision.allowed:
            scope[RATE_LIMITED_KEY] = True
            scope[RETRY_AFTER_KEY] = decision.retry_after_s
            body = problem_bytes(
                429,
                f"rate limit of group {group!r} exceeded for {client}: {decision.policy.capacity} requests, "
                f"refilling {decision.policy.refill_per_s:g}/s; retry after {decision.retry_after_s} s",
                kind="rate-limited",
                instance=scope["path"],
                retry_after=decision.retry_after_s,
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
