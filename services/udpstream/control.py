"""Control requests: JSON in a ``C`` datagram, validated against the caps (sans-I/O).

Requests (``op`` defaults to ``start``)::

    {"op": "start", "rate": 1000, "size": 1200, "count": 5000, "pattern": "zeros",
     "id": "client-chosen request id (makes retransmits idempotent)",
     "token": "address-validation token from an earlier reply (optional)"}
    {"op": "start", "rate": 1000, "size": 64, "duration": 2.5}
    {"op": "validate", "token": "..."}          prove the address (QUIC-style)
    {"op": "keepalive", "stream": 17}           any datagram refreshes the client; this one is tiny
    {"op": "stop", "stream": 17}                STOP: end a stream now
    {"op": "health"}                            counters and uptime, for ``lab status``

Replies are JSON in an ``R`` datagram with a ``type``: ``accept``, ``end``,
``validated``, ``health`` or ``error`` (with ``error`` naming the cause).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass

from services.udpstream.wire import DATA_HEADER_SIZE, MAX_UDP_PAYLOAD, PATTERNS

OPS = ("start", "stop", "keepalive", "validate", "health")
START_FIELDS = {"op", "rate", "size", "count", "duration", "pattern", "id", "token"}
OTHER_FIELDS = {
    "stop": {"op", "stream", "token"},
    "keepalive": {"op", "stream", "token"},
    "validate": {"op", "token"},
    "health": {"op", "token"},
}
MAX_ID_LEN = 64
MAX_TOKEN_LEN = 128


class ControlError(ValueError):
    """A request the server refuses; the message is sent back in an error reply."""


@dataclass(frozen=True)
class Caps:
    """Per-client and global limits. Defaults are safe for a lab on a laptop.

    A client is one source address (ip, port): behind the fault proxy every client has its
    own upstream socket, so per-address caps stay per-client there too. The global caps
    bound what all clients together can make the server send.
    """

    max_rate: int = 100_000  # datagrams/s per stream
    max_size: int = 1472  # bytes per datagram (UDP payload): one 1500-byte Ethernet frame
    max_bandwidth: int = 125_000_000  # bytes/s per client, all its streams (1 Gbit/s)
    max_streams_per_client: int = 4
    max_streams: int = 32  # all clients together
    max_duration: float = 60.0  # seconds per stream
    max_client_seconds: float = 600.0  # stream-seconds per client per window
    client_window: float = 600.0  # seconds
    keepalive_timeout: float = 3.0  # a stream stops when its client is silent this long
    amplification_factor: float = 3.0  # unvalidated: bytes sent <= factor x bytes received
    token_lifetime: float = 600.0  # seconds an address-validation token stays valid

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StartRequest:
    rate: int
    size: int
    count: int
    pattern: str
    request_id: str | None
    token: str | None

    @property
    def duration(self) -> float:
        return self.count / self.rate

    @property
    def bandwidth(self) -> int:
        return self.rate * self.size


def parse_json(body: bytes) -> dict:
    """Decode a control body. Raises ControlError naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ControlError(
            f"control body is not UTF-8 (byte {exc.start}: {body[exc.start : exc.start + 4]!r})"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ControlError(
            f"control body is not JSON: {exc.msg} at char {exc.pos} ({text[exc.pos : exc.pos + 16]!r})"
        ) from None
    except ValueError:  # an integer literal past Python's 4,300-digit conversion limit
        raise ControlError(
            f"control body has a number longer than {sys.get_int_max_str_digits()} digits"
        ) from None
    except RecursionError:  # nesting deeper than the JSON decoder's recursion allows
        raise ControlError("control body is nested too deeply") from None
    if not isinstance(value, dict):
        raise ControlError(f"control body must be a JSON object, got {type(value).__name__}")
    return value


def op_of(req: dict) -> str:
    op = req.get("op", "start")
    if op not in OPS:
        raise ControlError(f"unknown op {op!r}: use one of {', '.join(OPS)}")
    return op


def _check_fields(req: dict, allowed: set[str], op: str) -> None:
    unknown = sorted(set(req) - allowed)
    if unknown:
        raise ControlError(
            f"unknown field {unknown[0]!r} in {op} request: allowed are {', '.join(sorted(allowed))}"
        )


def _int(req: dict, name: str) -> int:
    value = req[name]
    # bool is an int subclass in Python; `"rate": true` is a mistake, not 1/s.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ControlError(f"{name} must be a number, got {value!r}")
    if value != int(value):
        raise ControlError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _optional_str(req: dict, name: str, limit: int) -> str | None:
    value = req.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ControlError(f"{name} must be a string of at most {limit} characters")
    return value


def parse_start(req: dict, caps: Caps) -> StartRequest:
    """Validate a start request against the per-stream caps. Raises ControlError."""
    _check_fields(req, START_FIELDS, "start")
    for name in ("rate", "size"):
        if name not in req:
            raise ControlError(f"start request needs {name!r}")
    rate = _int(req, "rate")
    if not 1 <= rate <= caps.max_rate:
        raise ControlError(f"rate {rate} out of bounds: 1..{caps.max_rate} datagrams/s")
    size = _int(req, "size")
    upper = min(caps.max_size, MAX_UDP_PAYLOAD)
    if not DATA_HEADER_SIZE <= size <= upper:
        raise ControlError(
            f"size {size} out of bounds: {DATA_HEADER_SIZE}..{upper} bytes (header is {DATA_HEADER_SIZE})"
        )
    has_count, has_duration = "count" in req, "duration" in req
    if has_count == has_duration:
        raise ControlError("start request needs exactly one of 'count' or 'duration'")
    if has_count:
        count = _int(req, "count")
        if count < 1:
            raise ControlError(f"count {count} out of bounds: at least 1")
    else:
        duration = req["duration"]
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not math.isfinite(duration)
        ):
            raise ControlError(f"duration must be a number of seconds, got {duration!r}")
        if duration <= 0:
            raise ControlError(f"duration {duration} out of bounds: more than 0 s")
        if duration > caps.max_duration:
            raise ControlError(
                f"duration {duration} s out of bounds: at most {caps.max_duration:g} s"
            )
        count = max(1, round(rate * duration))
    if count / rate > caps.max_duration + 1e-9:
        raise ControlError(
            f"count {count} at {rate}/s lasts {count / rate:.1f} s: more than the {caps.max_duration:g} s cap"
        )
    if rate * size > caps.max_bandwidth:
        raise ControlError(
            f"rate x size = {rate * size} bytes/s exceeds the {caps.max_bandwidth} bytes/s cap"
        )
    pattern = req.get("pattern", "zeros")
    if pattern not in PATTERNS:
        raise ControlError(f"unknown pattern {pattern!r}: use one of {', '.join(PATTERNS)}")
    return StartRequest(
        rate=rate,
        size=size,
        count=count,
        pattern=pattern,
        request_id=_optional_str(req, "id", MAX_ID_LEN),
        token=_optional_str(req, "token", MAX_TOKEN_LEN),
    )


def parse_other(req: dict, op: str) -> tuple[int | None, str | None]:
    """(stream id, token) of a stop/keepalive/validate/health request. Raises ControlError."""
    _check_fields(req, OTHER_FIELDS[op], op)
    stream = req.get("stream")
    if stream is not None:
        if isinstance(stream, bool) or not isinstance(stream, int) or not 0 < stream < 1 << 32:
            raise ControlError(f"stream must be a stream id from an accept reply, got {stream!r}")
    if op == "stop" and stream is None:
        raise ControlError("stop request needs 'stream'")
    token = _optional_str(req, "token", MAX_TOKEN_LEN)
    if op == "validate" and token is None:
        raise ControlError("validate request needs 'token'")
    return stream, token


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()
