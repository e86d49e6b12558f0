"""The udpstream socket loop: one UDP socket, one thread, the Engine for all decisions."""

from __future__ import annotations

import errno
import logging
import select
import socket
import time

from services.udpstream.engine import Engine

log = logging.getLogger("udpstream")

MAX_WAIT_S = 0.2  # bounds how late a stop request (SIGTERM) is noticed
READ_BATCH = 64  # datagrams read per wake-up before streams get their turn again
SOCKET_BUFFER = 4 * 1024 * 1024
LOG_INTERVAL_S = 60.0  # at most one internal-error traceback per minute


class InternalErrorLog:
    """Logs internal errors without letting a flood of datagrams flood the log.

    The first error in each ``interval_s`` is logged with its traceback (a bug needs one);
    the others in that interval are only counted, and summed up in one line when the
    next one arrives after it. The health reply's ``internal_errors`` counts them all.
    """

    def __init__(self, interval_s: float = LOG_INTERVAL_S, clock=time.monotonic) -> None:
        self.interval_s, self.clock = interval_s, clock
        self._window_start: float | None = None
        self._suppressed = 0

    def note(self, exc: BaseException, addr, data: bytes) -> None:
        now = self.clock()
        if self._window_start is not None and now - self._window_start < self.interval_s:
            self._suppressed += 1
            return
        if self._suppressed:
            log.error(
                "%d more internal errors in the last %g s were not logged one by one",
                self._suppressed,
                self.interval_s,
            )
        self._window_start, self._suppressed = now, 0
        log.error(
            "internal error on a datagram from %s: %r (%s: %s); further ones are counted "
            "in the health reply's internal_errors and logged at most once per %g s",
            addr,
            bytes(data[:64]),
            type(exc).__name__,
            str(exc)[:200],
            self.interval_s,
            exc_info=exc,
        )


class UdpStreamServer:
    def __init__(self, sock: socket.socket, engine: Engine):
        self.sock = sock
        self.engine = engine
        self.internal_errors_log = InternalErrorLog()
        self._stopping = False
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            except OSError:
                pass  # the kernel caps it at net.core.[rw]mem_max; a smaller buffer still works
        # Blocking sends: a full send buffer briefly delays the sender instead of dropping.
        sock.setblocking(True)

    def stop(self) -> None:
        self._stopping = True

    def _send(self, data, addr) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:
            # One unreachable client (ICMP errors, a vanished interface) must not stop the others.
            self.engine.counters["send_errors"] += 1
            log.debug("send to %s failed: %s", addr, exc)

    def _read_batch(self) -> None:
        engine, sock = self.engine, self.sock
        for _ in range(READ_BATCH):
            try:
                data, addr = sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                    continue  # an ICMP error queued for an earlier send: not our problem now
                engine.counters["recv_errors"] += 1
                log.warning("receive failed: %s", exc)
                return
            try:
                out = engine.receive(data, addr, time.monotonic_ns())
            except Exception as exc:
                # The engine answers all bad input itself (and is fuzzed for it); should a
                # bug slip through, one datagram must still not stop the other clients.
                engine.counters["internal_errors"] += 1
                self.internal_errors_log.note(exc, addr, data)
                continue
            for reply, to in out:
                self._send(reply, to)

    def serve_forever(self) -> None:
        engine, sock = self.engine, self.sock
        sendto = sock.sendto
        while not self._stopping:
            wait, spin = engine.next_wait(time.monotonic_ns())
            if spin:
                # The last few microseconds before a due time (see pacing.py for the bound).
                until = time.monotonic_ns() + int(wait * 1e9)
                while time.monotonic_ns() < until:
                    pass
                wait = 0.0
            # Input first: after a stall (SIGSTOP) the keepalives queued meanwhile must be
            # seen before the streams' clients are judged silent.
            readable, _, _ = select.select([sock], [], [], min(wait, MAX_WAIT_S))
            if readable:
                self._read_batch()
            for data, addr in engine.send_due(time.monotonic_ns()):
                try:
                    sendto(data, addr)
                except OSError as exc:
                    engine.counters["send_errors"] += 1
                    log.debug("send to %s failed: %s", addr, exc)
