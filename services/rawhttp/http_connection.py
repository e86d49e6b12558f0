"""One HTTP/1.1 connection as a ``StreamProtocol``: parser events -> app -> response bytes.

Keep-alive, pipelining (answers in order, because each request is answered as it is
parsed), ``100 Continue``, the header deadline (slowloris -> 408) and the idle timeout
live here, measured on the clock the loop passes in, so every socket loop behaves alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from services.rawhttp.http11 import (
    NEED_DATA,
    ExpectContinue,
    Limits,
    ProtocolError,
    Request,
    RequestParser,
)
from services.rawhttp.methods import method_answer
from services.rawhttp.request_log import RequestLog
from services.rawhttp.responses import CONTINUE, encode, error_response
from services.rawhttp.routes import App

log = logging.getLogger("rawhttp.http")


@dataclass(frozen=True)
class HttpSettings:
    limits: Limits = Limits()
    header_timeout: float = 10.0  # the whole head must arrive within this (slowloris)
    idle_timeout: float = 15.0  # a keep-alive connection with no request is closed after this
    strict: bool = True  # CRLF only and the strict framing rules (see http11.RequestParser)
    # After the head, a body must keep this average rate (bytes/s) from the request's
    # start: a deadline that moved on every byte let a body dribbled a byte at a time
    # hold a connection (and in the old threads mode a worker) for ever.
    min_body_rate: float = 1024.0


class HttpConnection:
    def __init__(
        self, app: App, request_log: RequestLog, settings: HttpSettings, peer: str
    ) -> None:
        self.app = app
        self.request_log = request_log
        self.settings = settings
        self.peer = peer
        self.parser = RequestParser(settings.limits, strict=settings.strict)
        self.closing = False
        self.requests = 0
        self._out: list[bytes] = []
        now = time.monotonic()
        self._last = now  # last bytes received
        self._started: float | None = None  # when the unfinished request began
        self._info = log.isEnabledFor(logging.INFO)
        self._debug = log.isEnabledFor(logging.DEBUG)

    # -- StreamProtocol ---------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # after an error or "Connection: close", the rest is not read
        now = time.monotonic()
        self._last = now
        if self._started is None:
            self._started = now
        parser = self.parser
        parser.feed(data)
        while True:
            event = parser.next_event()
            kind = type(event)
            if kind is Request:
                self._answer(event, now)  # type: ignore[arg-type]
                if self.closing:
                    return
                self._started = now if parser.has_partial_request else None
            elif event is NEED_DATA:
                break
            elif kind is ExpectContinue:
                self._out.append(CONTINUE)
            else:
                assert isinstance(event, ProtocolError)
                self._send_error(event.status, event.message, now)
                return

    def eof_received(self) -> None:
        error = self.parser.feed_eof()
        if error is not None and not self.closing:
            log.info("%s closed the connection mid-request (%s)", self.peer, error.message)
        self.closing = True

    def take_output(self) -> bytes:
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def deadline(self) -> float | None:
        if self.closing:
            return None
        if self._started is not None and self.parser.has_partial_request:
            settings = self.settings
            deadline = self._started + settings.header_timeout
            if self.parser.reading_head:
                return deadline
            # Each byte of body buys 1/min_body_rate s more, never more than that.
            return deadline + self.parser.body_received / settings.min_body_rate
        return self._last + self.settings.idle_timeout

    def on_timeout(self, now: float) -> None:
        if self.closing:
            return
        if self._started is not None and self.parser.has_partial_request:
            settings = self.settings
            if self.parser.reading_head:
                why = f"the request head did not arrive within {settings.header_timeout:g} s"
            else:
                why = (
                    f"the request body came slower than {settings.min_body_rate:g} bytes/s "
                    f"(after {settings.header_timeout:g} s of grace)"
                )
            self._send_error(408, why, now)
        else:
            if self._debug:
                log.debug("%s idle for %.1f s, closing", self.peer, now - self._last)
            self.closing = True

    def connection_lost(self, error: str | None) -> None:
        if error and self._info:
            log.info("%s connection lost after %d requests: %s", self.peer, self.requests, error)

    # -- internals ----------------------------------------------------------------------
    def _answer(self, request: Request, now: float) -> None:
        self.requests += 1
        if self._debug:
            log.debug("raw request from %s:\n%s", self.peer, request.raw.decode("latin-1"))
        try:
            response = method_answer(request) or self.app.handle(request)
        except Exception:  # a bug in a route must cost one 500, not the connection loop
            log.exception("route failed for %s %s", request.method, request.target[:200])
            response = error_response(500, "the server failed on this request; see its log")
        keep_alive = request.keep_alive and not response.close
        data = encode(
            response,
            head_only=request.method == "HEAD",
            keep_alive=keep_alive,
            http10=request.version == "HTTP/1.0",
        )
        self._out.append(data)
        if not keep_alive:
            self.closing = True
        self._record(request.method, request.target, response.status, len(data), now)

    def _send_error(self, status: int, message: str, now: float) -> None:
        data = encode(error_response(status, message), keep_alive=False)
        self._out.append(data)
        self.closing = True
        if self._info:
            log.info("%s error %d: %s", self.peer, status, message)
        self._record("-", "-", status, len(data), now)

    def _record(self, method: str, target: str, status: int, nbytes: int, now: float) -> None:
        started = self._started if self._started is not None else now
        done = time.monotonic()
        self.request_log.record(
            peer=self.peer,
            method=method,
            path=target,
            status=status,
            nbytes=nbytes,
            duration_s=done - started,
        )
        if self._info:
            log.info(
                '%s "%s %s" %d %dB %.2fms',
                self.peer,
                method,
                target[:200],
                status,
                nbytes,
                (done - started) * 1000,
            )
