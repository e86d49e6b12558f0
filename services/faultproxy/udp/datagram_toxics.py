"""The per-datagram toxics: netem's maths with no sockets in them.

Each toxic type declares its attribute schema (``attrs``, in the core's `toxic_types.Attr`
form, so errors read the same as for TCP toxics) and a stage class that one session's
pipeline feeds datagrams through, in one direction. ``feed(payload, now)`` returns
``(due, payload)`` pairs: nothing for a drop, two for a duplicate, a later ``due`` for a
delay. Times are seconds on one monotonic clock (the relay uses time.monotonic()).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from services.faultproxy.core.toxic_types import Attr

Emission = tuple[float, bytes]


def _probability(name: str, default: float = 0.0) -> Attr:
    return Attr(name, "float", default, minimum=0, maximum=1, doc="a probability, 0 to 1")


@dataclass
class DatagramCounters:
    """What one toxic did, summed over its sessions. Plain ints: the relay's hot path bumps them."""

    datagrams_in: int = 0
    datagrams_out: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    delayed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Stage:
    """One toxic acting on one session's datagrams in one direction."""

    kind: ClassVar[str]
    attrs: ClassVar[tuple[Attr, ...]] = ()

    def __init__(self, attrs: Mapping[str, Any], rng: random.Random, counters: DatagramCounters):
        self.rng = rng
        self.counters = counters
        self.update(attrs)

    @staticmethod
    def check(attrs: dict[str, Any]) -> str | None:
        """A rule across attributes; returns the problem, or None."""
        return None

    def update(self, attrs: Mapping[str, Any]) -> None:
        """Take new attribute values live, keeping state (queue, burst state, held datagram)."""

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        raise NotImplementedError

    def next_deadline(self) -> float | None:
        """When ``poll`` has something to release on its own (only reorder holds datagrams)."""
        return None

    def poll(self, now: float) -> list[Emission]:
        return []


class NoopStage(Stage):
    kind = "noop"

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        return [(now, payload)]


def _check_loss(attrs: dict[str, Any]) -> str | None:
    r = attrs["r"]
    if r is not None and (isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r <= 1):
        return f"r must be a probability between 0 and 1, got {r!r}"
    if attrs["probability"] > 0 and attrs["p"] > 0:
        return "give either probability (random loss) or p, r, h, k (Gilbert-Elliott), not both"
    return None


class LossStage(Stage):
    """Random loss (``probability``) or netem's 4-parameter Gilbert-Elliott ``gemodel``.

    As in netem: ``p`` = P(good -> bad), ``r`` = P(bad -> good), ``h`` = P(delivered | bad),
    ``k`` = P(delivered | good), all 0..1. Defaults as tc fills them: r = 1 - p, h = 0,
    k = 1, so ``p`` alone is a random loss of p. A datagram's fate uses the state it arrives
    in and the state then moves (the kernel's order), so with h = 0 a burst lasts 1/r on
    average and the long-run loss is p / (p + r).
    """

    kind = "loss"
    attrs = (
        _probability("probability"),
        _probability("p"),
        Attr("r", "any", None, doc="P(bad -> good); default 1 - p"),
        _probability("h", 0.0),
        _probability("k", 1.0),
    )
    check = staticmethod(_check_loss)

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.probability = float(attrs["probability"])
        self.p = float(attrs["p"])
        self.r = 1.0 - self.p if attrs["r"] is None else float(attrs["r"])
        self.h, self.k = float(attrs["h"]), float(attrs["k"])
        if not hasattr(self, "bad"):
            self.bad = False

    def lost(self) -> bool:
        rand = self.rng.random
        if self.probability > 0:
            return rand() < self.probability
        if self.bad:
            if rand() < self.r:
                self.bad = False
            return rand() >= self.h
        if rand() < self.p:
            self.bad = True
        return rand() >= self.k

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        if self.lost():
            self.counters.dropped += 1
            return []
        return [(now, payload)]


class LatencyStage(Stage):
    """``latency`` ms plus ``jitter`` ms, each datagram on its own, so later ones may overtake.

    ``uniform``: latency ± jitter (Toxiproxy's jitter). ``normal``: mean latency, standard
    deviation jitter (netem's ``distribution normal``). Delays below zero are cut to zero.
    """

    kind = "latency"
    attrs = (
        Attr("latency", "float", 0, minimum=0, maximum=3_600_000, doc="ms"),
        Attr("jitter", "float", 0, minimum=0, maximum=3_600_000, doc="ms"),
        Attr("distribution", "str", "uniform", choices=("uniform", "normal")),
    )

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.latency = attrs["latency"] / 1000
        self.jitter = attrs["jitter"] / 1000
        self.normal = attrs["distribution"] == "normal"

    def delay(self) -> float:
        if not self.jitter:
            return self.latency
        if self.normal:
            return max(0.0, self.rng.gauss(self.latency, self.jitter))
        return max(0.0, self.latency + self.rng.uniform(-self.jitter, self.jitter))

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        self.counters.delayed += 1
        return [(now + self.delay(), payload)]


class DuplicateStage(Stage):
    kind = "duplicate"
    attrs = (_probability("probability"),)

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.probability = attrs["probability"]

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        if self.rng.random() < self.probability:
            self.counters.duplicated += 1
            return [(now, payload), (now, payload)]
        return [(now, payload)]


