"""A UDP relay between a student's program and udpstream that damages the stream on
purpose (loss, duplicates, reordering, from a seeded RNG) and records exactly what it
delivered. Its record, run through the lab's own statistics library, is the ground truth
a student's figures are compared with: the lab's measurement of the very same run.

Besides the random damage, two patterns make plausible wrong definitions come out far
from the true figures, not within the tolerance:

- *late runs*: a run of consecutive datagrams held back and released together, in order,
  a few datagrams later. Every one of them is below the highest number seen, but only the
  first is below the arrival just before it;
- *a lost tail*: the last datagrams of the stream never arrive, so the highest number seen
  + 1 is not how many were sent.
"""

from __future__ import annotations

import json
import random
import select
import socket
import threading
from dataclasses import dataclass, field

from services.udpstream import wire
from services.udpstream.stats import StreamStats, StreamSummary

DATA_PREFIX = wire.PREFIX.pack(wire.MAGIC, wire.VERSION, wire.KIND_DATA)


@dataclass
class Damage:
    loss: float = 0.05
    duplicate: float = 0.03
    reorder: float = 0.05
    gap: int = 3  # a reordered datagram is released after this many later ones
    seed: int = 0
    count: int = 0  # the stream's length, which places the patterns below (0: none)
    late_runs: int = 3  # runs of consecutive datagrams released together after `gap` more
    run_length: int = 12
    tail_loss: int = 10  # the last datagrams of the stream, all lost


@dataclass
class Delivered:
    """What the relay handed to the client, in order."""

    arrivals: list[tuple[int, int]] = field(default_factory=list)  # (seq, sent_ns)
    dropped: int = 0
    sent: int | None = None  # from the server's end message
    stream: int | None = None


class DamagingRelay:
    def __init__(self, upstream: tuple[str, int], damage: Damage) -> None:
        self.damage = damage
        self.rng = random.Random(damage.seed)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.listener.bind(("127.0.0.1", 0))
        self.upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.upstream.connect(upstream)
        self.client: tuple[str, int] | None = None
        self.delivered = Delivered()
        self._held: list[list] = []  # [datagram, later datagrams still to pass]
        self._late_run_end = self._place_late_runs()  # seq -> last seq of its run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _place_late_runs(self) -> dict[int, int]:
        """One run in each equal slice of the stream (before the tail), at a random place."""
        d = self.damage
        usable = d.count - d.tail_loss - 2 * d.gap
        if d.count <= 0 or d.late_runs <= 0 or usable < d.late_runs * (d.run_length + d.gap) * 2:
            return {}
        ends: dict[int, int] = {}
        size = usable // d.late_runs
        for i in range(d.late_runs):
            start = i * size + self.rng.randrange(d.gap, size - d.run_length - d.gap)
            end = start + d.run_length - 1
            ends.update({seq: end for seq in range(start, end + 1)})
        return ends

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def __enter__(self) -> DamagingRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.listener.close()
        self.upstream.close()

    # -- forwarding ------------------------------------------------------------------------
    def _deliver(self, datagram: bytes) -> None:
        if self.client is None:
            return
        try:
            self.listener.sendto(datagram, self.client)
        except OSError:
            return  # the client went away; what it missed is its own loss, not ours to count
        _, _, _, sid, seq, sent_ns, _ = wire.DATA_HEADER.unpack_from(datagram)
        self.delivered.stream = sid
        self.delivered.arrivals.append((seq, sent_ns))

    def _release_held(self, force: bool = False) -> None:
        still = []
        for item in self._held:
            item[1] -= 1
            if force or item[1] < 0:
                self._deliver(item[0])
            else:
                still.append(item)
        self._held = still

    def _downstream(self, datagram: bytes) -> None:
        if not datagram.startswith(DATA_PREFIX) or len(datagram) < wire.DATA_HEADER_SIZE:
            self._note_reply(datagram)
            if self.client is not None:
                self.listener.sendto(datagram, self.client)
            return
        d, rng = self.damage, self.rng
        self._release_held()
        seq = wire.DATA_HEADER.unpack_from(datagram)[4]
        if d.count and seq >= d.count - d.tail_loss:
            self.delivered.dropped += 1  # the lost tail
            return
        if rng.random() < d.loss:
            self.delivered.dropped += 1
            return
        if seq in self._late_run_end:
            # Held until `gap` datagrams after the run's last one: the whole run then
            # comes out together, in order (each later datagram, lost or not, counts down).
            self._held.append([datagram, self._late_run_end[seq] - seq + d.gap])
            return
        if rng.random() < d.reorder:
            self._held.append([datagram, d.gap])
            return
        self._deliver(datagram)
        if rng.random() < d.duplicate:
            self._deliver(datagram)

    def _note_reply(self, datagram: bytes) -> None:
        if not datagram.startswith(wire.REPLY_PREFIX):
            return
        try:
            reply = json.loads(datagram[wire.PREFIX_SIZE :])
        except ValueError:
            return
        if isinstance(reply, dict) and reply.get("type") == "end":
            self._release_held(force=True)  # nothing is held back past the end of the stream
            if isinstance(reply.get("sent"), int):
                self.delivered.sent = reply["sent"]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self.listener, self.upstream], [], [], 0.05)
            except (OSError, ValueError):
                return
            for sock in readable:
                try:
                    if sock is self.listener:
                        datagram, addr = self.listener.recvfrom(65535)
                        self.client = addr
                        self.upstream.send(datagram)
                    else:
                        self._downstream(self.upstream.recv(65535))
                except OSError:
                    continue  # ICMP errors and the like: UDP carries on

    # -- the lab's measurement ---------------------------------------------------------------
    def measurement(self) -> StreamSummary:
        stats = StreamStats()
        for seq, sent_ns in self.delivered.arrivals:
            stats.add(seq, sent_ns, 0)
        return stats.summary(sent=self.delivered.sent)
