"""One TCP connection's HTTP/1.1 traffic, request by request, with faults (sans-I/O).

The connection's bytes are parsed with h11, one h11 connection per message, but what is
forwarded are the *original bytes*: h11's ``trailing_data`` tells how many bytes each event
consumed, so a request or response that no toxic touches goes through byte for byte, in
whatever framing the peer chose.

Every request gets a *slot*, in order. A forwarded request's slot is filled by the next
response from upstream; a request a terminal toxic answers (``http_status``, ``http_reset``,
``http_malformed``) never reaches upstream and its slot is filled by the proxy, but only
when every earlier response has been sent, so a keep-alive or pipelined client still gets
its responses in order.

Outputs are two FIFO queues of `Out` items, ``to_upstream`` and ``to_client``, each with a
due time; the socket side sends them in order, waiting for each one's due time. Traffic
that is not HTTP (a parse error) and protocols switched to (websocket upgrades, CONNECT)
go through untouched from then on.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import h11

from services.faultproxy.http.matching import RequestHead
from services.faultproxy.http.plan import Plan
from services.faultproxy.http.responses import malformed_response, status_response

# Actions an `Out` may carry instead of bytes.
FIN = "eof"  # half-close: no more bytes this way (a FIN once the writer is done)
RESET = "reset"  # abort the whole connection with a TCP RST


HEAD_TIMEOUT_S = 1.0
REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ \x00-\x1f\x7f]+ HTTP/\d\.\d")


def not_a_request_line(raw: bytearray) -> str:
    """Why the first line of ``raw`` cannot start an HTTP/1.x request, or "" if it can (or
    is not complete yet). h11 alone would wait for a whole head (up to 16 KiB) before it
    says so, and a line protocol's client would wait for its answer meanwhile."""
    data = bytes(raw).lstrip(b"\r\n")
    end = data.find(b"\n")
    if end < 0:
        return ""
    line = data[:end].rstrip(b"\r")
    if REQUEST_LINE.fullmatch(line):
        return ""
    return f"not an HTTP/1.x request line: {line[:60]!r}"


@dataclass(slots=True)
class Out:
    due: float
    data: bytes = b""
    action: str | None = None


@dataclass
class Slot:
    head: RequestHead
    plan: Plan
    parser: h11.Connection  # the server connection that parsed it (replies are sent on it)
    request_done: bool = False
    drip_body: bytearray | None = None
    headers_sent_at: float = 0.0


@dataclass
class ExchangeStats:
    requests: int = 0
    responses: int = 0
    answered_by_proxy: int = 0
    not_http: str = ""  # why the connection went to passthrough, if it did
    extra: dict[str, int] = field(default_factory=dict)


