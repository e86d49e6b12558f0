"""The statistics library on synthetic arrivals whose answers are worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.udpstream.stats import StreamStats, wrap_diff

U64 = 1 << 64


def feed(stats: StreamStats, arrivals) -> StreamStats:
    for seq, sent_ns, recv_ns in arrivals:
        stats.add(seq, sent_ns, recv_ns)
    return stats


def test_wrap_diff_is_signed_modulo_2_64():
    assert wrap_diff(5, 3) == 2
    assert wrap_diff(3, 5) == -2
    assert wrap_diff(10, U64 - 10) == 20  # a crossed the wrap
    assert wrap_diff(U64 - 10, 10) == -20


def test_empty_stream():
    s = StreamStats(rate=1000).summary()
    assert (s.sent, s.received, s.lost, s.loss_pct, s.duplicates, s.out_of_order) == (
        0,
        0,
        0,
        0.0,
        0,
        0,
    )
    assert s.jitter_ms == 0.0 and s.throughput_pps == 0.0 and s.send_rate_pps == 0.0
    assert s.delay_min_ms is None and s.delay_spread_ms is None and s.delay_p99_ms is None
    assert (s.longest_loss_burst, s.loss_bursts, s.intervals) == (0, 0, [])


def test_empty_stream_with_known_sent_is_all_lost():
    s = StreamStats(rate=1000).summary(sent=5)
    assert (s.sent, s.received, s.lost, s.loss_pct) == (5, 0, 5, 100.0)
    assert (s.longest_loss_burst, s.loss_bursts) == (5, 1)
    assert [(i.expected, i.received, i.lost) for i in s.intervals] == [(5, 0, 5)]


# transits 1000, 1050, 1000, 1100 ns -> D = 50, 50, 100
# J1 = 50/16 = 3.125; J2 = 3.125 + (50 - 3.125)/16 = 6.0546875;
# J3 = 6.0546875 + (100 - 6.0546875)/16 = 11.92626953125 ns
JITTER_NS = 11.92626953125


def test_rfc3550_jitter_and_delay_by_hand():
    s = feed(
        StreamStats(size=100), [(0, 0, 1000), (1, 100, 1150), (2, 200, 1200), (3, 300, 1400)]
    ).summary()
    assert s.jitter_ms == pytest.approx(JITTER_NS / 1e6, abs=1e-15)
    assert s.delay_min_ms == pytest.approx(0.001)
    assert s.delay_max_ms == pytest.approx(0.0011)
    assert s.delay_spread_ms == pytest.approx(0.0001)
    # sorted transits 1000 1000 1050 1100: nearest-rank p50 = 2nd = 1000, p99 = 4th = 1100
    assert s.delay_p50_ms == pytest.approx(0.0)
    assert s.delay_p99_ms == pytest.approx(0.0001)
    # 3 intervals over 1400 - 1000 = 400 ns
    assert s.throughput_pps == pytest.approx(3e9 / 400)
    assert s.throughput_bps == pytest.approx(3e9 / 400 * 800)
    assert (s.sent, s.received, s.lost) == (4, 4, 0)
    assert s.send_rate_pps == pytest.approx(3e9 / 300)  # seqs 0..3 sent over 300 ns


def test_timestamps_that_wrap_64_bits_give_the_same_figures():
    base = U64 - 250  # sender's clock crosses 2**64 between datagram 2 and 3
    sent = [(base + 100 * i) % U64 for i in range(4)]
    transits = [1000, 1050, 1000, 1100]
    arrivals = [(i, sent[i], (sent[i] + transits[i]) % U64) for i in range(4)]
    assert arrivals[3][1] == 50 and arrivals[0][2] == 750  # the wrap really happens
    s = feed(StreamStats(), arrivals).summary()
    assert s.jitter_ms == pytest.approx(JITTER_NS / 1e6, abs=1e-15)
    assert s.delay_min_ms == pytest.approx(0.001)
    assert s.delay_spread_ms == pytest.approx(0.0001)
    assert s.throughput_pps == pytest.approx(3e9 / 400)
    assert s.send_rate_pps == pytest.approx(3e9 / 300)


def test_receive_clock_wrapping_mid_stream():
    # Receiver timestamps wrap (recv 2**64-100 then 50): the span is 150 ns, not -2**64.
    s = feed(StreamStats(), [(0, 0, U64 - 100), (1, 100, 50)]).summary()
    assert s.throughput_pps == pytest.approx(1e9 / 150)
    # transit 0: -100 (signed), transit 1: 50 - 100 = -50 -> D = 50 -> J = 50/16
    assert s.jitter_ms == pytest.approx(50 / 16 / 1e6)


def test_loss_duplicates_and_reorder_are_separate():
    # seqs 0 1 3 2 2 5 9 of 10 sent: 2 is late (reordered, not lost), then duplicated.
    arrivals = [(q, q * 10, q * 10 + 5) for q in (0, 1, 3, 2, 2, 5, 9)]
    s = feed(StreamStats(), arrivals).summary(sent=10)
    assert s.received == 6  # 0 1 2 3 5 9
    assert s.duplicates == 1
    assert s.out_of_order == 1 and s.max_reorder == 1  # 2 came after 3
    assert s.lost == 4 and s.loss_pct == pytest.approx(40.0)  # 4 6 7 8
    assert (s.longest_loss_burst, s.loss_bursts) == (3, 2)  # [4], [6 7 8]


def test_tail_loss_counts_only_with_the_senders_count():
    arrivals = [(q, 0, 1) for q in (0, 1, 3, 2, 2, 5, 9)]
    assert feed(StreamStats(), arrivals).summary().lost == 4  # sent unknown: highest + 1 = 10
    s = feed(StreamStats(), arrivals).summary(sent=12)
    assert (s.lost, s.longest_loss_burst, s.loss_bursts) == (6, 3, 3)  # [4] [6 7 8] [10 11]


def test_max_reorder_distance():
    s = feed(StreamStats(), [(q, q * 10, 100) for q in (0, 5, 1, 2, 3, 4)]).summary()
    assert (s.out_of_order, s.max_reorder, s.lost, s.duplicates) == (4, 4, 0, 0)
    assert s.send_rate_pps == pytest.approx(5e9 / 50)  # lowest 0 at 0 ns, highest 5 at 50 ns


def test_duplicate_is_not_reorder():
    s = feed(StreamStats(), [(q, 0, 0) for q in (0, 1, 2, 0, 1)]).summary()
    assert (s.received, s.duplicates, s.out_of_order, s.lost) == (3, 2, 0, 0)


def test_loss_is_never_negative():
    # The sender claims 2 but seq 5 arrived, and duplicates abound: sent becomes 6.
    s = feed(StreamStats(), [(q, 0, 0) for q in (5, 5, 5, 0)]).summary(sent=2)
    assert (s.sent, s.received, s.lost, s.duplicates) == (6, 2, 4, 2)
    assert s.lost >= 0
    only_dups = feed(StreamStats(), [(0, 0, 0)] * 50).summary(sent=1)
    assert (only_dups.lost, only_dups.duplicates, only_dups.received) == (0, 49, 1)


def test_duplicates_are_left_out_of_jitter():
    with_dup = feed(StreamStats(), [(0, 0, 1000), (0, 0, 9000), (1, 100, 1150)]).summary()
    assert with_dup.jitter_ms == pytest.approx(50 / 16 / 1e6)


def test_out_of_range_sequence_is_ignored_not_allocated():
    stats = StreamStats(max_seq=1000)
    feed(stats, [(0, 0, 0), (U64 - 1, 0, 0), (-1, 0, 0), (999, 0, 0)])
    s = stats.summary()
    assert (s.ignored, s.received, s.sent) == (2, 2, 1000)


def test_intervals_show_where_the_burst_was():
    # 100/s in 100 ms slices = 10 seqs per slice; 12..17 lost, 25 duplicated.
    arrivals = [(q, q * 10_000_000, q * 10_000_000 + 1_000) for q in range(30) if not 12 <= q <= 17]
    arrivals.append((25, 250_000_000, 250_000_000 + 1_000))
    s = feed(StreamStats(rate=100, interval=0.1), arrivals).summary(sent=30)
    rows = [
        (i.start_s, i.first_seq, i.expected, i.received, i.lost, i.duplicates) for i in s.intervals
    ]
    assert rows == [(0.0, 0, 10, 10, 0, 0), (0.1, 10, 10, 4, 6, 0), (0.2, 20, 10, 10, 0, 1)]
    assert (s.lost, s.longest_loss_burst, s.loss_bursts) == (6, 6, 1)
    assert all(i.jitter_ms == 0 for i in s.intervals)  # constant transit: no jitter


def test_last_interval_is_partial_and_jitter_is_sampled_per_slice():
    # 10/s, 100 ms slices of 1 seq: transits 0, 100, 100 -> D = 100, 0
    # J after seq1 = 100/16 = 6.25 ns; after seq2 = 6.25 * 15/16 = 5.859375 ns; slice 3 keeps it
    arrivals = [(0, 0, 0), (1, 100_000_000, 100_000_100), (2, 200_000_000, 200_000_100)]
    s = feed(StreamStats(rate=10, interval=0.1), arrivals).summary(sent=4)
    assert [i.received for i in s.intervals] == [1, 1, 1, 0]
    assert [i.lost for i in s.intervals] == [0, 0, 0, 1]
    assert [i.jitter_ms for i in s.intervals] == pytest.approx(
        [0.0, 6.25e-6, 5.859375e-6, 5.859375e-6]
    )


def test_live_lost_so_far_ignores_the_future():
    stats = feed(StreamStats(), [(0, 0, 0), (3, 0, 0)])
    assert stats.lost_so_far == 2
    stats.add(1, 0, 0)
    assert stats.lost_so_far == 1


def test_long_clean_stream_bursts_fast_path():
    stats = StreamStats(rate=1000)
    for q in range(100_003):
        if q != 77_777:
            stats.add(q, q, q + 10)
    s = stats.summary(sent=100_005)
    assert (s.received, s.lost, s.longest_loss_burst, s.loss_bursts) == (100_002, 3, 2, 2)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=200), max_size=300),
    st.integers(min_value=0, max_value=250),
)
def test_invariants_on_any_arrival_order(seqs, sent):
    stats = StreamStats(rate=100, size=10)
    for i, seq in enumerate(seqs):
        stats.add(seq, seq * 1000, seq * 1000 + 50 + (i % 7))
    s = stats.summary(sent=sent)
    distinct = set(seqs)
    assert s.received == len(distinct)
    assert s.duplicates == len(seqs) - len(distinct)
    assert s.sent == max(sent, max(distinct, default=-1) + 1)
    assert s.lost == s.sent - s.received >= 0
    assert s.longest_loss_burst <= s.lost and (s.loss_bursts == 0) == (s.lost == 0)
    assert sum(i.lost for i in s.intervals) == s.lost
    assert sum(i.received for i in s.intervals) == s.received
    assert s.out_of_order <= s.received and s.max_reorder <= 200
