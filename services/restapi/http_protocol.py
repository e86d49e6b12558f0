"""uvicorn's httptools protocol with the two limits it lacks: head size and head deadline.

uvicorn buffers a request head of any size (a 50 MB header was answered 200 after 11 s)
and gives a client forever to finish one (slowloris held 1,017 descriptors). So:

- a request head (request line and headers) over ``max_head_bytes`` gets **431**;
- a head not complete ``head_timeout_s`` after it began (or after the connection was
  made, for the first one) gets **408**; a connection that sent nothing is just closed.

Both answers are problem+json with ``Connection: close``; then the connection is closed
the lingering way (FIN, then bytes still arriving are read and dropped for a moment), so
the client reads the answer instead of a reset caused by its unread upload.

httptools (not h11) on purpose: it is the fast parser the benchmark measures, and h11's
only guard is a size limit answered with 400. The loop stays uvicorn's choice (uvloop).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.restapi.problems import PROBLEM_MEDIA_TYPE, problem_bytes

log = logging.getLogger("restapi")
LINGER_S = 2.0  # after a refusal: how long unread request bytes are drained before closing
REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = 64 * 1024
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- head state -----------------------------------------------------------------------
    def _begin_head(self) -> None:
        if not self._in_head:
            self._in_head, self._head_bytes = True, 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _end_head(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin_head()  # the deadline for the first head runs from the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_head()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begin_head()

    def on_headers_complete(self) -> None:
        self._end_head()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: read and drop until the client closes or LINGER_S passes
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # Counted per read, after parsing: a read that finished the head is not counted,
        # and a head is refused at most one read (256 KiB) past the limit.
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse(
                431,
                f"request head (request line and headers) over the {self.max_head_bytes}-byte limit",
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head waits while the previous response is still being made.
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)
            return
        if self._head_bytes == 0:
            self.transport.close()  # an idle connection that never asked for anything
            return
        self._refuse(
            408,
            f"the request head was not complete within {self.head_timeout_s:g} s "
            f"({self._head_bytes} bytes received)",
        )

    def _refuse(self, status: int, detail: str) -> None:
        self._end_head()
        self._refused = True
        body = problem_bytes(status, detail)
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("client %s: %d %s", peer, status, detail)
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, REASONS[status], PROBLEM_MEDIA_TYPE.encode(), len(body))
            + body
        )
        try:
            self.transport.write_eof()
        except (NotImplementedError, RuntimeError, OSError):
            self.transport.close()
            return
        self.loop.call_later(LINGER_S, self.transport.close)

    def eof_received(self) -> bool | None:
        if self._refused:
            self.transport.close()
        return super().eof_received()


def protocol_class(max_head_bytes: int, head_timeout_s: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout_s": head_timeout_s},
    )
