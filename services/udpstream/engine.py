"""The udpstream server's state machine, with no sockets (sans-I/O).

The socket loop (server.py) hands every datagram to :meth:`Engine.receive` and sends
what it returns; between reads it asks :meth:`Engine.next_wait` how long it may sleep and
sends what :meth:`Engine.send_due` yields. Everything here can be driven, tested and
fuzzed with a fake clock and no network.

Anti-amplification (as QUIC, RFC 9000 section 8): a source address is *unvalidated*
until it echoes a token the server gave it, in an accept reply, to that address. Until
then the server sends it at most ``amplification_factor`` (3) times the bytes it
received from it: replies, echoes and stream data all count. A stream to an unvalidated
address simply waits when the budget runs out, and resumes (re-paced from that moment,
without a catch-up burst) when the address is validated. So a spoofed request makes the
server send a victim at most three times what the attacker spent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from services.udpstream import control, wire
from services.udpstream.control import Caps, ControlError
from services.udpstream.pacing import QUANTUM_NS, Pacer

Address = tuple  # (host, port) as the socket layer gives it

END_COPIES = 3  # end-of-stream replies are sent three times: through a lossy path one gets by
HOUSEKEEPING_NS = 100_000_000
MAX_CLIENTS = 4096
REMEMBERED_REQUESTS = 8
PAD_HINT = "reply does not fit the anti-amplification budget: pad control requests to 512 bytes"

log = logging.getLogger("udpstream")


@dataclass
class Client:
    """What the server knows about one source address."""

    addr: Address
    last_heard_ns: int
    bytes_in: int = 0
    bytes_out: int = 0
    validated: bool = False
    streams: set[int] = field(default_factory=set)
    history: deque = field(default_factory=deque)  # (start_ns, seconds) of its streams
    answered: OrderedDict = field(default_factory=OrderedDict)  # request id -> accept reply


@dataclass
class Stream:
    id: int
    client: Client
    request: control.StartRequest
    pacer: Pacer
    buf: bytearray  # the whole datagram; only its header changes per send
    blocked: bool = False  # waiting for amplification budget


class Engine:
    """All streams and clients of one udpstream server."""

    def __init__(
        self,
        caps: Caps | None = None,
        secret: bytes | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        started_ns: int = 0,
        pacing_quantum_ns: int = QUANTUM_NS,
    ):
        self.caps = caps or Caps()
        self.secret = secret or secrets.token_bytes(32)
        self.wall_ns = wall_ns
        self.started_ns = started_ns
        self.pacing_quantum_ns = pacing_quantum_ns
        self.clients: OrderedDict[Address, Client] = OrderedDict()
        self.streams: dict[int, Stream] = {}
        self.counters: Counter[str] = Counter()
        self._next_housekeeping = 0

    # -- tokens ---------------------------------------------------------------------------
    def _mac(self, addr: Address, issued: int) -> str:
        msg = f"{addr[0]}|{addr[1]}|{issued}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:32]

    def issue_token(self, addr: Address, now_ns: int) -> str:
        issued = now_ns // 1_000_000_000
        return f"{issued:x}.{self._mac(addr, issued)}"

    def token_valid(self, token: str, addr: Address, now_ns: int) -> bool:
        issued_hex, _, mac = token.partition(".")
        try:
            issued = int(issued_hex, 16)
        except ValueError:
            return False
        age = now_ns // 1_000_000_000 - issued
        if not 0 <= age <= self.caps.token_lifetime:
            return False
        return hmac.compare_digest(mac, self._mac(addr, issued))

    # -- budget -----------------------------------------------------------------------------
    def _fits(self, client: Client, n: int) -> bool:
        if client.validated:
            return True
        return client.bytes_out + n <= self.caps.amplification_factor * client.bytes_in

    def _out(self, client: Client, data: bytes) -> list[tuple[bytes, Address]]:
        """Queue one datagram to a client if its budget allows, and account for it."""
        if not self._fits(client, len(data)):
            self.counters["amplification_blocked"] += 1
            return []
        client.bytes_out += len(data)
        self.counters["datagrams_out"] += 1
        self.counters["bytes_out"] += len(data)
        return [(data, client.addr)]

    def _reply(self, client: Client, message: dict) -> list[tuple[bytes, Address]]:
        data = wire.build_reply(control.encode(message))
        if not self._fits(client, len(data)) and message.get("type") != "end":
            self.counters["amplification_blocked"] += 1
            short = wire.build_reply(control.encode({"type": "error", "error": PAD_HINT}))
            return self._out(client, short)
        return self._out(client, data)

    def _error(self, client: Client, msg: str, request_id=None) -> list[tuple[bytes, Address]]:
        self.counters["errors_sent"] += 1
        log.debug("error to %s: %s", client.addr, msg)
        reply = {"type": "error", "error": msg}
        if isinstance(request_id, str):
            reply["id"] = request_id[: control.MAX_ID_LEN]
        return self._reply(client, reply)

    # -- clients ----------------------------------------------------------------------------
    def _client(self, addr: Address, now_ns: int) -> Client:
        client = self.clients.get(addr)
        if client is None:
            if len(self.clients) >= MAX_CLIENTS:
                self._forget_idle_client()
            client = self.clients[addr] = Client(addr, now_ns)
        else:
            self.clients.move_to_end(addr)
        client.last_heard_ns = now_ns
        return client

    def _forget_idle_client(self) -> None:
        for addr, client in self.clients.items():  # oldest first
            if not client.streams:
                del self.clients[addr]
                return
        # Every remembered client has a stream: the global stream cap makes this unreachable.

    # -- input ------------------------------------------------------------------------------
    def receive(self, data: bytes, addr: Address, now_ns: int) -> list[tuple[bytes, Address]]:
        """Handle one datagram; return the datagrams to send back. Never raises on bad input."""
        self.counters["datagrams_in"] += 1
        self.counters["bytes_in"] += len(data)
        try:
            kind = wire.parse_prefix(data)
        except wire.WireError as exc:
            self.counters[exc.reason] += 1
            log.debug("ignored from %s: %s", addr, exc)
            if exc.reason == "bad_version":
                client = self._client(addr, now_ns)
                client.bytes_in += len(data)
                return self._error(client, str(exc))
            return []
        client = self._client(addr, now_ns)
        client.bytes_in += len(data)
        if kind == wire.KIND_ECHO:
            self.counters["echo"] += 1
            return self._out(client, data)
        if kind != wire.KIND_CONTROL:
            self.counters["unexpected_kind"] += 1
            return []
        self.counters["control"] += 1
        body = data[wire.PREFIX_SIZE :]
        log.debug("control from %s: %r", addr, bytes(body[:200]).rstrip())
        request_id = None
        try:
            req = control.parse_json(body)
            request_id = req.get("id")
            op = control.op_of(req)
            if op == "start":
                return self._start(client, control.parse_start(req, self.caps), now_ns)
            stream_id, token = control.parse_other(req, op)
            if token is not None:
                self._validate(client, token, now_ns)
            if op == "stop":
                return self._stop(client, stream_id)
            if op == "validate":
                if not client.validated:
                    raise ControlError(
                        "token not valid for this address (expired, or issued to another address)"
                    )
                return self._reply(client, {"type": "validated"})
            if op == "health":
                return self._reply(client, self.health(now_ns))
            return []  # keepalive: hearing from the client was the point
        except ControlError as exc:
            self.counters["bad_request"] += 1
            return self._error(client, str(exc), request_id)

    def _validate(self, client: Client, token: str, now_ns: int) -> None:
        if client.validated:
            return
        if self.token_valid(token, client.addr, now_ns):
            client.validated = True
            self.counters["validated"] += 1
            log.debug("address %s validated", client.addr)
        else:
            self.counters["bad_token"] += 1

    def _start(self, client: Client, req: control.StartRequest, now_ns: int) -> list:
        if req.request_id is not None and req.request_id in client.answered:
            # A retransmitted request (the accept was lost): same answer, no second stream.
            self.counters["start_retransmits"] += 1
            return self._out(client, client.answered[req.request_id])
        if req.token is not None:
            self._validate(client, req.token, now_ns)
        caps = self.caps
        if len(client.streams) >= caps.max_streams_per_client:
            raise ControlError(
                f"too many streams: this client already has {len(client.streams)} (cap {caps.max_streams_per_client})"
            )
        if len(self.streams) >= caps.max_streams:
            raise ControlError(
                f"too many streams: the server is running {len(self.streams)} (cap {caps.max_streams})"
            )
        bandwidth = sum(self.streams[s].request.bandwidth for s in client.streams) + req.bandwidth
        if bandwidth > caps.max_bandwidth:
            raise ControlError(
                f"this client's streams would need {bandwidth} bytes/s: over the {caps.max_bandwidth} bytes/s cap"
            )
        window_start = now_ns - int(caps.client_window * 1e9)
        while client.history and client.history[0][0] < window_start:
            client.history.popleft()
        used = sum(seconds for _, seconds in client.history)
        if used + req.duration > caps.max_client_seconds:
            raise ControlError(
                f"total duration cap: this client used {used:.0f} of {caps.max_client_seconds:g} stream-seconds "
                f"in the last {caps.client_window:g} s"
            )
        stream_id = secrets.randbits(32) or 1
        while stream_id in self.streams:
            stream_id = secrets.randbits(32) or 1
        buf = bytearray(wire.DATA_HEADER_SIZE) + wire.make_payload(req.pattern, req.size, stream_id)
        stream = Stream(
            stream_id,
            client,
            req,
            Pacer(req.rate, now_ns, req.count, quantum_ns=self.pacing_quantum_ns),
            buf,
        )
        self.streams[stream_id] = stream
        client.streams.add(stream_id)
        client.history.append((now_ns, req.duration))
        self.counters["streams_started"] += 1
        accept = {
            "type": "accept",
            "stream": stream_id,
            "rate": req.rate,
            "size": req.size,
            "count": req.count,
            "pattern": req.pattern,
            "keepalive": round(caps.keepalive_timeout / 3, 3),
            "validated": client.validated,
            "token": self.issue_token(client.addr, now_ns),
        }
        if req.request_id is not None:
            accept["id"] = req.request_id
        data = wire.build_reply(control.encode(accept))
        if req.request_id is not None:
            client.answered[req.request_id] = data
            while len(client.answered) > REMEMBERED_REQUESTS:
                client.answered.popitem(last=False)
        log.info(
            "stream %d to %s: %d x %d bytes at %d/s%s",
            stream_id,
            client.addr,
            req.count,
            req.size,
            req.rate,
            "" if client.validated else " (address not yet validated)",
        )
        return self._out(client, data)

    def _stop(self, client: Client, stream_id: int | None) -> list:
        stream = self.streams.get(stream_id) if stream_id is not None else None
        if stream is None or stream.client is not client:
            raise ControlError(
                f"no stream {stream_id} for this address (finished already, or never started)"
            )
        return self._end(stream, "stopped")

    def _end(self, stream: Stream, reason: str) -> list:
        del self.streams[stream.id]
        stream.client.streams.discard(stream.id)
        self.counters[f"ended_{reason}"] += 1
        log.info(
            "stream %d to %s ended (%s) after %d datagrams",
            stream.id,
            stream.client.addr,
            reason,
            stream.pacer.sent,
        )
        message = {
            "type": "end",
            "stream": stream.id,
            "reason": reason,
            "sent": stream.pacer.sent,
            "stalled_ms": round(stream.pacer.slipped_ns / 1e6, 3),
        }
        out = []
        for _ in range(END_COPIES):
            out += self._reply(stream.client, message)
        return out

    # -- output -------------------------------------------------------------------------------
    def send_due(self, now_ns: int) -> Iterator[tuple[bytes | bytearray, Address]]:
        """Yield the datagrams due now. A yielded bytearray is reused: send it before
        advancing the iterator."""
        if now_ns >= self._next_housekeeping:
            self._next_housekeeping = now_ns + HOUSEKEEPING_NS
            yield from self._expire(now_ns)
        for stream in list(self.streams.values()):
            pacer = stream.pacer
            client = stream.client
            size = len(stream.buf)
            if stream.blocked:
                if not self._fits(client, size):
                    continue
                stream.blocked = False
                pacer.rebase(now_ns)
            n = pacer.due(now_ns)
            if n and not client.validated:
                room = int(
                    (self.caps.amplification_factor * client.bytes_in - client.bytes_out) // size
                )
                if room < n:
                    n = max(0, room)
                    stream.blocked = True
                    self.counters["amplification_blocked"] += 1
            if n:
                buf, addr, sid, wall = stream.buf, client.addr, stream.id, self.wall_ns
                seq = pacer.sent
                for i in range(n):
                    wire.pack_data_into(buf, sid, seq + i, wall())
                    yield buf, addr
                pacer.mark_sent(n)
                client.bytes_out += n * size
                self.counters["datagrams_out"] += n
                self.counters["data_out"] += n
                self.counters["bytes_out"] += n * size
            if pacer.done:
                yield from self._end(stream, "count")

    def _expire(self, now_ns: int) -> list:
        out = []
        limit = int(self.caps.keepalive_timeout * 1e9)
        for stream in list(self.streams.values()):
            if now_ns - stream.client.last_heard_ns > limit:
                out += self._end(stream, "keepalive")
        return out

    def next_wait(self, now_ns: int) -> tuple[float, bool]:
        """(seconds the loop may wait for input, whether to spin for it rather than sleep)."""
        best, spin = HOUSEKEEPING_NS, False
        for stream in self.streams.values():
            if stream.blocked:
                continue
            gap, should_spin = stream.pacer.wait_ns(now_ns)
            if gap < best:
                best, spin = gap, should_spin
        return max(0, best) / 1e9, spin

    # -- health -------------------------------------------------------------------------------
    def health(self, now_ns: int) -> dict:
        keep = (
            "datagrams_in",
            "datagrams_out",
            "bad_magic",
            "bad_version",
            "truncated",
            "bad_kind",
            "bad_request",
            "amplification_blocked",
            "streams_started",
            "echo",
            "internal_errors",
        )
        return {
            "type": "health",
            "service": "udpstream",
            "version": wire.VERSION,
            "uptime_s": round((now_ns - self.started_ns) / 1e9, 3),
            "streams": len(self.streams),
            "clients": len(self.clients),
            "counters": {k: self.counters.get(k, 0) for k in keep},
        }
