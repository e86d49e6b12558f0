"""The HTTP layer's fast path: a request that no toxic touches costs a scan (sans-I/O).

While a proxy has http toxics but no byte-level toxic, a new connection starts *screened*:
both directions are copied by callbacks (`tcp.copy_pump`), not by the chain of tasks, and
this object only finds where messages start and end (`framing`). Each request head is
planned as it completes, with the same `plan_request` the exchange uses, so match counts,
events and toxicity rolls are the same either way. A request whose plan changes nothing
goes straight through.

The screen hands the connection over to the full exchange (h11, on the chain) at a message
boundary, and the connection stays there:

- a request whose plan does something (an answer, a delay, a drip) is held back, with
  everything after it, until every earlier response has been relayed; the exchange then
  starts clean from that request, with the plan already made (not rolled twice);
- a request the screen cannot frame for sure (a head split across reads, conflicting
  lengths, an Upgrade): the same, and h11 judges it;
- a byte-level toxic added live: at the next boundary (the request being received and the
  responses awaited go through first).

A response it cannot frame, a close-delimited one, a switch of protocols or bytes that no
request asked for make the connection *opaque*: the rest is relayed untouched, as the
exchange does with traffic that is not HTTP.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from services.faultproxy.http.framing import (
    CHUNKED,
    INFORMATIONAL,
    MAX_HEAD,
    NOT_FRAMED,
    BodyScanner,
    parse_request_head,
    parse_response_head,
)
from services.faultproxy.http.matching import RequestHead
from services.faultproxy.http.plan import NOTHING, Plan

Filtered = tuple[bytes, bytes | None]  # (bytes to relay now, bytes held back or None)


def changes_nothing(plan: Plan) -> bool:
    return plan is NOTHING or (
        plan.terminal is None
        and plan.drip is None
        and plan.request_delay == 0
        and plan.response_delay == 0
    )


class HttpScreen:
    def __init__(self, decide: Callable[[RequestHead], Plan], on_ready: Callable[[], None]):
        self._decide = decide
        self._on_ready = on_ready
        self.requests = 0
        self.opaque = ""  # why the connection is no longer followed ("" while it is)
        self.stopping = False  # hand over at the next request boundary
        self.planned: tuple[RequestHead, Plan] | None = None  # for the first held request
        self._paused = False  # the client side stopped at a boundary (holding the rest)
        self._said_ready = False
        self._request_body: BodyScanner | None = None
        self._awaited: deque[str] = deque()  # methods of relayed requests not yet answered
        self._response_head = bytearray()
        self._response_body: BodyScanner | None = None

    # -- client -> upstream -----------------------------------------------------------------
    def client_bytes(self, data: bytes) -> Filtered:
        """Split what the client sent into what may be relayed now and what is held back
        (from the start of a request head) for the exchange."""
        if self.opaque:
            return data, None
        pos, end = 0, len(data)
        while pos < end:
            body = self._request_body
            if body is not None:
                pos = body.feed(data, pos)
                if body.broken:
                    self._go_opaque("request body not framed as announced")
                    return data, None
                if body.done:
                    self._request_body = None
                continue
            if self.stopping:
                return self._hold(data, pos)
            head_end = data.find(b"\r\n\r\n", pos, pos + MAX_HEAD)
            if head_end < 0:
                return self._hand_over(data, pos)  # a head across reads: h11's job
            parsed = parse_request_head(data[pos : head_end + 4])
            if parsed is None:
                return self._hand_over(data, pos)
            head, framing = parsed
            plan = self._decide(head)
            if not changes_nothing(plan):
                self.planned = (head, plan)
                return self._hand_over(data, pos)
            self.requests += 1
            self._awaited.append(head.method)
            pos = head_end + 4
            if framing == CHUNKED or pos + framing > end:
                self._request_body = BodyScanner(framing)
            else:
                pos += framing  # the whole body is here: nothing to follow
        if self.stopping and self._request_body is None:
            return self._hold(data, end)
        return data, None

    def _hand_over(self, data: bytes, pos: int) -> Filtered:
        self.stopping = True
        return self._hold(data, pos)

    def _hold(self, data: bytes, pos: int) -> Filtered:
        self._paused = True
        self._check_ready()
        return data[:pos], data[pos:]

    # -- upstream -> client -----------------------------------------------------------------
    def upstream_bytes(self, data: bytes) -> Filtered:
        """Follow the responses (nothing is held back on this side)."""
        pos, end = 0, len(data)
        while pos < end and not self.opaque:
            body = self._response_body
            if body is not None:
                pos = body.feed(data, pos)
                if body.broken:
                    self._go_opaque("response body not framed as announced")
                elif body.done:
                    self._response_body = None
                    self._awaited.popleft()
                continue
            if not self._awaited:
                self._go_opaque("bytes from upstream that no request asked for")
                break
            pos = self._response_head_bytes(data, pos)
        if self.stopping:
            self._check_ready()
        return data, None

    def _response_head_bytes(self, data: bytes, pos: int) -> int:
        """Take a response head (or the part of one this read has) from ``data[pos:]``."""
        held = self._response_head
        if held:
            tail = bytes(held[-3:])  # a "\r\n\r\n" may straddle two reads
            found = (tail + data[pos : pos + MAX_HEAD]).find(b"\r\n\r\n")
            after = pos + found + 4 - len(tail)
        else:
            found = data.find(b"\r\n\r\n", pos, pos + MAX_HEAD)
            after = found + 4
        if found < 0:
            held += data[pos:]
            if len(held) > MAX_HEAD:
                self._go_opaque("response head too long to follow")
            return len(data)
        head = bytes(held) + data[pos:after] if held else data[pos:after]
        held.clear()
        framing = parse_response_head(head, self._awaited[0])
        if framing is None or framing == NOT_FRAMED:
            self._go_opaque("a response the screen cannot frame, or not HTTP from now on")
            return after
        if framing == INFORMATIONAL:  # the response itself is still to come
            return after
        if framing == CHUNKED or after + framing > len(data):
            self._response_body = BodyScanner(framing)
            return after
        self._awaited.popleft()  # the whole body is here
        return after + framing

    # -- handing over -------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Hand over at the next request boundary (a byte-level toxic is coming)."""
        self.stopping = True
        if self._request_body is None:
            self._paused = True
        self._check_ready()

    @property
    def at_rest(self) -> bool:
        """Every relayed request has its whole response relayed."""
        return not self._awaited and self._response_body is None and not self._response_head

    @property
    def ready(self) -> bool:
        """The exchange may take over now."""
        return self.stopping and (bool(self.opaque) or (self._paused and self.at_rest))

    def _check_ready(self) -> None:
        if self.ready and not self._said_ready:
            self._said_ready = True
            self._on_ready()

    def _go_opaque(self, why: str) -> None:
        self.opaque = why
        self._awaited.clear()
        self._response_body = self._request_body = None
        self._response_head.clear()
        self._check_ready()
