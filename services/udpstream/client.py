"""The udpstream client library: ``measure()`` a stream, ``ping()`` the echo.

Scenarios, exercise checks and ``lab udp`` all use these two functions; their
signatures and result fields are a stable API::

    from services.udpstream.client import measure, ping
    result = measure("127.0.0.1", 9999, rate=1000, size=1200, count=5000)
    assert result.lost == 0 and result.duplicates == 0
    print(ping("127.0.0.1", 9999, count=20).p99_ms)

Every figure of :class:`MeasureResult` is defined in ``services.udpstream.stats``.
Errors (nothing listening, a refused request, no answer) raise :class:`UdpStreamError`
with a one-line message.
"""

from __future__ import annotations

import math
import secrets
import select
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from services.udpstream import wire
from services.udpstream.stats import StreamStats, StreamSummary, wrap_diff
from services.udpstream.transport import (
    Receiver,
    ServerUnreachable,
    UdpStreamError,
    connect,
    refused,
    send_control,
)

__all__ = [
    "MeasureResult",
    "PingResult",
    "Progress",
    "ServerUnreachable",
    "UdpStreamError",
    "measure",
    "ping",
]


@dataclass(frozen=True)
class Progress:
    """What a live display shows, passed to ``measure(progress=...)`` about every 100 ms."""

    elapsed_s: float
    expected: int  # datagrams the server will send in all
    received: int
    lost_so_far: int  # missing below the highest sequence number seen so far
    duplicates: int
    jitter_ms: float


@dataclass(frozen=True)
class MeasureResult(StreamSummary):
    """A :class:`StreamSummary` plus what was asked for and how the stream ended.

    ``end_reason``: ``count`` (all sent), ``stopped``, ``keepalive`` (the server thought
    we went silent), ``timeout`` (the server's end message never came) or ``unreachable``
    (the server went away mid-stream). For the last two ``sent`` is the count the server
    accepted, so datagrams it never sent count as lost.
    """

    target: str = ""
    stream: int = 0
    rate: int = 0
    size: int = 0
    requested: int = 0
    pattern: str = "zeros"
    end_reason: str = ""
    elapsed_s: float = 0.0
    validated: bool = False
    malformed: int = 0  # datagrams that were not well-formed udpstream datagrams
    other_streams: int = 0  # data datagrams of another stream id (an earlier run's tail)
    kernel_timestamps: bool = False  # arrival times from the kernel (see measure())
    sender_stalled_ms: float = 0.0  # the server fell this far behind its schedule (paused)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PingResult:
    """Echo round trips. ``lost`` replies never came back within ``timeout`` of the last send."""

    target: str
    sent: int
    received: int
    lost: int
    loss_pct: float
    min_ms: float | None
    avg_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rtts_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def measure(
    host: str,
    port: int,
    rate: int,
    size: int,
    count: int | None = None,
    duration: float | None = None,
    *,
    pattern: str = "zeros",
    interval: float = 0.1,
    timeout: float = 2.0,
    linger: float = 0.25,
    progress: Callable[[Progress], None] | None = None,
) -> MeasureResult:
    """Ask the server at host:port for a stream and measure what arrives.

    :param rate: datagrams per second. :param size: bytes per datagram (UDP payload,
        header included, at least 26). Give exactly one of ``count`` or ``duration`` (s).
    :param pattern: payload bytes: zeros, ones, ramp or random.
    :param interval: width of the per-interval slices in ``result.intervals``.
    :param timeout: how long to wait for a control reply, and for a stream that went
        quiet before its end message.
    :param linger: after the end message, how long to wait for datagrams still in flight
        (reordered behind it), unless all have arrived.
    :param progress: called about every 100 ms with a :class:`Progress`.

    Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS) on Linux, so a
    receiver that is slow to read (a busy machine) does not inflate jitter and delay;
    elsewhere they are taken when the datagram is read (``result.kernel_timestamps``).
    :raises UdpStreamError: nothing listening, the server refused (its message), no answer.
    """
    if (count is None) == (duration is None):
        raise UdpStreamError("give exactly one of count or duration")
    request: dict = {"op": "start", "rate": rate, "size": size, "pattern": pattern}
    request["count" if count is not None else "duration"] = count if count is not None else duration
    request_id = secrets.token_hex(8)
    request["id"] = request_id
    sock = connect(host, port)
    stats = StreamStats(rate=rate, size=size, interval=interval)
    rx = Receiver(sock, stats, host, port)
    end: dict | None = None
    accept: dict | None = None
    try:
        accept = _open(sock, rx, request, timeout)
        stream = accept["stream"]
        expected = int(accept["count"])
        rx.set_stream(stream)
        validated = bool(accept.get("validated"))
        token = accept.get("token")
        keepalive_every = float(accept.get("keepalive") or 1.0)
        started = time.monotonic()
        rx.last_data = started
        last_validate = -math.inf
        last_keepalive = started
        last_progress = started
        end_linger = None
        while True:
            now = time.monotonic()
            if not validated and token and now - last_validate > 0.2:
                send_control(sock, {"op": "validate", "token": token}, pad=0)
                last_validate = now
            if now - last_keepalive >= keepalive_every:
                send_control(sock, {"op": "keepalive", "stream": stream}, pad=0)
                last_keepalive = now
            if progress is not None and now - last_progress >= 0.1:
                last_progress = now
                progress(_progress(stats, expected, now - started))
            if end is not None:
                if stats.received >= int(end.get("sent", 0)) or now >= end_linger:
                    break
            elif now - max(rx.last_data, started + expected / rate) > timeout:
                break  # the end message was lost, or the server is gone
            try:
                batch = rx.drain(0.02)
            except ServerUnreachable:
                end = {"reason": "unreachable", "sent": expected}
                break  # the server went away mid-stream: report what did arrive
            for reply in batch:
                kind = reply.get("type")
                if kind == "validated" or (kind == "accept" and reply.get("validated")):
                    validated = True
                elif kind == "end" and reply.get("stream") == stream and end is None:
                    if not isinstance(reply.get("sent"), int) or reply["sent"] < 0:
                        reply = {**reply, "sent": expected}  # a garbled count: trust the accept
                    end = reply
                    end_linger = time.monotonic() + linger
                elif kind == "error" and "no stream" not in str(reply.get("error")):
                    if "token" in str(reply.get("error")):
                        continue  # a stale validate; the data will tell
                    raise UdpStreamError(f"server error: {reply.get('error')}")
        elapsed = time.monotonic() - started
        if progress is not None:
            progress(_progress(stats, expected, elapsed))
    finally:
        # Interrupted (Ctrl-C), failed or timed out: tell the server to stop sending.
        if accept is not None and end is None:
            send_control(sock, {"op": "stop", "stream": accept["stream"]}, pad=0)
        sock.close()
    sent = int(end["sent"]) if end is not None else expected
    summary = stats.summary(sent=sent)
    return MeasureResult(
        **{f: getattr(summary, f) for f in StreamSummary.__dataclass_fields__},
        target=f"{host}:{port}",
        stream=stream,
        rate=rate,
        size=size,
        requested=expected,
        pattern=pattern,
        end_reason=str(end.get("reason")) if end is not None else "timeout",
        elapsed_s=round(elapsed, 6),
        validated=validated,
        malformed=rx.malformed,
        other_streams=rx.other_streams,
        kernel_timestamps=rx.kernel_timestamps,
        sender_stalled_ms=_number(end.get("stalled_ms")) if end is not None else 0.0,
    )


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _progress(stats: StreamStats, expected: int, elapsed: float) -> Progress:
    return Progress(
        elapsed_s=elapsed,
        expected=expected,
        received=stats.received,
        lost_so_far=stats.lost_so_far,
        duplicates=stats.duplicates,
        jitter_ms=stats.jitter_ns / 1e6,
    )


