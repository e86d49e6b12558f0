"""UDP counters: plain ints on the hot path, pushed into the shared metrics after each batch.

The relay bumps ints per datagram (cheap) and calls `UdpCounters.publish()` once per
readiness event or timer, which adds the deltas to the Prometheus families. So ``/metrics``
is live to within one batch, and the per-datagram cost stays a few attribute increments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.faultproxy.udp.datagram_toxics import DatagramCounters

DIRECTIONS = ("upstream", "downstream")
OUTCOMES = (
    "in",
    "out",
    "dropped",
    "duplicated",
    "reordered",
    "corrupted",
    "delayed",
    "send_failed",
)
EFFECTS = ("dropped", "duplicated", "reordered", "corrupted", "delayed")


class DirectionCounters:
    __slots__ = ("datagrams_in", "datagrams_out", "bytes_out", "send_failed")

    def __init__(self) -> None:
        self.datagrams_in = self.datagrams_out = self.bytes_out = self.send_failed = 0


class UdpCounters:
    def __init__(self, proxy_name: str, ctx: Any) -> None:
        self.proxy = proxy_name
        self.ctx = ctx
        metrics = ctx.metrics
        self.directions = {d: DirectionCounters() for d in DIRECTIONS}
        self.datagrams = metrics.counter(
            "faultproxy_datagrams_total",
            "UDP datagrams per proxy and direction: in, out, and what the toxics did to them",
            ("proxy", "direction", "outcome"),
        )
        self.toxic_datagrams = metrics.counter(
            "faultproxy_toxic_datagrams_total",
            "UDP datagrams per toxic: in, out, and what the toxic did to them",
            ("proxy", "toxic", "outcome"),
        )
        self.rejected = metrics.counter(
            "faultproxy_udp_sessions_rejected_total",
            "Datagrams from new clients dropped because max_sessions was reached",
            ("proxy",),
        )
        self._series: dict[tuple[Any, ...], Any] = {}
        self._last: dict[tuple[Any, ...], int] = {}
        # Effects of toxics since removed stay in the per-direction totals.
        self._retired_counts: dict[tuple[str, str], int] = {}

    def _push(self, key: tuple[Any, ...], value: int, make: Callable[[], Any]) -> int:
        delta = value - self._last.get(key, 0)
        if delta:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = make()
            series.inc(delta)
            self._last[key] = value
        return delta

    def publish(self, toxics: dict[str, tuple[str, str, DatagramCounters]]) -> bool:
        """Add what changed since the last call to the metric families; True if anything did.

        ``toxics`` maps toxic name -> (stream, type, counters), summed over sessions.
        """
        changed = False
        pm = self.ctx.proxy_metrics
        effects_by_stream: dict[str, dict[str, int]] = {
            d: dict.fromkeys(EFFECTS, 0) for d in DIRECTIONS
        }
        for name, (stream, kind, counters) in toxics.items():
            values = counters.as_dict()
            for field, outcome in (("datagrams_in", "in"), ("datagrams_out", "out")):
                changed |= bool(
                    self._push(
                        ("toxic", name, outcome),
                        values[field],
                        lambda o=outcome, n=name: self.toxic_datagrams.child(
                            proxy=self.proxy, toxic=n, outcome=o
                        ),
                    )
                )
            for effect in EFFECTS:
                effects_by_stream[stream][effect] += values[effect]
                delta = self._push(
                    ("toxic", name, effect),
                    values[effect],
                    lambda o=effect, n=name: self.toxic_datagrams.child(
                        proxy=self.proxy, toxic=n, outcome=o
                    ),
                )
                if delta and effect != "delayed":
                    pm.toxic_activations.inc(delta, proxy=self.proxy, toxic=name, type=kind)
                changed |= bool(delta)
        for direction, counts in self.directions.items():
            figures = {
                "in": counts.datagrams_in,
                "out": counts.datagrams_out,
                "send_failed": counts.send_failed,
                **{
                    e: effects_by_stream[direction][e] + self._retired(direction, e)
                    for e in EFFECTS
                },
            }
            for outcome in OUTCOMES:
                changed |= bool(
                    self._push(
                        ("dir", direction, outcome),
                        figures[outcome],
                        lambda o=outcome, d=direction: self.datagrams.child(
                            proxy=self.proxy, direction=d, outcome=o
                        ),
                    )
                )
            changed |= bool(
                self._push(
                    ("bytes", direction),
                    counts.bytes_out,
                    lambda d=direction: pm.bytes.child(proxy=self.proxy, direction=d),
                )
            )
        return changed

    def retire(self, name: str, stream: str, counters: DatagramCounters) -> None:
        """A toxic was removed: keep what it did in its direction's totals.

        Its own series stay as they are; a new toxic of the same name counts on from there.
        """
        for key in [k for k in self._last if k[0] == "toxic" and k[1] == name]:
            self._last[key] = 0
        retired = self._retired_counts
        for effect in EFFECTS:
            retired[(stream, effect)] = retired.get((stream, effect), 0) + getattr(counters, effect)

    def _retired(self, direction: str, effect: str) -> int:
        return self._retired_counts.get((direction, effect), 0)

    def snapshot(self, toxics: dict[str, tuple[str, str, DatagramCounters]]) -> dict[str, Any]:
        """The figures as JSON, for events and ``stats``."""
        out: dict[str, Any] = {}
        for direction, counts in self.directions.items():
            out[direction] = {
                "in": counts.datagrams_in,
                "out": counts.datagrams_out,
                "send_failed": counts.send_failed,
            }
            for effect in EFFECTS:
                out[direction][effect] = self._retired(direction, effect) + sum(
                    getattr(c, effect) for s, _, c in toxics.values() if s == direction
                )
        out["toxics"] = {name: c.as_dict() for name, (_, _, c) in toxics.items()}
        return out
