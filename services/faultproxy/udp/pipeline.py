"""One session's chain of datagram toxics in one direction, with its own small scheduler.

Sans-I/O: the relay pushes datagrams with the current time, asks what is due, and sets one timer
for ``next_deadline()``. A datagram a stage delays waits in a heap and enters the next stage at
its due time, so a bandwidth toxic after a latency toxic sees the delayed arrival, and jittered
datagrams overtake each other as on a real network.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence

from services.faultproxy.udp.datagram_toxics import Stage, ToxicSpec


class _Entry:
    __slots__ = ("spec", "stage", "active", "version")

    def __init__(self, spec: ToxicSpec, stage: Stage, active: bool):
        self.spec, self.stage, self.active, self.version = spec, stage, active, spec.version


class DatagramPipeline:
    def __init__(self, rng_for: Callable[[str], random.Random]):
        # rng_for(label) gives this session's stream for a toxic; the relay derives it from the
        # proxy seed, the session number and the direction.
        self._rng_for = rng_for
        self._entries: list[_Entry] = []
        self._heap: list[tuple[float, int, _Entry | None, bytes]] = []
        self._seq = 0
        self._out: list[bytes] = []

    @property
    def empty(self) -> bool:
        """No toxic and nothing waiting: the relay may send straight through."""
        return not self._entries and not self._heap

    def active_names(self) -> list[str]:
        return [entry.spec.name for entry in self._entries if entry.active]

    def sync(self, specs: Sequence[ToxicSpec]) -> None:
        """Match the configured toxics live: keep state of unchanged ones, update changed ones."""
        old = {entry.spec.name: entry for entry in self._entries}
        entries = []
        for spec in specs:
            entry = old.get(spec.name)
            if entry is None or entry.spec.kind != spec.kind:
                entry = _Entry(spec, spec.make_stage(self._rng_for), self._roll(spec))
            elif entry.version != spec.version:
                entry.spec = spec
                entry.stage.update(spec.attributes)
                entry.active = self._roll(spec)
                entry.version = spec.version
            entries.append(entry)
        self._entries = entries

    def _roll(self, spec: ToxicSpec) -> bool:
        # toxicity is rolled per session, as Toxiproxy rolls it per connection; 0 never applies.
        if spec.toxicity >= 1:
            return True
        if spec.toxicity <= 0:
            return False
        return self._rng_for(spec.name + "#toxicity").random() < spec.toxicity

    def push(self, payload: bytes, now: float) -> list[bytes]:
        """Feed one datagram; return the datagrams to send now (possibly none, possibly two)."""
        self._feed(0, payload, now)
        return self.run_due(now)

    def run_due(self, now: float) -> list[bytes]:
        heap = self._heap
        while True:
            if heap and heap[0][0] <= now:
                due, _, entry, payload = heapq.heappop(heap)
                self._feed(self._index_of(entry), payload, due)
                continue
            released = False
            for index, entry in enumerate(self._entries):
                deadline = entry.stage.next_deadline()
                if deadline is not None and deadline <= now:
                    self._emit(index, entry.stage.poll(deadline), deadline)
                    released = True
            if not released:
                break
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        deadlines = [self._heap[0][0]] if self._heap else []
        for entry in self._entries:
            deadline = entry.stage.next_deadline()
            if deadline is not None:
                deadlines.append(deadline)
        return min(deadlines) if deadlines else None

    def _index_of(self, entry: _Entry | None) -> int:
        if entry is None:
            return len(self._entries)
        for index, candidate in enumerate(self._entries):
            if candidate is entry:
                return index
        # The stage it was heading for was removed: the datagram still arrives, unharmed.
        return len(self._entries)

    def _feed(self, index: int, payload: bytes, now: float) -> None:
        entries = self._entries
        while index < len(entries) and not entries[index].active:
            index += 1
        if index == len(entries):
            self._out.append(payload)
            return
        entry = entries[index]
        entry.spec.counters.datagrams_in += 1
        self._emit(index, entry.stage.feed(payload, now), now)

    def _emit(self, index: int, emissions: list[tuple[float, bytes]], now: float) -> None:
        entry = self._entries[index]
        entry.spec.counters.datagrams_out += len(emissions)
        following = self._entries[index + 1] if index + 1 < len(self._entries) else None
        for due, payload in emissions:
            if due <= now:
                self._feed(index + 1, payload, now)
            else:
                self._seq += 1
                heapq.heappush(self._heap, (due, self._seq, following, payload))
