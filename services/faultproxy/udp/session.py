"""One UDP client of a proxy: its upstream socket and a toxic pipeline per direction."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from services.faultproxy.udp.datagram_toxics import ToxicSpec
from services.faultproxy.udp.pipeline import DatagramPipeline
from services.faultproxy.udp.rng import derive_rng

READ_BATCH = 512  # datagrams read per readiness event before letting other work run
MAX_DATAGRAM = 65535


class Session:
    """Client address <-> a connected upstream socket, with per-direction toxics.

    The upstream socket is ``connect``-ed, so the kernel only delivers datagrams from the
    upstream address to it, and an ICMP "port unreachable" shows up as ECONNREFUSED.
    """

    def __init__(
        self,
        proxy: Any,
        number: int,
        client: tuple[Any, ...],
        upstream: socket.socket,
        seed: int | None,
    ) -> None:
        self.proxy = proxy
        self.number = number
        self.client = client
        self.upstream = upstream
        self.seed = seed
        self.loop: asyncio.AbstractEventLoop = proxy.loop
        self.started = time.time()
        self.last_active = time.monotonic()
        self.datagrams = {"upstream": 0, "downstream": 0}
        self.bytes = {"upstream": 0, "downstream": 0}
        self.pipelines: dict[str, DatagramPipeline | None] = {"upstream": None, "downstream": None}
        self._timers: dict[str, asyncio.TimerHandle | None] = {"upstream": None, "downstream": None}
        self._timer_due: dict[str, float] = {"upstream": 0.0, "downstream": 0.0}
        self.closed = False

    @property
    def client_text(self) -> str:
        host, port = self.client[0], self.client[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def rng_for(self, stream: str) -> Callable[[str], Any]:
        # Every session replays the same streams for the same seed, so a rerun (even on the
        # same proxy, from a new client port) makes the same decisions datagram by datagram.
        return lambda label: derive_rng(self.seed, stream, label)

    def sync_toxics(self, specs: dict[str, Sequence[ToxicSpec]]) -> None:
        for stream, stream_specs in specs.items():
            pipeline = self.pipelines[stream]
            if pipeline is None:
                if not stream_specs:
                    continue
                pipeline = self.pipelines[stream] = DatagramPipeline(self.rng_for(stream))
            pipeline.sync(stream_specs)
            if pipeline.empty:
                self.pipelines[stream] = None  # nothing left to schedule: the fast path again
            self.flush(stream)

    def active_toxics(self, stream: str) -> list[str]:
        pipeline = self.pipelines[stream]
        return pipeline.active_names() if pipeline is not None else []

    # -- moving datagrams ---------------------------------------------------------------------
    def send(self, stream: str, payload: bytes) -> None:
        """Hand one datagram to ``stream``'s toxics (or straight out when there are none)."""
        pipeline = self.pipelines[stream]
        if pipeline is None:
            self.proxy.emit(self, stream, payload)
            return
        for out in pipeline.push(payload, time.monotonic()):
            self.proxy.emit(self, stream, out)
        self._arm(stream, pipeline)

    def flush(self, stream: str) -> None:
        """Send what is due now and set the timer for the next due datagram."""
        pipeline = self.pipelines[stream]
        if pipeline is None:
            return
        for out in pipeline.run_due(time.monotonic()):
            self.proxy.emit(self, stream, out)
        self._arm(stream, pipeline)
        if pipeline.empty:
            self.pipelines[stream] = None

    def _arm(self, stream: str, pipeline: DatagramPipeline) -> None:
        deadline = pipeline.next_deadline()
        timer = self._timers[stream]
        if deadline is None:
            if timer is not None:
                timer.cancel()
                self._timers[stream] = None
            return
        if timer is not None and self._timer_due[stream] <= deadline:
            return  # the timer already set fires first; it re-arms after
        if timer is not None:
            timer.cancel()
        self._timer_due[stream] = deadline
        # Pipeline times are time.monotonic(): the loop's own clock may be coarse (uvloop's
        # is in ms, from a cached value). A timer that fires a little early finds nothing
        # due yet and is simply set again for the rest.
        delay = max(0.0, deadline - time.monotonic())
        self._timers[stream] = self.loop.call_later(delay, self._on_timer, stream)

    def _on_timer(self, stream: str) -> None:
        self._timers[stream] = None
        if self.closed:
            return
        self.flush(stream)
        self.proxy.counters_changed()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in self._timers.values():
            if timer is not None:
                timer.cancel()
        try:
            self.loop.remove_reader(self.upstream.fileno())
        except (ValueError, OSError):
            pass
        self.upstream.close()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.number,
            "client": self.client_text,
            "age_seconds": round(time.time() - self.started, 3),
            "idle_seconds": round(time.monotonic() - self.last_active, 3),
            "datagrams": dict(self.datagrams),
            "bytes": dict(self.bytes),
            "toxics": {s: self.active_toxics(s) for s in ("upstream", "downstream")},
        }