class HttpExchange:
    def __init__(self, decide: Callable[[RequestHead], Plan], rng: random.Random):
        self._decide = decide
        self._rng = rng
        self.to_upstream: deque[Out] = deque()
        self.to_client: deque[Out] = deque()
        self.stats = ExchangeStats()
        self.closed = False  # a terminal toxic ended the connection: ignore the rest
        self._slots: deque[Slot] = deque()
        self._req_parser = h11.Connection(h11.SERVER)
        self._req_raw = bytearray()  # received from the client, not yet attributed to an event
        self._current: Slot | None = None  # the request being received
        self._up_passthrough = False
        self._client_eof = False
        self._resp_parser: h11.Connection | None = None
        self._resp_raw = bytearray()
        self._down_passthrough = False
        self._upstream_eof = False
        self._last_up = 0.0
        self._last_client = 0.0
        # When the first bytes of a request head arrived, while the rest is awaited.
        self.head_started: float | None = None

    # -- queues ------------------------------------------------------------------------------
    @staticmethod
    def _queue(queue: deque[Out], due: float, data: bytes, action: str | None) -> None:
        last = queue[-1] if queue else None
        if action is None and last is not None and last.action is None and last.due == due:
            # Same moment, same direction: one chunk, so one write instead of several.
            last.data += data
        else:
            queue.append(Out(due, data, action))

    def _up(self, data: bytes, due: float) -> None:
        if data:
            self._last_up = max(due, self._last_up)
            self._queue(self.to_upstream, self._last_up, data, None)

    def _client(self, data: bytes, due: float, action: str | None = None) -> None:
        if data or action:
            self._last_client = max(due, self._last_client)
            self._queue(self.to_client, self._last_client, data, action)

    @staticmethod
    def _take(parser: h11.Connection, raw: bytearray) -> bytes:
        """The raw bytes the last event consumed: those no longer in h11's buffer."""
        consumed = len(raw) - len(parser.trailing_data[0])
        chunk = bytes(raw[:consumed])
        del raw[:consumed]
        return chunk

    # -- client -> upstream --------------------------------------------------------------------
    def from_client(self, data: bytes, now: float) -> None:
        # Empty data is not EOF here (for h11 it would be): EOF is client_eof().
        if self.closed or self._client_eof or not data:
            return
        if self._up_passthrough:
            self._up(data, now)
            return
        self._req_raw += data
        self._req_parser.receive_data(data)
        self._parse_requests(now)

    def client_eof(self, now: float) -> None:
        if self.closed or self._client_eof:
            return
        self._client_eof = True
        if not self._up_passthrough:
            try:
                self._req_parser.receive_data(b"")
            except RuntimeError:
                pass
            answered = self._current is not None and not self._current.plan.forwards
            self._parse_requests(now)
            # A partial request the client gave up on still reaches upstream as it was sent,
            # unless the proxy was answering it (then none of it went upstream).
            if not answered:
                self._up(bytes(self._req_raw), now)
            self._req_raw.clear()
        if not self.closed:
            self.to_upstream.append(Out(max(now, self._last_up), action=FIN))

    def _parse_requests(self, now: float) -> None:
        while not self.closed and not self._up_passthrough:
            parser = self._req_parser
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                self._not_http(f"request: {exc}", now)
                return
            if event is h11.NEED_DATA and self._current is None and self._req_raw:
                if self.head_started is None:
                    self.head_started = now
                problem = not_a_request_line(self._req_raw)
                if problem:
                    self._not_http(problem, now)
                return
            if (
                event is h11.NEED_DATA
                or event is h11.PAUSED
                or isinstance(event, h11.ConnectionClosed)
            ):
                return
            raw = self._take(parser, self._req_raw)
            if isinstance(event, h11.Request):
                self.head_started = None
                head = RequestHead.from_h11(event)
                slot = Slot(head, self._decide(head), parser)
                self.stats.requests += 1
                self._slots.append(slot)
                self._current = slot
                if slot.plan.forwards:
                    self._up(raw, now + slot.plan.request_delay)
            elif isinstance(event, h11.Data | h11.EndOfMessage):
                slot = self._current
                if slot is not None and slot.plan.forwards:
                    self._up(raw, now)
                if isinstance(event, h11.EndOfMessage) and slot is not None:
                    self._request_complete(slot, now)

    def _request_complete(self, slot: Slot, now: float) -> None:
        slot.request_done = True
        self._current = None
        # Next message, next h11 connection, fed what this one had not consumed.
        trailing, closed = self._req_parser.trailing_data
        self._req_parser = h11.Connection(h11.SERVER)
        if trailing:
            self._req_parser.receive_data(trailing)
        if closed:
            self._req_parser.receive_data(b"")
        if slot.plan.forwards and slot.head.wants_upgrade:
            # Whatever follows an Upgrade or CONNECT may be another protocol: relay it as is.
            self._up_passthrough = True
            self._up(bytes(self._req_raw), now)
            self._req_raw.clear()
        self._pump(now)

    def head_timed_out(self, now: float) -> None:
        """The start of a request has waited HEAD_TIMEOUT_S for the rest of its head.

        Real HTTP clients send a head at once; a protocol that sends a few bytes and waits
        for an answer (an echo, a line protocol) must not hang on us: relay it untouched.
        """
        if self.head_started is not None and self._current is None and not self._up_passthrough:
            self._not_http(f"no complete HTTP request head within {HEAD_TIMEOUT_S:g} s", now)

    def _not_http(self, why: str, now: float) -> None:
        """Not (or no longer) HTTP/1.1: relay the rest untouched, both ways, once in order."""
        self.stats.not_http = why
        self._up_passthrough = True
        self.head_started = None
        answered = self._current is not None and not self._current.plan.forwards
        if answered:
            self._slots.remove(self._current)
        self._current = None
        if not answered:  # the bytes of a request the proxy answers never go upstream
            self._up(bytes(self._req_raw), now)
        self._req_raw.clear()
        self._pump(now)

    # -- upstream -> client ---------------------------------------------------------------
    def from_upstream(self, data: bytes, now: float) -> None:
        if self.closed or self._upstream_eof or not data:
            return
        if self._down_passthrough:
            self._client(data, now)
            return
        self._resp_raw += data
        if self._resp_parser is not None:
            self._resp_parser.receive_data(data)
        self._pump(now)

    def upstream_eof(self, now: float) -> None:
        if self.closed or self._upstream_eof:
            return
        self._upstream_eof = True
        if self._resp_parser is not None:
            self._resp_parser.receive_data(b"")
        self._pump(now)
        if not self.closed:
            # Whatever is left (a response cut short, bytes nobody asked for) goes out as is.
            self._client(bytes(self._resp_raw), now)
            self._resp_raw.clear()
            self._client(b"", now, FIN)

    def _go_down_passthrough(self, now: float) -> None:
        self._down_passthrough = True
        self._resp_parser = None
        self._client(bytes(self._resp_raw), now)
        self._resp_raw.clear()

    def _pump(self, now: float) -> None:
        """Fill slots at the head of the line, in order, as far as the bytes allow."""
        while not self.closed and not self._down_passthrough:
            if not self._slots:
                if self._up_passthrough:
                    self._go_down_passthrough(now)
                return
            slot = self._slots[0]
            if not slot.plan.forwards:
                if not slot.request_done:
                    return
                self._slots.popleft()
                self._answer(slot, now)
                continue
            if not self._parse_response(slot, now):
                return

    def _parse_response(self, slot: Slot, now: float) -> bool:
        """Advance the response to ``slot``; True when it is complete (the slot is done)."""
        if self._resp_parser is None:
            if not self._resp_raw and not self._upstream_eof:
                return False
            self._resp_parser = parser = h11.Connection(h11.CLIENT)
            headers = [("Host", "faultproxy")]
            if slot.head.header("upgrade") is not None:
                headers += [
                    ("Connection", "upgrade"),
                    ("Upgrade", slot.head.header("upgrade") or ""),
                ]
            target = slot.head.target.encode("latin-1") or b"/"
            parser.send(h11.Request(method=slot.head.method, target=target, headers=headers))
            parser.send(h11.EndOfMessage())
            if self._resp_raw:
                parser.receive_data(bytes(self._resp_raw))
            if self._upstream_eof:
                parser.receive_data(b"")
        parser = self._resp_parser
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                self.stats.not_http = f"response: {exc}"
                self._slots.popleft()
                self._go_down_passthrough(now)
                return False
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return False
            if event is h11.PAUSED:
                # Switched protocols (101, or 2xx to CONNECT): the rest is not HTTP.
                self._slots.popleft()
                self._up_passthrough = True
                self._go_down_passthrough(now)
                return False
            raw = self._take(parser, self._resp_raw)
            if isinstance(event, h11.InformationalResponse):
                self._client(raw, now)
            elif isinstance(event, h11.Response):
                due = now + slot.plan.response_delay
                self._client(raw, due)
                slot.headers_sent_at = self._last_client
                if slot.plan.drip is not None:
                    slot.drip_body = bytearray()
            elif isinstance(event, h11.Data | h11.EndOfMessage):
                if slot.drip_body is not None:
                    slot.drip_body += raw
                else:
                    self._client(raw, now)
                if isinstance(event, h11.EndOfMessage):
                    self._response_complete(slot, now)
                    return True

    def _response_complete(self, slot: Slot, now: float) -> None:
        self.stats.responses += 1
        self._slots.popleft()
        if slot.drip_body is not None:
            self._drip(bytes(slot.drip_body), slot, now)
        # _resp_raw now holds exactly the bytes h11 had not consumed: the next slot's parser
        # starts from them.
        self._resp_parser = None

    def _drip(self, body: bytes, slot: Slot, now: float) -> None:
        """Send ``body`` in ``chunks`` slices, the last one ``duration`` after the headers."""
        assert slot.plan.drip is not None
        chunks, duration = slot.plan.drip
        if not body:
            return
        count = min(chunks, len(body))
        start = slot.headers_sent_at
        for i in range(count):
            piece = body[len(body) * i // count : len(body) * (i + 1) // count]
            self._client(piece, start + duration * (i + 1) / count)

    # -- answers the proxy makes up ---------------------------------------------------------
    def _answer(self, slot: Slot, now: float) -> None:
        rule = slot.plan.terminal
        assert rule is not None
        self.stats.answered_by_proxy += 1
        due = now + slot.plan.request_delay + slot.plan.response_delay
        if rule.kind == "http_status":
            try:
                head_bytes, body, must_close = status_response(
                    slot.parser, slot.head, rule.attributes
                )
            except h11.LocalProtocolError as exc:
                # h11 will not frame this answer for this request: end the connection cleanly.
                self.stats.not_http = f"cannot answer {slot.head.method} {slot.head.path}: {exc}"
                self._end(FIN, due)
                return
            self._client(head_bytes, due)
            slot.headers_sent_at = self._last_client
            if slot.plan.drip is not None:
                self._drip(body, slot, now)
            else:
                self._client(body, due)
            if must_close:
                self._end(FIN, due)
        elif rule.kind == "http_malformed":
            self._client(malformed_response(self._rng), due)
            self._end(FIN, due)
        elif rule.kind == "http_reset":
            self._end(RESET if rule.attributes["mode"] == "reset" else FIN, due)

    # -- the layer losing its stages (the last http toxic removed) ---------------------------
    @property
    def idle(self) -> bool:
        """Between messages with nothing held: the stages may go and come back later."""
        return not (
            self._req_raw
            or self._resp_raw
            or self._slots
            or self._current
            or self.to_upstream
            or self.to_client
        )

    def abandon(self) -> None:
        """Relay the rest untouched: queue what is held (at once) and stop parsing.

        Used when the stages are removed mid-message: no byte may be lost, and a half-parsed
        exchange cannot be resumed by a later toxic.
        """
        now = 0.0
        self._up_passthrough = self._down_passthrough = True
        self._up(bytes(self._req_raw), now)
        for slot in self._slots:
            if slot.drip_body:
                self._client(bytes(slot.drip_body), now)
        self._client(bytes(self._resp_raw), now)
        self._req_raw.clear()
        self._resp_raw.clear()
        self._slots.clear()
        self._current = None
        self._resp_parser = None

    def _end(self, action: str, due: float) -> None:
        """The proxy ends the connection: the client gets EOF or an RST, upstream gets EOF."""
        self._client(b"", due, action)
        self.to_upstream.append(Out(max(due, self._last_up), action=FIN))
        self.closed = True
