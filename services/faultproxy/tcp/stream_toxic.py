"""The runtime interface of a TCP (byte stream) toxic, Toxiproxy style.

Each direction of a TCP connection (``upstream``: client to server, ``downstream``: server
to client) runs a chain of stages::

    reader -> [toxic 1] -> [toxic 2] -> ... -> writer

Stages are connected by `Channel`s of `Chunk`s. A toxic is one small unit behind one
interface, `StreamToxic.pipe(stub)`: take chunks from ``stub.input``, put (possibly
changed, delayed, split or dropped) chunks to ``stub.output``.

Live changes: when a toxic is added, updated or removed, the direction *interrupts* its
stages (their tasks are cancelled), then rebuilds the chain with the new toxics. A toxic
that holds a chunk (sleeping on it, say) must hand it on when interrupted, so no byte is
ever lost::

    try:
        await stub.sleep_until(deadline)
    except asyncio.CancelledError:
        stub.flush(chunk)     # put it downstream without waiting, then stop
        raise

`Channel.get`/`ToxicStub.send` are cancellation-safe: an item moves only in the synchronous
code after an ``await`` returns, so a cancel never drops or duplicates one.

End of stream is the item ``None`` (the reader saw EOF); a toxic passes it on with
``await stub.send(None)`` and returns. To end the whole connection (``limit_data``,
``timeout``), call ``stub.close_connection()``; for a TCP RST, ``reset=True``.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.faultproxy.tcp import precise_timer


@dataclass(slots=True)
class Chunk:
    """Bytes read from one socket, stamped with their arrival time (``time.monotonic()``)."""

    data: bytes
    timestamp: float = field(default_factory=time.monotonic)


class Channel:
    """A bounded FIFO of chunks between two stages, with ``None`` as end of stream.

    Bounded in bytes (and items, for floods of tiny slices), which gives backpressure: a
    slow writer stops the reader instead of growing a buffer. The byte bound also sets
    how much a ``latency`` toxic can keep in flight: 2 MB at 100 ms is 20 MB/s per
    connection, so the delay, not the buffer, is what a client notices.
    """

    def __init__(self, max_bytes: int = 2 << 20, max_items: int = 4096) -> None:
        self._items: deque[Chunk | None] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_items = max_items
        self._not_empty: asyncio.Future[None] | None = None
        self._not_full: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def _full(self) -> bool:
        return self._bytes >= self._max_bytes or len(self._items) >= self._max_items

    def _wake(self, attr: str) -> None:
        fut = getattr(self, attr)
        if fut is not None and not fut.done():
            fut.set_result(None)
        setattr(self, attr, None)

    async def get(self) -> Chunk | None:
        while not self._items:
            if self._not_empty is None or self._not_empty.done():
                self._not_empty = asyncio.get_running_loop().create_future()
            await self._not_empty
        item = self._items.popleft()
        if item is not None:
            self._bytes -= len(item.data)
        if self._not_full is not None and not self._full():
            self._wake("_not_full")
        return item

    async def put(self, item: Chunk | None) -> None:
        while self._full():
            if self._not_full is None or self._not_full.done():
                self._not_full = asyncio.get_running_loop().create_future()
            await self._not_full
        self.put_nowait(item)

    def put_nowait(self, item: Chunk | None) -> None:
        """Append ignoring the bound (used when flushing on interrupt)."""
        self._items.append(item)
        if item is not None:
            self._bytes += len(item.data)
        if self._not_empty is not None:
            self._wake("_not_empty")

    def push_front(self, items: list[Chunk | None]) -> None:
        """Put ``items`` (in order) before everything queued: re-feeding a rebuilt chain."""
        self._items.extendleft(reversed(items))
        self._bytes += sum(len(i.data) for i in items if i is not None)
        if self._items:
            self._wake("_not_empty")

    def drain(self) -> list[Chunk | None]:
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        self._wake("_not_full")
        return items


class ConnectionHandle(Protocol):
    """What a toxic (and the HTTP layer) may do to the connection it runs on."""

    id: int
    proxy_name: str
    client_address: str

    def close_connection(
        self, *, reset: bool = False, reason: str = "", flush_stream: str | None = None
    ) -> None:
        """Close both sides; ``reset`` sends a TCP RST (SO_LINGER 0) instead of a FIN.

        With ``flush_stream``, first let that direction's writer write what is queued.
        """

    def inject(self, stream: str, data: bytes) -> None:
        """Queue bytes to be written by ``stream``'s writer after what is already queued."""


@dataclass
class ToxicStub:
    """One toxic's view of one direction of one connection."""

    input: Channel
    output: Channel
    conn: ConnectionHandle
    stream: str
    # Per (connection, toxic) state that survives chain rebuilds, like Toxiproxy's
    # stateful toxics: limit_data's byte count, timeout's deadline.
    state: dict[str, Any]
    # Called by the toxic the first time it really alters the stream (metrics).
    on_effect: Any = None
    # True while the toxic waits for input (and so holds no data): lets a direction know
    # it has fully drained before it switches back to the zero-copy path.
    idle: bool = False

    async def recv(self) -> Chunk | None:
        self.idle = True
        try:
            return await self.input.get()
        finally:
            self.idle = False

    async def send(self, item: Chunk | None) -> None:
        """Put ``item`` downstream, waiting for room. If interrupted while waiting, the
        item is still delivered (without waiting) before the cancel propagates."""
        try:
            await self.output.put(item)
        except asyncio.CancelledError:
            self.output.put_nowait(item)
            raise

    def flush(self, *items: Chunk | None) -> None:
        """Hand held items on without waiting: for use in an interrupt handler."""
        for item in items:
            self.output.put_nowait(item)

    async def sleep_until(self, deadline: float) -> None:
        """Until ``time.monotonic()`` reaches ``deadline``, to the µs (`precise_timer`)."""
        await precise_timer.sleep_until(deadline)

    def close_connection(
        self, *, reset: bool = False, reason: str = "", flush: bool = False
    ) -> None:
        """End the connection; ``flush`` lets this direction's queued output be written first."""
        self.conn.close_connection(
            reset=reset, reason=reason, flush_stream=self.stream if flush else None
        )

    def effect(self) -> None:
        if self.on_effect is not None:
            self.on_effect()


class StreamToxic(ABC):
    """A TCP toxic: one stage in a direction's chain.

    ``attrs`` is the validated attribute dict (see `toxic_types.ToxicType.normalize`); a new
    instance is built whenever the toxic is updated, so instances are immutable in effect.
    """

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs

    @abstractmethod
    async def pipe(self, stub: ToxicStub) -> None:
        """Move chunks from ``stub.input`` to ``stub.output`` until EOF or interrupt."""

    def removed(self, stub: ToxicStub) -> None:  # noqa: B027 - optional hook, default no-op
        """Called when the toxic is removed from a live connection (``timeout`` closes it)."""


async def forward(stub: ToxicStub) -> None:
    """The stage used when a direction has no byte-level toxic: copy input to output."""
    while True:
        item = await stub.recv()
        await stub.send(item)
        if item is None:
            return
