"""The recent-requests ring buffer that ``/_lab/requests`` serves, so checks see what a
client really did (how many requests, when, with which answers)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

FIELDS = ("time", "peer", "method", "path", "status", "bytes", "duration_ms")


class RequestLog:
    def __init__(self, capacity: int = 1000) -> None:
        # Tuples, turned into dicts only when read: recording is on every request's path.
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        # The threads mode records from many threads; a deque append is atomic, but
        # reading a consistent snapshot needs the lock.
        self._lock = threading.Lock()

    def record(
        self,
        *,
        peer: str,
        method: str,
        path: str,
        status: int,
        nbytes: int,
        duration_s: float,
        when: float | None = None,
    ) -> None:
        entry = (
            time.time() if when is None else when,
            peer,
            method,
            path,
            status,
            nbytes,
            duration_s,
        )
        with self._lock:
            self._entries.append(entry)

    def recent(
        self, *, since: float | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Oldest first; ``since`` keeps entries strictly after that unix time, ``limit``
        keeps the newest N of what remains."""
        with self._lock:
            entries = list(self._entries)
        if since is not None:
            entries = [e for e in entries if e[0] > since]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [dict(zip(FIELDS, (*e[:6], round(e[6] * 1000.0, 3)), strict=True)) for e in entries]

    def __len__(self) -> int:
        return len(self._entries)
