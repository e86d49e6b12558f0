"""The HTTP layer on a live TCP connection: two chain stages around one `HttpExchange`.

The core puts the request stage at the head of the client -> server chain and the response
stage at the head of the server -> client chain (see `http_hook`). Each stage feeds what it
reads into the shared exchange and sends the exchange's queue for its own direction, waiting
for each item's due time. Either side may queue output for the other (a request answered by
the proxy goes to the client), so each stage can be woken while it waits for input.

The exchange lives as long as the connection: chains are rebuilt on every toxic change and
new stages carry on where the old ones stopped. A stage waits only on its input channel;
when the other side queues it output, it is woken by an empty chunk put in that channel
(cheaper than waiting on two things, which would need a task per chunk). If the last http
toxic is removed while a message is half through, the exchange hands everything it holds
on at once and relays the rest of the connection untouched, so no byte is lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from services.faultproxy.http.exchange import (
    FIN,
    HEAD_TIMEOUT_S,
    RESET,
    HttpExchange,
    Out,
)
from services.faultproxy.http.matching import RequestHead
from services.faultproxy.http.plan import Plan, ToxicView, plan_request
from services.faultproxy.http.screen import HttpScreen
from services.faultproxy.http.stats_events import stats_events_for
from services.faultproxy.tcp.stream_toxic import Channel, Chunk, StreamToxic, ToxicStub

UPSTREAM, DOWNSTREAM = "upstream", "downstream"


class HttpFaultLayer:
    def __init__(self, conn: Any, toxics: Callable[[], list[Any]], report: Any) -> None:
        self.conn = conn
        self._toxics = toxics
        self._report = report
        self._rng = random.Random()
        self._stats_events = stats_events_for(report)
        self._counted = False
        self.exchange = HttpExchange(self._decide, self._rng)
        self._generation = {UPSTREAM: 0, DOWNSTREAM: 0}
        # The input channel of a stage that is waiting for input, per direction.
        self._waiting: dict[str, Channel | None] = {UPSTREAM: None, DOWNSTREAM: None}
        self._screen: HttpScreen | None = None
        self.handed_over = False  # the stages have the connection, for good
        # The plan the screen made for the request it handed over: not rolled twice.
        self._planned: tuple[RequestHead, Plan] | None = None

    # -- the fast path (http.screen) -----------------------------------------------------------
    def screen(self, on_ready: Callable[[], None]) -> HttpScreen | None:
        if self.handed_over or (self._screen is not None and self._screen.stopping):
            return None
        if self._screen is None:
            self._screen = HttpScreen(self._decide, on_ready)
        return self._screen

    def leave_screen(self) -> bool:
        if self.handed_over:
            return True
        screen = self._screen
        if screen is not None and not screen.ready:
            screen.request_stop()
            if not screen.ready:
                return False
        self.handed_over = True
        self._screen = None
        if screen is not None:
            self.exchange.stats.requests += screen.requests
            if screen.opaque:
                self.exchange.stats.not_http = screen.opaque
                self.exchange.abandon()
            self._planned = screen.planned
        return True

    def drop_screen(self) -> None:
        self._screen = None

    def _decide(self, head: RequestHead) -> Plan:
        if self._planned is not None:
            (planned_head, plan), self._planned = self._planned, None
            if (planned_head.method, planned_head.target) == (head.method, head.target):
                return plan
        self._counted = False
        plan = plan_request(head, self._toxics(), self._rng, self._count)
        if self._counted:
            self._stats_events.changed()  # once the request is fully counted
        return plan

    def _count(self, toxic: ToxicView, outcome: str, detail: dict[str, Any]) -> None:
        if self._report is not None:
            self._report.request(toxic, outcome, **detail)
            self._counted = True

    # -- the HttpLayer interface (http_hook) -------------------------------------------------
    def request_stage(self) -> StreamToxic:
        self._generation[UPSTREAM] += 1
        return _ExchangeStage(self, UPSTREAM, self._generation[UPSTREAM])

    def response_stage(self) -> StreamToxic:
        self._generation[DOWNSTREAM] += 1
        return _ExchangeStage(self, DOWNSTREAM, self._generation[DOWNSTREAM])

    # -- plumbing for the stages ---------------------------------------------------------------
    def queue(self, direction: str) -> deque[Out]:
        return self.exchange.to_upstream if direction == UPSTREAM else self.exchange.to_client

    def feed(self, direction: str, chunk: Chunk | None) -> None:
        now = time.monotonic()
        ex = self.exchange
        if direction == UPSTREAM and chunk is None:
            ex.client_eof(now)
        elif direction == UPSTREAM:
            ex.from_client(chunk.data, now)
        elif chunk is None:
            ex.upstream_eof(now)
        else:
            ex.from_upstream(chunk.data, now)
        # Feeding one side can queue output for the other (an answer, an end): wake it.
        self.poke(DOWNSTREAM if direction == UPSTREAM else UPSTREAM)

    def waiting(self, direction: str, channel: Channel | None) -> None:
        self._waiting[direction] = channel

    def poke(self, direction: str) -> None:
        """Wake ``direction``'s stage if it waits for input while the other side queued it
        output: an empty chunk in its input channel (it means nothing but "look again")."""
        channel = self._waiting.get(direction)
        if channel is not None and self.queue(direction):
            self._waiting[direction] = None
            channel.put_nowait(Chunk(b""))

    def stage_stopped(self, stage: _ExchangeStage, stub: ToxicStub) -> None:
        """A stage was cancelled. If no newer stage replaced it, hand on what is held."""
        if self._generation[stage.direction] != stage.generation:
            return
        if not self.exchange.idle:
            self.exchange.abandon()
        queue = self.queue(stage.direction)
        while queue:
            out = queue.popleft()
            if out.action == RESET:
                stub.close_connection(reset=True, reason="http_reset")
            else:
                stub.flush(Chunk(out.data) if out.action is None else None)


class _ExchangeStage(StreamToxic):
    def __init__(self, layer: HttpFaultLayer, direction: str, generation: int) -> None:
        super().__init__({})
        self.layer = layer
        self.direction = direction
        self.generation = generation

    async def pipe(self, stub: ToxicStub) -> None:
        layer = self.layer
        try:
            while True:
                if await self._send_due(stub):
                    return
                layer.waiting(self.direction, stub.input)
                started = layer.exchange.head_started if self.direction == UPSTREAM else None
                if started is None:
                    chunk = await stub.recv()  # cancellation-safe: nothing taken if cancelled
                else:
                    # Part of a request head is buffered: wait for the rest only so long.
                    remaining = started + HEAD_TIMEOUT_S - time.monotonic()
                    try:
                        chunk = await asyncio.wait_for(stub.recv(), max(remaining, 0.0))
                    except TimeoutError:
                        layer.waiting(self.direction, None)
                        layer.exchange.head_timed_out(time.monotonic())
                        continue
                layer.waiting(self.direction, None)
                if chunk is None or chunk.data:  # an empty chunk is only a poke
                    layer.feed(self.direction, chunk)
        except asyncio.CancelledError:
            layer.waiting(self.direction, None)
            layer.stage_stopped(self, stub)
            raise

    async def _send_due(self, stub: ToxicStub) -> bool:
        """Send this direction's queued output in order, each at its due time; True at the end."""
        queue = self.layer.queue(self.direction)
        while queue:
            out = queue[0]
            if out.due > time.monotonic():
                await stub.sleep_until(out.due)
            if out.action == RESET:
                queue.popleft()
                stub.close_connection(reset=True, reason="http_reset")
                return True
            # The core's send delivers its item even when interrupted, so the item leaves
            # the queue first: a rebuilt chain must not send it twice.
            queue.popleft()
            if out.action == FIN:
                await stub.send(None)
                return True
            await stub.send(Chunk(out.data))
        return False


def create_http_layer(conn: Any, toxics: Callable[[], list[Any]], report: Any) -> HttpFaultLayer:
    return HttpFaultLayer(conn, toxics, report)


__all__ = ["HttpFaultLayer", "create_http_layer"]
