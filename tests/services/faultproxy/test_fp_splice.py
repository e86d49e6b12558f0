"""The zero-copy pump on its own: socket pairs, a slow receiver, EOF, stop mid-stream."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time

import pytest

from services.faultproxy.tcp.splice_pump import SPLICE_AVAILABLE, SplicePump

pytestmark = pytest.mark.skipif(not SPLICE_AVAILABLE, reason="os.splice is Linux-only")


def loops() -> list[str]:
    try:
        import uvloop  # noqa: F401

        return ["asyncio", "uvloop"]
    except ImportError:
        return ["asyncio"]


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def pairs() -> tuple[socket.socket, socket.socket, socket.socket, socket.socket]:
    src_w, src_r = socket.socketpair()
    dst_w, dst_r = socket.socketpair()
    for s in (src_r, dst_w):
        s.setblocking(False)
    # Small buffers so the receiver blocks often and the pipe must hold the excess.
    dst_w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    return src_w, src_r, dst_w, dst_r


@pytest.mark.parametrize("kind", loops())
def test_pump_moves_everything_then_reports_eof(kind: str) -> None:
    payload = os.urandom(3_000_000)
    src_w, src_r, dst_w, dst_r = pairs()
    received = bytearray()

    def slow_reader() -> None:
        while True:
            part = dst_r.recv(50_000)
            if not part:
                return
            received.extend(part)
            time.sleep(0.0005)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    writer = threading.Thread(
        target=lambda: (src_w.sendall(payload), src_w.shutdown(socket.SHUT_WR))
    )
    writer.start()
    loop = new_loop(kind)
    counted: list[int] = []

    async def run() -> None:
        done = asyncio.get_running_loop().create_future()
        pump = SplicePump(
            asyncio.get_running_loop(),
            src_r.fileno(),
            dst_w.fileno(),
            counted.append,
            lambda: done.set_result("eof"),
            lambda exc, where: done.set_exception(exc),
        )
        pump.start()
        assert await asyncio.wait_for(done, 30) == "eof"
        pump.close()
        dst_w.shutdown(socket.SHUT_WR)

    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    writer.join(10)
    reader.join(10)
    assert sum(counted) == len(payload)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    for s in (src_w, src_r, dst_w, dst_r):
        s.close()


@pytest.mark.parametrize("kind", loops())
def test_stop_hands_back_what_is_in_the_pipe(kind: str) -> None:
    src_w, src_r, dst_w, dst_r = pairs()
    src_w.sendall(b"a" * 200_000)  # more than the receiver's buffers take: the pipe holds the rest
    loop = new_loop(kind)
    counted: list[int] = []

    async def run() -> tuple[bytes, bool]:
        pump = SplicePump(
            asyncio.get_running_loop(),
            src_r.fileno(),
            dst_w.fileno(),
            counted.append,
            lambda: None,
            lambda e, w: None,
        )
        pump.start()
        await asyncio.sleep(0.2)
        leftover, eof = pump.stop()
        pump.close()
        return leftover, eof

    try:
        leftover, eof = loop.run_until_complete(run())
    finally:
        loop.close()
    dst_w.close()
    delivered = bytearray()
    while part := dst_r.recv(65536):
        delivered += part
    src_r.setblocking(True)
    src_w.close()
    unread = bytearray()
    while part := src_r.recv(65536):
        unread += part
    assert eof is False
    assert len(delivered) == sum(counted)
    # Nothing lost, nothing doubled: delivered + handed back + never read == sent.
    assert len(delivered) + len(leftover) + len(unread) == 200_000
    assert set(leftover) <= {ord("a")}
    for s in (src_r, dst_r):
        s.close()
