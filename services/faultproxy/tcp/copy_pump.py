"""Copying one direction through a synchronous filter, with loop callbacks (no task).

The HTTP screen (`http.screen`) must see the bytes, so splice cannot carry them; but a task
per direction, channels and a writer task (the chain) cost several task switches per
message, which is most of a small request's time. This pump is the splice pump's shape with
``recv``/``send``: a readable callback reads, the filter says what may go on and what it
holds back, and the bytes are sent at once; only what the receiver cannot take yet waits
for a writable callback. Reading stops while too much waits, and for good once the filter
holds bytes back (the direction is being handed to the chain, which takes them).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

READ_SIZE = 65536
HIGH_WATER = 1 << 20  # stop reading while this much waits for the receiver

Filter = Callable[[bytes], tuple[bytes, bytes | None]]


class CopyPump:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        src: socket.socket,
        dst: socket.socket,
        filter: Filter,
        on_bytes: Callable[[int], None],
        on_received: Callable[[int], None],
        on_eof: Callable[[], None],
        on_error: Callable[[OSError, str], None],
    ) -> None:
        self._loop = loop
        self._src, self._dst = src, dst
        self._src_fd, self._dst_fd = src.fileno(), dst.fileno()
        self._filter = filter
        self._on_bytes = on_bytes
        self._on_received = on_received
        self._on_eof = on_eof
        self._on_error = on_error
        self._out = bytearray()  # filtered, waiting for the receiver
        self._held: bytes | None = None  # held back by the filter, for whoever takes over
        self._eof = False
        self._reading = self._writing = False
        self._running = False

    def start(self, first: bytes = b"", eof: bool = False) -> None:
        """Start; ``first`` was read from the source already (a splice pipe's leftover)."""
        self._running = True
        self._update_reading()
        if first:
            self._take(first)
        if eof:
            self._eof = True
            if not self._out and self._held is None:
                self._finish()
                return
        self._update_reading()

    # -- callbacks ---------------------------------------------------------------------------
    def _readable(self) -> None:
        if not self._running:
            return
        try:
            data = self._src.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc, "read")
            return
        self._on_received(len(data))
        if not data:
            self._eof = True
            self._update_reading()
            if not self._out:
                self._finish()
            return
        self._take(data)

    def _take(self, data: bytes) -> None:
        out, held = self._filter(data)
        if out:
            self._send(out)
        if held is not None or self._out:  # else reading stays as it was: on
            self._held = held
            if self._running:
                self._update_reading()

    def _send(self, data: bytes) -> None:
        if not self._out:
            try:
                sent = self._dst.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail(exc, "write")
                return
            if sent:
                self._on_bytes(sent)
            if sent == len(data):
                return
            data = data[sent:]
        self._out += data
        self._set_writing(True)

    def _writable(self) -> None:
        if not self._running:
            return
        try:
            sent = self._dst.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc, "write")
            return
        self._on_bytes(sent)
        del self._out[:sent]
        if self._out:
            return
        self._set_writing(False)
        if self._eof and self._held is None:
            self._finish()
            return
        self._update_reading()

    # -- state -------------------------------------------------------------------------------
    def _update_reading(self) -> None:
        on = self._running and not self._eof and self._held is None and len(self._out) < HIGH_WATER
        if on and not self._reading:
            self._loop.add_reader(self._src_fd, self._readable)
        elif not on and self._reading:
            self._loop.remove_reader(self._src_fd)
        self._reading = on

    def _set_writing(self, on: bool) -> None:
        if on and not self._writing:
            self._loop.add_writer(self._dst_fd, self._writable)
        elif not on and self._writing:
            self._loop.remove_writer(self._dst_fd)
        self._writing = on

    def _fail(self, exc: OSError, where: str) -> None:
        self.stop()
        self._on_error(exc, where)

    def _finish(self) -> None:
        self.stop()
        self._on_eof()

    @property
    def idle(self) -> bool:
        """Nothing waits, nothing is held, no EOF: splice can take over as it is."""
        return not self._out and self._held is None and not self._eof

    def stop(self) -> tuple[bytes, bytes, bool]:
        """Stop for good; return (filtered bytes not yet sent, bytes the filter held back,
        whether the source's EOF was seen). Safe to call more than once."""
        self._running = False
        self._update_reading()
        self._set_writing(False)
        out, held = bytes(self._out), self._held or b""
        self._out.clear()
        self._held = None
        return out, held, self._eof
