"""The client side's socket plumbing: connect, send control requests, read replies and data.

Shared by ``client`` (measure, ping) and ``health`` (probe). Not part of the stable API.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time

from services.udpstream import wire
from services.udpstream.control import encode
from services.udpstream.stats import StreamStats

CONTROL_PAD = 512  # so the server's replies fit in 3x what we send before validation
RECV_BUFFER = 4 * 1024 * 1024
DATA_PREFIX = wire.PREFIX.pack(wire.MAGIC, wire.VERSION, wire.KIND_DATA)
# Linux's SO_TIMESTAMPNS (Python's socket module does not name it): the kernel stamps each
# datagram when it arrives, CLOCK_REALTIME as a struct timespec of two 64-bit longs.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("qq")
ANCILLARY_SPACE = socket.CMSG_SPACE(TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
REPLY_PREFIX = wire.REPLY_PREFIX


class UdpStreamError(Exception):
    """The measurement could not be made; the message says why, in one line."""


class ServerUnreachable(UdpStreamError):
    """ICMP port unreachable: nothing listens there (any more)."""


def connect(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UdpStreamError(f"cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
    except OSError:
        pass  # capped by net.core.rmem_max; smaller still works, with more loss at high rates
    # A connected socket only hears from the server (or the relay standing in for it),
    # and reports an ICMP "port unreachable" as ConnectionRefusedError.
    sock.connect(addr)
    sock.setblocking(False)
    return sock


def refused(host: str, port: int) -> UdpStreamError:
    return ServerUnreachable(f"nothing is listening on {host}:{port}/udp (ICMP port unreachable)")


def parse_reply(data: bytes) -> dict | None:
    if not data.startswith(REPLY_PREFIX):
        return None
    try:
        value = json.loads(data[wire.PREFIX_SIZE :])
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def send_control(sock: socket.socket, message: dict, pad: int = CONTROL_PAD) -> None:
    try:
        sock.send(wire.build_control(encode(message), pad_to=pad))
    except (BlockingIOError, ConnectionRefusedError):
        # A full send buffer, or an ICMP error from an earlier datagram: the retransmit
        # logic and the receive side (which reports a vanished server) cover both.
        pass


class Receiver:
    """Reads a connected socket, feeding data datagrams of one stream to StreamStats."""

    def __init__(self, sock: socket.socket, stats: StreamStats, host: str, port: int):
        self.sock, self.stats = sock, stats
        self.host, self.port = host, port
        self.stream: int | None = None
        self.early: list[tuple[bytes, int]] = []  # data that overtook the accept reply
        self.malformed = 0
        self.other_streams = 0
        self.last_data = time.monotonic()
        self.kernel_timestamps = enable_kernel_timestamps(sock)

    def set_stream(self, stream: int) -> None:
        self.stream = stream
        early, self.early = self.early, []
        for data, recv_ns in early:
            self._data(data, recv_ns)

    def _data(self, data: bytes, recv_ns: int) -> None:
        if len(data) < wire.DATA_HEADER_SIZE:
            self.malformed += 1
            return
        _, _, _, sid, seq, sent_ns, plen = wire.DATA_HEADER.unpack_from(data)
        if plen != len(data) - wire.DATA_HEADER_SIZE:
            self.malformed += 1
        elif self.stream is None:
            self.early.append((bytes(data), recv_ns))
        elif sid != self.stream:
            self.other_streams += 1
        else:
            self.stats.add(seq, sent_ns, recv_ns)
            self.last_data = time.monotonic()

    def drain(self, wait: float) -> list[dict]:
        """Wait up to ``wait`` s for input, read all of it; return the control replies."""
        replies = []
        try:
            readable, _, _ = select.select([self.sock], [], [], max(0.0, wait))
            if not readable:
                return replies
            sock, now_ns, kernel = self.sock, time.time_ns, self.kernel_timestamps
            for _ in range(4096):
                try:
                    if kernel:
                        data, ancillary, _, _ = sock.recvmsg(65535, ANCILLARY_SPACE)
                        recv_ns = kernel_ns(ancillary) or now_ns()
                    else:
                        data = sock.recv(65535)
                        recv_ns = now_ns()
                except BlockingIOError:
                    break
                if data[:4] == DATA_PREFIX:
                    self._data(data, recv_ns)
                    continue
                reply = parse_reply(data)
                if reply is None:
                    self.malformed += 1
                else:
                    replies.append(reply)
        except ConnectionRefusedError:
            raise refused(self.host, self.port) from None
        return replies


def enable_kernel_timestamps(sock: socket.socket) -> bool:
    if not sys.platform.startswith("linux") or not ANCILLARY_SPACE:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def kernel_ns(ancillary: list) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack_from(data)
            return sec * 1_000_000_000 + nsec
    return None
