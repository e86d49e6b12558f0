"""Toxiproxy's TCP toxics, each a `StreamToxic` stage, registered for ``tcp`` proxies.

Semantics follow Toxiproxy 2.x, measured against its binary (same attribute names and
units), except its known bugs: ``toxicity`` 0 never applies (handled where toxicity is
rolled), ``slicer`` needs ``average_size`` >= 1 and ``size_variation`` <
``average_size``, ``bandwidth`` needs ``rate`` >= 1.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from services.faultproxy.core.toxic_types import MAX_INT_ATTRIBUTE, Attr, ToxicType, register
from services.faultproxy.tcp.stream_toxic import Chunk, StreamToxic, ToxicStub
from services.faultproxy.tcp.toxic_maths import (
    bandwidth_pieces,
    bandwidth_seconds,
    latency_delay_s,
    limit_cut,
    slice_offsets,
)

TCP = frozenset({"tcp"})
_rng = random.Random()

# Durations are capped at a day: longer is a typo, and asyncio timers misbehave on
# absurd values (OverflowError deep in the loop instead of a 400 at the API).
MAX_MS = 86_400_000
# How late the bandwidth schedule may run before it counts as idle and restarts.
SCHEDULE_SLACK_S = 0.05


class NoopToxic(StreamToxic):
    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            item = await stub.recv()
            await stub.send(item)
            if item is None:
                return


class LatencyToxic(StreamToxic):
    """Delay each chunk by ``latency`` +/- ``jitter`` ms *from its arrival*.

    The reader keeps reading while a chunk waits, so later chunks wait concurrently and
    throughput is not capped by the delay (each chunk's deadline is its own timestamp).
    """

    async def pipe(self, stub: ToxicStub) -> None:
        latency, jitter = self.attrs["latency"], self.attrs["jitter"]
        while True:
            chunk = await stub.recv()
            if chunk is None:
                await stub.send(None)
                return
            deadline = chunk.timestamp + latency_delay_s(latency, jitter, _rng)
            try:
                await stub.sleep_until(deadline)
            except asyncio.CancelledError:
                stub.flush(chunk)
                raise
            await stub.send(chunk)


class BandwidthToxic(StreamToxic):
    """Pass data at ``rate`` KB/s (1 KB = 1000 bytes), in pieces of at most 100 ms each."""

    async def pipe(self, stub: ToxicStub) -> None:
        rate = self.attrs["rate"]
        while True:
            chunk = await stub.recv()
            if chunk is None:
                await stub.send(None)
                return
            # A schedule, not a sleep per piece, so timer overshoot does not accumulate.
            # Only a real pause (input ran dry for more than SCHEDULE_SLACK_S) restarts
            # it, so idle time cannot bank credit for a large burst.
            data = chunk.data
            now = time.monotonic()
            due = stub.state.get("due", now)
            if now - due > SCHEDULE_SLACK_S:
                due = now
            try:
                for size in bandwidth_pieces(len(data), rate):
                    due += bandwidth_seconds(size, rate)
                    await stub.sleep_until(due)
                    piece, data = data[:size], data[size:]
                    stub.state["due"] = due
                    await stub.send(Chunk(piece, chunk.timestamp))  # delivers even if cancelled
            except asyncio.CancelledError:
                if data:
                    stub.flush(Chunk(data, chunk.timestamp))
                raise


class SlowCloseToxic(StreamToxic):
    """Pass data; delay the end of stream (the FIN) by ``delay`` ms."""

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is None:
                try:
                    await stub.sleep_until(time.monotonic() + self.attrs["delay"] / 1000)
                except asyncio.CancelledError:
                    stub.flush(None)
                    raise
                await stub.send(None)
                return
            await stub.send(chunk)


class TimeoutToxic(StreamToxic):
    """Drop all data; close the connection once ``timeout`` ms pass with no data, or never for 0.

    As Toxiproxy: the timer restarts on every chunk (and when the chain is rebuilt), so a
    chatty peer keeps the connection open while nothing gets through. With 0 the
    connection hangs until the toxic is removed, which then closes it.
    """

    async def pipe(self, stub: ToxicStub) -> None:
        timeout_s = self.attrs["timeout"] / 1000
        stub.effect()
        while True:
            try:
                if timeout_s > 0:
                    chunk = await asyncio.wait_for(stub.recv(), timeout_s)
                else:
                    chunk = await stub.recv()
            except TimeoutError:
                stub.close_connection(reason="timeout toxic")
                return
            if chunk is None:
                await stub.send(None)
                return
            # Dropped on the floor, as in Toxiproxy.

    def removed(self, stub: ToxicStub) -> None:
        stub.close_connection(reason="timeout toxic removed")


class ResetPeerToxic(StreamToxic):
    """As Toxiproxy: wait for the first chunk (or the end of stream), drop it, stop reading,
    and ``timeout`` ms later reset both sides (TCP RST via SO_LINGER 0)."""

    async def pipe(self, stub: ToxicStub) -> None:
        if "armed_at" not in stub.state:
            await stub.recv()  # dropped, whatever it holds
            stub.state["armed_at"] = time.monotonic()
        # Across a chain rebuild the clock keeps running from the first chunk.
        await stub.sleep_until(stub.state["armed_at"] + self.attrs["timeout"] / 1000)
        stub.effect()
        stub.close_connection(reset=True, reason="reset_peer toxic")


class SlicerToxic(StreamToxic):
    """Split chunks into ``average_size`` +/- ``size_variation`` byte slices, ``delay`` µs apart."""

    async def pipe(self, stub: ToxicStub) -> None:
        average, variation, delay_us = (
            self.attrs["average_size"],
            self.attrs["size_variation"],
            self.attrs["delay"],
        )
        while True:
            chunk = await stub.recv()
            if chunk is None:
                await stub.send(None)
                return
            cuts = slice_offsets(len(chunk.data), average, variation, _rng)
            data, pos = chunk.data, 0
            try:
                for i in range(1, len(cuts)):
                    piece, pos = data[cuts[i - 1] : cuts[i]], cuts[i]
                    await stub.send(Chunk(piece, chunk.timestamp))  # delivers even if cancelled
                    if delay_us:  # after every slice, the last one too, as Toxiproxy
                        await stub.sleep_until(time.monotonic() + delay_us / 1_000_000)
            except asyncio.CancelledError:
                if pos < len(data):
                    stub.flush(Chunk(data[pos:], chunk.timestamp))
                raise


class LimitDataToxic(StreamToxic):
    """Pass the first ``bytes`` bytes of the direction, then close the connection."""

    async def pipe(self, stub: ToxicStub) -> None:
        limit = self.attrs["bytes"]
        while True:
            chunk = await stub.recv()
            if chunk is None:
                await stub.send(None)
                return
            sent = stub.state.get("transmitted", 0)
            allowed = limit_cut(len(chunk.data), sent, limit)
            if allowed:
                stub.state["transmitted"] = sent + allowed
                await stub.send(Chunk(chunk.data[:allowed], chunk.timestamp))
            if stub.state.get("transmitted", 0) >= limit:
                stub.effect()
                # End this direction after what passed is written, then close both sides.
                await stub.send(None)
                stub.close_connection(reason="limit_data reached", flush=True)
                return


def _ms(name: str, default: int = 0, doc: str = "") -> Attr:
    return Attr(name, "int", default, minimum=0, maximum=MAX_MS, doc=doc)


def _slicer_rule(attrs: dict[str, Any]) -> str | None:
    if attrs["size_variation"] >= attrs["average_size"]:
        return "size_variation must be smaller than average_size"
    return None


def _tcp(name: str, cls: type[StreamToxic], attrs: tuple[Attr, ...], **kw: Any) -> ToxicType:
    return register(
        ToxicType(name=name, protocols=TCP, attrs=attrs, factory=cls, kind="stream", **kw)
    )


NOOP = _tcp("noop", NoopToxic, (), needs_bytes=False, doc="does nothing")
LATENCY = _tcp(
    "latency",
    LatencyToxic,
    (_ms("latency", doc="ms added to each chunk"), _ms("jitter", doc="+/- ms")),
)
BANDWIDTH = _tcp(
    "bandwidth",
    BandwidthToxic,
    (
        Attr(
            "rate",
            "int",
            0,
            minimum=0,
            exclusive_minimum=True,
            maximum=MAX_INT_ATTRIBUTE,
            doc="KB/s",
        ),
    ),
)
SLOW_CLOSE = _tcp("slow_close", SlowCloseToxic, (_ms("delay", doc="ms before the close"),))
TIMEOUT = _tcp("timeout", TimeoutToxic, (_ms("timeout", doc="ms, 0 = forever"),))
RESET_PEER = _tcp("reset_peer", ResetPeerToxic, (_ms("timeout", doc="ms before the RST"),))
SLICER = _tcp(
    "slicer",
    SlicerToxic,
    (
        Attr("average_size", "int", 0, minimum=1, maximum=MAX_INT_ATTRIBUTE, doc="bytes"),
        Attr("size_variation", "int", 0, minimum=0, maximum=MAX_INT_ATTRIBUTE, doc="bytes"),
        Attr("delay", "int", 0, minimum=0, maximum=MAX_MS * 1000, doc="µs between slices"),
    ),
    validate=_slicer_rule,
)
LIMIT_DATA = _tcp(
    "limit_data",
    LimitDataToxic,
    (Attr("bytes", "int", 0, minimum=0, maximum=MAX_INT_ATTRIBUTE, doc="bytes before the close"),),
)
