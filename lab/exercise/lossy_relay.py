"""A one-way UDP relay between a student's sender and the same student's receiver that
loses, duplicates and reorders numbered datagrams on purpose (a seeded RNG), and records
exactly what it got from the sender and what it handed to the receiver: the ground truth
the receiver's report is compared with.

Datagrams start with their number, 4 bytes big-endian (``struct.pack("!I", seq)``). Besides
the random damage:

- *a late run*: consecutive datagrams held back and released together, after later ones:
  a receiver that assumes in-order arrival calls them lost when the gap opens;
- *a lost tail*: the last datagrams never arrive, so "lost" is not only the gaps below the
  highest number seen.

udp_relay.DamagingRelay does the same for udpstream's own wire format, both ways; this one
carries the student's format, one way.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
from dataclasses import dataclass, field

SEQ = struct.Struct("!I")


@dataclass
class LossyDamage:
    count: int  # datagrams the sender is told to send
    loss: float = 0.05
    duplicate: float = 0.04
    reorder: float = 0.04
    gap: int = 3  # a reordered datagram comes after this many later ones
    late_run: int = 8  # consecutive datagrams released together after `gap` more
    tail_loss: int = 5  # the last datagrams of the stream, all lost
    seed: int = 0


@dataclass
class Record:
    from_sender: list[int | None] = field(default_factory=list)  # None: no number in it
    delivered: list[int] = field(default_factory=list)  # in the order handed over
    late: set[int] = field(default_factory=set)  # delivered after a higher number

    def truth(self, count: int) -> dict[str, object]:
        distinct = set(self.delivered)
        return {
            "received": len(distinct),
            "duplicates": len(self.delivered) - len(distinct),
            "lost": sorted(set(range(count)) - distinct),
        }


class LossyRelay:
    def __init__(self, receiver: tuple[str, int], damage: LossyDamage) -> None:
        self.receiver, self.damage = receiver, damage
        self.rng = random.Random(damage.seed)
        self.record = Record()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", 0))
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._held: list[list] = []  # [datagram, seq, later datagrams still to pass]
        self._run = self._place_late_run()
        self._highest = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _place_late_run(self) -> range:
        d = self.damage
        usable = d.count - d.tail_loss - d.late_run - 2 * d.gap
        if d.late_run <= 0 or usable < 4 * d.late_run:
            return range(0)
        start = self.rng.randrange(usable // 4, usable)
        return range(start, start + d.late_run)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def __enter__(self) -> LossyRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        self.out.close()

    def _send(self, datagram: bytes) -> bool:
        try:
            self.out.sendto(datagram, self.receiver)
        except OSError:
            return False
        return True

    def _deliver(self, datagram: bytes, seq: int) -> None:
        if not self._send(datagram):
            return
        if seq < self._highest:
            self.record.late.add(seq)
        self._highest = max(self._highest, seq)
        self.record.delivered.append(seq)

    def _release(self, force: bool = False) -> None:
        still = []
        for item in self._held:
            item[2] -= 1
            if force or item[2] < 0:
                self._deliver(item[0], item[1])
            else:
                still.append(item)
        self._held = still

    def _arrived(self, datagram: bytes) -> None:
        seq = SEQ.unpack_from(datagram)[0] if len(datagram) >= SEQ.size else None
        self.record.from_sender.append(seq)
        d, rng = self.damage, self.rng
        if seq is None or seq >= d.count:
            # No number of this stream: passed on with the same loss and copies, so a
            # receiver that counts arrivals gets something to count, but not in the record.
            if rng.random() >= d.loss:
                for _ in range(1 + (rng.random() < d.duplicate)):
                    self._send(datagram)
            return
        self._release()
        if seq >= d.count - d.tail_loss or rng.random() < d.loss:
            return
        if seq in self._run:
            self._held.append([datagram, seq, self._run[-1] - seq + d.gap])
            return
        if rng.random() < d.reorder:
            self._held.append([datagram, seq, d.gap])
            return
        self._deliver(datagram, seq)
        if rng.random() < d.duplicate:
            self._deliver(datagram, seq)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not readable:
                self._release(force=True)  # the sender paused or finished: nothing stays held
                continue
            try:
                datagram, _ = self.sock.recvfrom(65535)
            except OSError:
                continue
            self._arrived(datagram)