def _open(sock: socket.socket, rx: Receiver, request: dict, timeout: float) -> dict:
    """Send the start request (retransmitted: it may be lost) until accepted or refused."""
    deadline = time.monotonic() + timeout
    tries = 0
    while time.monotonic() < deadline:
        send_control(sock, request)
        tries += 1
        resend_at = time.monotonic() + min(0.25 * tries, 1.0)
        while time.monotonic() < min(resend_at, deadline):
            for reply in rx.drain(0.05):
                if reply.get("id") != request["id"]:
                    continue
                if reply.get("type") == "accept":
                    if not all(
                        isinstance(reply.get(k), int) and reply[k] > 0 for k in ("stream", "count")
                    ):
                        raise UdpStreamError(
                            f"malformed accept reply from the server: {reply!r:.200}"
                        )
                    return reply
                if reply.get("type") == "error":
                    raise UdpStreamError(f"server refused the stream: {reply.get('error')}")
    raise UdpStreamError(
        f"no answer from {rx.host}:{rx.port}/udp within {timeout:g} s ({tries} requests sent)"
    )


def ping(
    host: str,
    port: int,
    count: int = 10,
    interval: float = 0.2,
    size: int = 64,
    timeout: float = 1.0,
) -> PingResult:
    """Send ``count`` echo datagrams of ``size`` bytes, one per ``interval`` s; RTT stats.

    A reply counts if it arrives before ``timeout`` s after the last send. Round trips
    use the monotonic clock of this process only (the echo carries our own timestamp).
    """
    if count < 1:
        raise UdpStreamError(f"count must be at least 1, got {count}")
    size = max(size, wire.PREFIX_SIZE + 16)
    sock = connect(host, port)
    rtts: dict[int, float] = {}
    try:
        start = time.monotonic()
        for seq in range(count):
            try:
                sock.send(wire.build_echo(seq, time.monotonic_ns(), size))
            except BlockingIOError:
                pass
            except ConnectionRefusedError:
                raise refused(host, port) from None
            next_send = (
                start + (seq + 1) * interval if seq + 1 < count else time.monotonic() + timeout
            )
            while (left := next_send - time.monotonic()) > 0:
                _collect(sock, rtts, left, host, port)
                if seq + 1 == count and len(rtts) == count:
                    break
    finally:
        sock.close()
    values = sorted(rtts.values())
    received = len(values)

    def pct(p: float) -> float | None:
        if not values:
            return None
        return values[max(1, math.ceil(received * p / 100)) - 1]

    return PingResult(
        target=f"{host}:{port}",
        sent=count,
        received=received,
        lost=count - received,
        loss_pct=100.0 * (count - received) / count,
        min_ms=values[0] if values else None,
        avg_ms=sum(values) / received if values else None,
        p50_ms=pct(50),
        p99_ms=pct(99),
        max_ms=values[-1] if values else None,
        rtts_ms=[rtts[k] for k in sorted(rtts)],
    )


def _collect(
    sock: socket.socket, rtts: dict[int, float], wait: float, host: str, port: int
) -> None:
    try:
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            return
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            now = time.monotonic_ns()
            try:
                seq, t_ns = wire.unpack_echo(data)
            except wire.WireError:
                continue
            if seq not in rtts:
                rtts[seq] = wrap_diff(now, t_ns) / 1e6
    except ConnectionRefusedError:
        raise refused(host, port) from None
