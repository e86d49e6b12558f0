"""The request log exercise checks read: who sent what, when, and whether it was refused.

``RequestLog`` is a bounded in-memory list; ``RequestLogMiddleware`` is the pure-ASGI layer
that fills it (outermost, so it also sees the 429s the rate limiter sends itself).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.restapi.auth import client_of

CLIENT_KEY = "wirelab.client"
RATE_LIMITED_KEY = "wirelab.rate_limited"
RETRY_AFTER_KEY = "wirelab.retry_after"  # the Retry-After the limiter sent, for checks to compare
# The lab's own traffic (checks reading this log, health probes) would drown the student's.
UNLOGGED_PREFIXES = ("/_lab/", "/healthz")
debug_log = logging.getLogger("restapi.requests")


@dataclass(frozen=True)
class LogEntry:
    time: float  # unix seconds when the request arrived
    client: str
    method: str
    path: str
    status: int
    rate_limited: bool
    duration_ms: float
    idempotency_key: str | None = None
    retry_after: int | None = None  # seconds, on the limiter's own 429s

    def as_dict(self) -> dict[str, Any]:
        # Optional fields appear only when they have a value.
        return {k: v for k, v in asdict(self).items() if v is not None}


class RequestLog:
    def __init__(self, size: int = 5000) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=size)

    def add(self, entry: LogEntry) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def query(
        self, client: str | None = None, since: float | None = None, limit: int | None = None
    ) -> list[LogEntry]:
        """Oldest first; ``limit`` keeps the most recent matches."""
        out = [
            e
            for e in self._entries
            if (client is None or e.client == client) and (since is None or e.time >= since)
        ]
        return out[-limit:] if limit else out


def _request_text(scope: Scope) -> str:
    target = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    peer = scope.get("client") or ("?", 0)
    lines = [
        f"from {peer[0]}:{peer[1]}: {scope['method']} {target} HTTP/{scope.get('http_version', '1.1')}"
    ]
    lines += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in scope.get("headers", ())]
    return "\n  ".join(lines)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[CLIENT_KEY] = client = client_of(scope)
        if debug_log.isEnabledFor(logging.DEBUG):  # --log-level debug: the request as sent
            debug_log.debug("%s", _request_text(scope))
        path: str = scope["path"]
        if path.startswith(UNLOGGED_PREFIXES):
            await self.app(scope, receive, send)
            return
        started_wall, started = time.time(), time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            key = None
            for name, value in scope.get("headers", ()):
                if name == b"idempotency-key":
                    key = value.decode("latin-1")
                    break
            self.log.add(
                LogEntry(
                    time=started_wall,
                    client=client,
                    method=scope["method"],
                    path=path,
                    status=status,
                    rate_limited=bool(scope.get(RATE_LIMITED_KEY)),
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    idempotency_key=key,
                    retry_after=scope.get(RETRY_AFTER_KEY),
                )
            )
