"""The event bus behind ``GET /events`` (Server-Sent Events).

Anything may publish: the API (proxy and toxic changes), the TCP proxy (connections,
upstream failures), the UDP layer (sessions), the HTTP layer (faulted requests).
Subscribers (one per SSE client) get a bounded queue; a subscriber that does not keep up
loses its oldest events rather than slowing the proxy down, and is told so with a
``dropped`` count on the next event.

Event kinds in use (``<subject>.<verb>``): ``proxy.created``, ``proxy.updated``,
``proxy.deleted``, ``proxy.reset``, ``toxic.added``, ``toxic.updated``, ``toxic.removed``,
``connection.opened``, ``connection.closed``, ``upstream.failed``. New subjects are fine
(``session.opened``, ``http.faulted``); keep the payload small and JSON-serialisable.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    id: int
    kind: str
    data: dict[str, Any]
    time: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "time": round(self.time, 6), **self.data}


class Subscription:
    def __init__(self, bus: EventBus, maxlen: int) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque(maxlen=maxlen)
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0

    def _push(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after ``timeout`` seconds (for SSE keep-alives)."""
        if not self._queue:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout)
            except TimeoutError:
                return None
        return self._queue.popleft()

    def close(self) -> None:
        self._bus._subs.discard(self)


class EventBus:
    def __init__(self, history: int = 200) -> None:
        self._subs: set[Subscription] = set()
        self._ids = itertools.count(1)
        # A short history, so a client that connects just after something happened
        # (a test, the lab's live view) can still see it with ``?since=0``.
        self.recent: deque[Event] = deque(maxlen=history)

    def publish(self, kind: str, **data: Any) -> Event:
        event = Event(next(self._ids), kind, data)
        self.recent.append(event)
        for sub in list(self._subs):
            sub._push(event)
        return event

    def subscribe(self, maxlen: int = 1000) -> Subscription:
        sub = Subscription(self, maxlen)
        self._subs.add(sub)
        return sub
