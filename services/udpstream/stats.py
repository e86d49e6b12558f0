"""Receive-side statistics of a numbered datagram stream: a small, pure library.

Feed :class:`StreamStats` one ``add(seq, sent_ns, recv_ns)`` per arrival, in arrival
order, then call :meth:`StreamStats.summary`. It has no sockets and no clock of its own,
so scenarios and exercise checks can run it on synthetic arrivals with known answers.

Definitions (every figure in :class:`StreamSummary` follows these):

- A *datagram* is identified by its sequence number; the sender numbers them 0, 1, 2, ...
- ``sent``: how many the sender sent. Given by the sender when known (its end-of-stream
  message); otherwise the highest sequence number seen + 1. Never below highest + 1.
- ``received``: distinct sequence numbers that arrived.
- ``duplicates``: arrivals of a sequence number that had already arrived. They are
  counted only here: never as received, reordered or (negatively) lost.
- ``lost``: ``sent - received``. It is computed once, at the end, so a datagram that
  arrives late (reordered) is not lost, and it can never be negative.
- ``out_of_order``: distinct arrivals whose sequence number is below the highest one
  seen before them. ``max_reorder`` is the largest such gap (highest seen - seq).
- ``jitter``: the RFC 3550 section 6.4.1 / A.8 interarrival jitter: for consecutive
  distinct arrivals i-1, i (in arrival order) ``D = (R_i - R_{i-1}) - (S_i - S_{i-1})``
  and ``J += (|D| - J) / 16``. Duplicates are left out (they are not new packets).
- One-way *delay* of a datagram is ``recv_ns - sent_ns``. Sender and receiver clocks
  may differ by an unknown offset, so the robust figures are relative to the minimum:
  ``delay_spread`` = max - min, ``delay_p50``/``delay_p99`` are percentiles above min.
- Timestamps are 64-bit nanosecond counters that may wrap: every difference is taken
  modulo 2**64 as a signed number, so a stream that crosses the wrap is measured right.
- ``throughput``: (received - 1) datagrams over the time between the first and the last
  distinct arrival, in datagrams/s and (with ``size``) bits/s of UDP payload.
- ``send_rate_pps``: the sender's own pace, from its timestamps: (highest seq - lowest
  seq) over (sent_ns of the highest - sent_ns of the lowest). Unlike throughput it does
  not depend on when the receiver got round to reading.
- A *loss burst* is a maximal run of consecutive missing sequence numbers in [0, sent);
  ``longest_loss_burst`` is its length, ``loss_bursts`` how many there were.
- *Intervals*: with the stream's ``rate`` known, sequence numbers are cut into slices of
  ``rate * interval`` datagrams (the ones a paced sender sent in each 100 ms). Each slice
  reports received, lost (expected - received, never negative) and duplicates, and the
  jitter J as it stood after the slice's last arrival. Slicing by sequence number rather
  than arrival time puts a lost datagram in the slice where it was sent, so a burst of
  loss shows where it happened.
"""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, field

U64 = 1 << 64
HALF = 1 << 63
DEFAULT_MAX_SEQ = 1 << 28  # 268 M datagrams; a 32 MiB bitmap at worst


def wrap_diff(a: int, b: int) -> int:
    """``a - b`` for 64-bit counters that may have wrapped, as a signed number."""
    return ((a - b + HALF) % U64) - HALF


@dataclass(frozen=True)
class IntervalSlice:
    """One slice of the stream (see the module docstring)."""

    index: int
    start_s: float  # when the sender sent the slice's first datagram, from stream start
    first_seq: int
    expected: int
    received: int
    lost: int
    duplicates: int
    jitter_ms: float