class ReorderStage(Stage):
    """netem's ``reorder PROB gap GAP``, made to work without a delay on every datagram.

    As in netem, a counter of datagrams passed in order must reach ``gap - 1`` before a
    datagram may be picked, then it is picked with ``probability``; picking resets the
    counter. netem sends the picked packet ahead of delayed ones; here the picked datagram is
    held back and sent right after the next datagram (or after ``hold`` ms if none comes), so
    reordering needs no latency toxic. One datagram is held at a time, so the expected share
    reordered is ``q / (1 + max(gap - 1, 1) * q)`` for probability q.
    """

    kind = "reorder"
    attrs = (
        _probability("probability"),
        Attr("gap", "int", 1, minimum=1, maximum=1_000_000),
        Attr("hold", "float", 100, minimum=0, maximum=60_000, doc="ms"),
    )

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.probability = attrs["probability"]
        self.gap = attrs["gap"]
        self.hold = attrs["hold"] / 1000
        if not hasattr(self, "held"):
            self.held: bytes | None = None
            self.held_until = 0.0
            self.counter = 0

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        if self.held is not None:
            held, self.held = self.held, None
            self.counter += 1
            self.counters.reordered += 1
            return [(now, payload), (now, held)]
        if self.counter >= self.gap - 1 and self.rng.random() < self.probability:
            self.held, self.held_until, self.counter = payload, now + self.hold, 0
            return []
        self.counter += 1
        return [(now, payload)]

    def next_deadline(self) -> float | None:
        return self.held_until if self.held is not None else None

    def poll(self, now: float) -> list[Emission]:
        # Nothing came after it in time: release it in order, so a quiet stream loses nothing.
        if self.held is None or now < self.held_until:
            return []
        held, self.held = self.held, None
        return [(now, held)]


class CorruptStage(Stage):
    kind = "corrupt"
    attrs = (_probability("probability"),)

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.probability = attrs["probability"]

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        if payload and self.rng.random() < self.probability:
            bit = self.rng.randrange(len(payload) * 8)
            data = bytearray(payload)
            data[bit >> 3] ^= 1 << (bit & 7)
            self.counters.corrupted += 1
            return [(now, bytes(data))]
        return [(now, payload)]


class BandwidthStage(Stage):
    """A link of ``rate`` KB/s (1 KB = 1000 bytes) behind a FIFO of ``queue`` bytes.

    A datagram leaves when it has been fully sent at the link rate. It is dropped at the tail
    when the bytes not yet sent (the one on the wire included) plus its own would exceed
    ``queue``; an idle link always
    takes one datagram, so a queue smaller than a datagram slows the stream, never blackholes it.
    """

    kind = "bandwidth"
    attrs = (
        Attr(
            "rate", "float", 0, minimum=0, exclusive_minimum=True, maximum=100_000_000, doc="KB/s"
        ),
        Attr("queue", "int", 65536, minimum=0, maximum=2**31, doc="bytes"),
    )

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.bytes_per_second = attrs["rate"] * 1000
        self.queue = attrs["queue"]
        if not hasattr(self, "busy_until"):
            self.busy_until = 0.0
            # (finish time, size) of each datagram not yet fully sent, oldest first. Counting
            # whole datagrams in integers keeps the tail-drop decision exact (no float drift).
            self.in_flight: deque[tuple[float, int]] = deque()
            self.waiting = 0

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        in_flight = self.in_flight
        while in_flight and in_flight[0][0] <= now:
            self.waiting -= in_flight.popleft()[1]
        if in_flight and self.waiting + len(payload) > self.queue:
            self.counters.dropped += 1
            return []
        self.busy_until = max(now, self.busy_until) + len(payload) / self.bytes_per_second
        in_flight.append((self.busy_until, len(payload)))
        self.waiting += len(payload)
        return [(self.busy_until, payload)]


class LimitDataStage(Stage):
    """Pass whole datagrams until ``bytes`` have gone through, then drop everything after.

    A datagram that would cross the limit is dropped whole: boundaries are kept, never cut.
    """

    kind = "limit_data"
    attrs = (Attr("bytes", "int", 0, minimum=0),)

    def update(self, attrs: Mapping[str, Any]) -> None:
        self.limit = attrs["bytes"]
        if not hasattr(self, "passed"):
            self.passed = 0
            self.exhausted = False

    def feed(self, payload: bytes, now: float) -> list[Emission]:
        if self.exhausted or self.passed + len(payload) > self.limit:
            self.exhausted = True
            self.counters.dropped += 1
            return []
        self.passed += len(payload)
        return [(now, payload)]


STAGES: dict[str, type[Stage]] = {
    cls.kind: cls
    for cls in (
        LossStage,
        LatencyStage,
        DuplicateStage,
        ReorderStage,
        CorruptStage,
        BandwidthStage,
        LimitDataStage,
        NoopStage,
    )
}


@dataclass(frozen=True)
class DatagramToxicFactory:
    """The runtime object the registry keeps for a UDP toxic: validated attributes + stage class.

    Sessions call ``make_stage`` for their own stage, with their own random stream.
    """

    kind: str
    attributes: dict[str, Any]

    def make_stage(self, rng: random.Random, counters: DatagramCounters) -> Stage:
        return STAGES[self.kind](self.attributes, rng, counters)


@dataclass
class ToxicSpec:
    """One configured UDP toxic as a pipeline sees it (built by the proxy from the API's Toxic)."""

    name: str
    kind: str
    attributes: dict[str, Any]
    toxicity: float = 1.0
    counters: DatagramCounters = field(default_factory=DatagramCounters)
    # Changes on every update, so sessions know to take the new attributes.
    version: int = 0

    def make_stage(self, rng_for: Callable[[str], random.Random]) -> Stage:
        return STAGES[self.kind](self.attributes, rng_for(self.name), self.counters)
