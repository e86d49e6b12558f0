"""The udpstream wire format (sans-I/O: bytes in, values out, no sockets).

Every datagram starts with the same 4-byte prefix, all integers big-endian::

    offset size field
    0      2    magic    b"WU"
    2      1    version  1
    3      1    kind     b"C" control request  (client -> server, JSON body)
                         b"R" control reply    (server -> client, JSON body)
                         b"D" data             (server -> client, header below)
                         b"E" echo             (client -> server -> client, returned unchanged)

A data datagram continues with::

    4      4    stream id        u32, chosen by the server, never 0
    8      8    sequence number  u64, starts at 0, +1 per datagram of the stream
    16     8    sender timestamp u64, nanoseconds (wall clock, CLOCK_REALTIME) modulo 2**64
    24     2    payload length   u16, bytes that follow the header
    26     n    payload          the stream's pattern

Counters are 64-bit so they never wrap in practice (iperf3's 32-bit ones do, at high
rates); the timestamp may wrap and readers take differences modulo 2**64 (see stats.py).

An echo datagram is the 4-byte prefix ``b"WU\\x01E"`` followed by anything (the client
uses ``seq u64, t_ns u64`` and padding); the server sends it back byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"WU"
VERSION = 1

KIND_CONTROL = ord("C")
KIND_REPLY = ord("R")
KIND_DATA = ord("D")
KIND_ECHO = ord("E")
KINDS = {KIND_CONTROL: "control", KIND_REPLY: "reply", KIND_DATA: "data", KIND_ECHO: "echo"}

PREFIX = struct.Struct("!2sBB")
DATA_HEADER = struct.Struct("!2sBBIQQH")
PREFIX_SIZE = PREFIX.size  # 4
DATA_HEADER_SIZE = DATA_HEADER.size  # 26
MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP) - 8 (UDP)
U64 = 1 << 64

ECHO_PREFIX = PREFIX.pack(MAGIC, VERSION, KIND_ECHO)
CONTROL_PREFIX = PREFIX.pack(MAGIC, VERSION, KIND_CONTROL)
REPLY_PREFIX = PREFIX.pack(MAGIC, VERSION, KIND_REPLY)


class WireError(ValueError):
    """A datagram that does not follow the format. ``reason`` is a short machine tag."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _show(data: bytes, limit: int = 16) -> str:
    """The first bytes of a datagram, for error messages."""
    head = bytes(data[:limit])
    more = f" (+{len(data) - limit} more)" if len(data) > limit else ""
    return f"{head!r}{more}"


@dataclass(frozen=True)
class DataHeader:
    stream: int
    seq: int
    sent_ns: int
    payload_len: int


def parse_prefix(data: bytes) -> int:
    """Check magic and version; return the kind byte. Raises WireError naming the bad bytes."""
    if len(data) < PREFIX_SIZE:
        raise WireError(
            "truncated",
            f"datagram of {len(data)} bytes is shorter than the 4-byte prefix: {_show(data)}",
        )
    magic, version, kind = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise WireError("bad_magic", f"bad magic {magic!r} (expected {MAGIC!r}) in {_show(data)}")
    if version != VERSION:
        raise WireError(
            "bad_version",
            f"unsupported version {version} (this side speaks {VERSION}) in {_show(data)}",
        )
    if kind not in KINDS:
        raise WireError("bad_kind", f"unknown kind byte {bytes([kind])!r} in {_show(data)}")
    return kind


def pack_data_header(stream: int, seq: int, sent_ns: int, payload_len: int) -> bytes:
    return DATA_HEADER.pack(MAGIC, VERSION, KIND_DATA, stream, seq, sent_ns % U64, payload_len)


def pack_data_into(buf: bytearray, stream: int, seq: int, sent_ns: int) -> None:
    """Write a data header at the front of a preallocated datagram (the sender's hot path)."""
    DATA_HEADER.pack_into(
        buf, 0, MAGIC, VERSION, KIND_DATA, stream, seq, sent_ns % U64, len(buf) - DATA_HEADER_SIZE
    )


def build_data(stream: int, seq: int, sent_ns: int, payload: bytes = b"") -> bytes:
    return pack_data_header(stream, seq, sent_ns, len(payload)) + payload


def unpack_data(data: bytes) -> DataHeader:
    """Parse a data datagram's header and check its length. Raises WireError."""
    kind = parse_prefix(data)
    if kind != KIND_DATA:
        raise WireError("bad_kind", f"expected a data datagram, got kind {bytes([kind])!r}")
    if len(data) < DATA_HEADER_SIZE:
        raise WireError(
            "truncated",
            f"data datagram of {len(data)} bytes is shorter than its {DATA_HEADER_SIZE}-byte header: {_show(data, 32)}",
        )
    _, _, _, stream, seq, sent_ns, payload_len = DATA_HEADER.unpack_from(data)
    if len(data) != DATA_HEADER_SIZE + payload_len:
        raise WireError(
            "bad_length",
            f"data header says {payload_len} payload bytes, datagram carries {len(data) - DATA_HEADER_SIZE}: {_show(data, 32)}",
        )
    return DataHeader(stream, seq, sent_ns, payload_len)


def build_control(body: bytes, pad_to: int = 0) -> bytes:
    """A control request. Padding is JSON whitespace, so it never changes the meaning;
    clients pad so the server's reply fits under the 3x anti-amplification budget."""
    datagram = CONTROL_PREFIX + body
    if len(datagram) < pad_to:
        datagram += b" " * (pad_to - len(datagram))
    return datagram


def build_reply(body: bytes) -> bytes:
    return REPLY_PREFIX + body


def build_echo(seq: int, t_ns: int, size: int = 0) -> bytes:
    body = ECHO_PREFIX + struct.pack("!QQ", seq, t_ns % U64)
    if len(body) < size:
        body += b"\0" * (size - len(body))
    return body


def unpack_echo(data: bytes) -> tuple[int, int]:
    """(seq, t_ns) of an echo datagram built by build_echo. Raises WireError."""
    kind = parse_prefix(data)
    if kind != KIND_ECHO or len(data) < PREFIX_SIZE + 16:
        raise WireError("bad_echo", f"not an echo datagram from build_echo: {_show(data)}")
    seq, t_ns = struct.unpack_from("!QQ", data, PREFIX_SIZE)
    return seq, t_ns


def make_payload(pattern: str, size: int, stream: int = 0) -> bytes:
    """The payload bytes of each data datagram of a stream (``size`` minus the header)."""
    n = max(0, size - DATA_HEADER_SIZE)
    if pattern == "zeros":
        return bytes(n)
    if pattern == "ones":
        return b"\xff" * n
    if pattern == "ramp":
        return bytes(i & 0xFF for i in range(n))
    if pattern == "random":
        import random

        # Seeded by the stream id: incompressible, yet reproducible by a checker.
        return random.Random(stream).randbytes(n)
    raise ValueError(f"unknown pattern {pattern!r}")


PATTERNS = ("zeros", "ones", "ramp", "random")