@dataclass(frozen=True)
class StreamSummary:
    """Every figure of a received stream, defined in this module's docstring."""

    sent: int
    received: int
    lost: int
    loss_pct: float
    duplicates: int
    out_of_order: int
    max_reorder: int
    jitter_ms: float
    delay_min_ms: float | None
    delay_max_ms: float | None
    delay_spread_ms: float | None
    delay_p50_ms: float | None  # above delay_min
    delay_p99_ms: float | None  # above delay_min
    throughput_pps: float
    throughput_bps: float
    send_rate_pps: float
    longest_loss_burst: int
    loss_bursts: int
    ignored: int  # arrivals with a sequence number beyond any plausible stream
    intervals: list[IntervalSlice] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class StreamStats:
    """Accumulates arrivals of one stream. ``add`` is cheap: it runs per datagram.

    :param rate: the sender's datagrams/s, needed only for the per-interval slices.
    :param size: bytes per datagram, needed only for ``throughput_bps``.
    :param interval: slice width in seconds (100 ms by default).
    :param max_seq: sequence numbers at or above this are counted as ``ignored``
        (a garbled or hostile datagram must not make the receiver allocate gigabytes).
    """

    def __init__(
        self,
        rate: float | None = None,
        size: int = 0,
        interval: float = 0.1,
        max_seq: int = DEFAULT_MAX_SEQ,
    ):
        self.rate = rate
        self.size = size
        self.interval = interval
        self.max_seq = max_seq
        self.slice_len = max(1, round(rate * interval)) if rate else 0
        self._seen = bytearray()
        self.arrivals = 0
        self.received = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.max_reorder = 0
        self.ignored = 0
        self.highest = -1
        self.highest_sent_ns = 0
        self.lowest = -1
        self.lowest_sent_ns = 0
        self.jitter_ns = 0.0
        self._prev_transit: int | None = None
        self._transits = array("q")
        self.first_recv_ns: int | None = None
        self.last_recv_ns: int | None = None
        self._slices: dict[int, list] = {}  # index -> [received, duplicates, jitter_ns]

    def add(self, seq: int, sent_ns: int, recv_ns: int) -> None:
        """Record one arrival (in the order the datagrams arrived)."""
        if not 0 <= seq < self.max_seq:
            self.ignored += 1
            return
        self.arrivals += 1
        byte, bit = seq >> 3, 1 << (seq & 7)
        seen = self._seen
        if byte >= len(seen):
            # Grow geometrically so a long stream costs amortised O(1) per datagram.
            seen.extend(bytes(max(byte + 1 - len(seen), len(seen))))
        slice_row = None
        if self.slice_len:
            index = seq // self.slice_len
            slice_row = self._slices.get(index)
            if slice_row is None:
                slice_row = self._slices[index] = [0, 0, 0.0]
        if seen[byte] & bit:
            self.duplicates += 1
            if slice_row is not None:
                slice_row[1] += 1
            return
        seen[byte] |= bit
        self.received += 1
        if seq < self.highest:
            self.out_of_order += 1
            if self.highest - seq > self.max_reorder:
                self.max_reorder = self.highest - seq
        else:
            self.highest, self.highest_sent_ns = seq, sent_ns
        if seq < self.lowest or self.lowest < 0:
            self.lowest, self.lowest_sent_ns = seq, sent_ns
        transit = wrap_diff(recv_ns, sent_ns)
        if self._prev_transit is not None:
            d = transit - self._prev_transit
            self.jitter_ns += (abs(d) - self.jitter_ns) / 16.0
        self._prev_transit = transit
        self._transits.append(transit)
        if self.first_recv_ns is None:
            self.first_recv_ns = recv_ns
        self.last_recv_ns = recv_ns
        if slice_row is not None:
            slice_row[0] += 1
            slice_row[2] = self.jitter_ns

    # -- live figures (for progress displays) --------------------------------------------
    @property
    def lost_so_far(self) -> int:
        """Missing below the highest sequence number seen (late ones may still come)."""
        return max(0, self.highest + 1 - self.received)

    # -- the end ------------------------------------------------------------------------
    def _is_seen(self, seq: int) -> bool:
        byte = seq >> 3
        return byte < len(self._seen) and bool(self._seen[byte] & (1 << (seq & 7)))

    def _loss_bursts(self, sent: int) -> tuple[int, int]:
        """(longest run, number of runs) of missing sequence numbers in [0, sent)."""
        longest = runs = current = 0
        seen = self._seen
        full_bytes = min(sent >> 3, len(seen))
        seq = 0
        while seq < sent:
            byte = seq >> 3
            if seq & 7 == 0 and byte < full_bytes and seen[byte] == 0xFF:
                # Whole byte present: skip 8 at once (the common case on a clean path).
                if current:
                    longest, current = max(longest, current), 0
                seq += 8
                continue
            if self._is_seen(seq):
                if current:
                    longest, current = max(longest, current), 0
            else:
                if current == 0:
                    runs += 1
                current += 1
            seq += 1
        return max(longest, current), runs

    def _delay_figures(self) -> tuple[float | None, ...]:
        if not self._transits:
            return None, None, None, None, None
        ordered = sorted(self._transits)
        low, high = ordered[0], ordered[-1]

        def pct(p: float) -> float:
            # Nearest-rank percentile: the smallest value with at least p% at or below it.
            rank = max(1, -(-len(ordered) * p // 100))
            return (ordered[int(rank) - 1] - low) / 1e6

        return low / 1e6, high / 1e6, (high - low) / 1e6, pct(50), pct(99)

    def summary(self, sent: int | None = None) -> StreamSummary:
        """All figures. ``sent`` is the sender's count, when it told us (see docstring)."""
        total = max(sent or 0, self.highest + 1, 0)
        lost = max(0, total - self.received)
        longest, runs = self._loss_bursts(total)
        d_min, d_max, spread, p50, p99 = self._delay_figures()
        pps = 0.0
        if self.received >= 2 and self.first_recv_ns is not None and self.last_recv_ns is not None:
            span = wrap_diff(self.last_recv_ns, self.first_recv_ns)
            if span > 0:
                pps = (self.received - 1) * 1e9 / span
        send_pps = 0.0
        send_span = wrap_diff(self.highest_sent_ns, self.lowest_sent_ns)
        if self.highest > self.lowest >= 0 and send_span > 0:
            send_pps = (self.highest - self.lowest) * 1e9 / send_span
        return StreamSummary(
            sent=total,
            received=self.received,
            lost=lost,
            loss_pct=100.0 * lost / total if total else 0.0,
            duplicates=self.duplicates,
            out_of_order=self.out_of_order,
            max_reorder=self.max_reorder,
            jitter_ms=self.jitter_ns / 1e6,
            delay_min_ms=d_min,
            delay_max_ms=d_max,
            delay_spread_ms=spread,
            delay_p50_ms=p50,
            delay_p99_ms=p99,
            throughput_pps=pps,
            throughput_bps=pps * self.size * 8,
            send_rate_pps=send_pps,
            longest_loss_burst=longest,
            loss_bursts=runs,
            ignored=self.ignored,
            intervals=self._intervals(total),
        )

    def _intervals(self, total: int) -> list[IntervalSlice]:
        if not self.slice_len or total == 0:
            return []
        out = []
        jitter = 0.0
        for index in range(-(-total // self.slice_len)):
            first = index * self.slice_len
            expected = min(self.slice_len, total - first)
            received, dups, j = self._slices.get(index, (0, 0, None))
            # A slice with no arrival keeps the jitter the previous one ended with.
            jitter = j if j is not None and received else jitter
            out.append(
                IntervalSlice(
                    index=index,
                    start_s=round(index * self.interval, 6),
                    first_seq=first,
                    expected=expected,
                    received=received,
                    lost=max(0, expected - received),
                    duplicates=dups,
                    jitter_ms=jitter / 1e6,
                )
            )
        return out
