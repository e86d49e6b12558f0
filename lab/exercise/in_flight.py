"""How many requests were in flight at once, from a server's request log alone.

With a ``latency`` toxic of L seconds on the answers, a request that reached the server at
``t`` and took ``d`` there cannot have been answered before ``t + d + L``: the client was
still waiting for it over ``[t, t + d + L)``. Two such windows that share a moment mean
the client had sent the second before it got the first answer. This needs only the
server's clock and the toxic's guaranteed delay, so a busy machine (which only makes
everything later) cannot turn a sequential client into a concurrent one or back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Window = tuple[float, float]


def waiting_windows(entries: Iterable[Mapping[str, Any]], latency_s: float) -> list[Window]:
    """Each logged request's ``[arrival, earliest possible answer)`` at the client."""
    windows = []
    for entry in entries:
        arrived = float(entry["time"])
        served = float(entry.get("duration_ms", 0.0)) / 1000
        windows.append((arrived, arrived + served + latency_s))
    return windows


def max_in_flight(windows: Iterable[Window]) -> int:
    """The largest number of half-open windows ``[start, end)`` that share one moment."""
    # At equal times an end sorts before a start: [a, b) and [b, c) do not overlap.
    events = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most
