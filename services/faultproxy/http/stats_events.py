"""``http.stats`` events: requests matched and faulted per toxic, summed per proxy.

The core publishes one ``http.faulted`` event per faulted request; a live view also wants the
totals, including requests that matched but were spared by ``toxicity``. Publishing them per
request would flood the feed, so they go out at most once a second per proxy, with a trailing
event so the last figures always arrive.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

INTERVAL_S = 1.0


class HttpStatsEvents:
    def __init__(self, report: Any) -> None:
        self._report = weakref.ref(report)  # not a strong one: the proxy may be deleted
        self._last = 0.0
        self._pending: asyncio.TimerHandle | None = None

    def changed(self) -> None:
        if self._pending is not None:
            return
        wait = self._last + INTERVAL_S - time.monotonic()
        if wait <= 0:
            self.publish()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending = loop.call_later(wait, self.publish)

    def publish(self) -> None:
        self._pending = None
        self._last = time.monotonic()
        report = self._report()
        family = getattr(report, "requests", None)
        ctx = getattr(report, "ctx", None)
        if family is None or ctx is None:
            return
        toxics: dict[str, dict[str, int]] = {}
        for (proxy, toxic, outcome), value in list(family.values.items()):
            if proxy == report.proxy_name:
                toxics.setdefault(toxic, {"matched": 0, "faulted": 0})[outcome] = int(value)
        ctx.events.publish("http.stats", proxy=report.proxy_name, toxics=toxics)


# One publisher per proxy's report object (the core makes one report per proxy); it goes
# away with the proxy.
_publishers: weakref.WeakKeyDictionary[Any, HttpStatsEvents] = weakref.WeakKeyDictionary()


def stats_events_for(report: Any) -> HttpStatsEvents:
    publisher = _publishers.get(report)
    if publisher is None:
        publisher = _publishers[report] = HttpStatsEvents(report)
    return publisher
