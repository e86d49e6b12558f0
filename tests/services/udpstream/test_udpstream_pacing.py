"""The pacer with a fake clock: exact rates whatever the sleeps do, bounded spinning."""

from __future__ import annotations

import random

import pytest

from services.udpstream.pacing import Pacer


def run(pacer: Pacer, oversleep_ns, now: int = 0) -> list[int]:
    """Drive a pacer as the server does, with sleeps that overshoot; return send times."""
    sends = []
    while not pacer.done:
        n = pacer.due(now)
        sends += [now] * n
        pacer.mark_sent(n)
        gap, spin = pacer.wait_ns(now)
        if pacer.done:
            break
        if spin:
            now += gap  # a spin ends exactly on time
        else:
            now += max(gap, 0) + oversleep_ns()
    return sends


@pytest.mark.parametrize("rate", [1000, 10_000, 50_000])
def test_rate_over_a_run_is_exact_despite_oversleeping(rate):
    rng = random.Random(rate)
    pacer = Pacer(rate, start_ns=0, count=rate)  # one second
    sends = run(pacer, lambda: rng.randint(50_000, 150_000))  # the OS oversleeps 50-150 us
    assert len(sends) == rate
    achieved = (len(sends) - 1) / ((sends[-1] - sends[0]) / 1e9)
    assert achieved == pytest.approx(rate, rel=0.01)
    # nothing ever goes out before its due time
    assert all(t >= pacer.due_at_ns(i) for i, t in enumerate(sends))


def test_high_rates_send_small_bursts_low_rates_single_datagrams():
    pacer = Pacer(50_000, 0, count=1000)
    assert pacer.due(0) == 1
    pacer.mark_sent(1)
    assert pacer.due(100_000) == 5  # 100 us late at 20 us spacing: 5 due (seqs 1..5)
    slow = Pacer(1000, 0, count=10)
    slow.mark_sent(slow.due(0))
    assert slow.due(500_000) == 0


def test_spin_is_a_small_share_of_the_interval_and_only_at_low_rates():
    assert Pacer(1000, 0).spin_ns == 100_000  # 10 % of 1 ms
    assert Pacer(10, 0).spin_ns == 100_000  # never more than 100 us
    assert Pacer(50_000, 0).spin_ns == 0  # bursts instead
    assert Pacer(50_000, 0, quantum_ns=1).spin_ns == 2_000  # 10 % of 20 us
    p = Pacer(1000, 0)
    p.mark_sent(1)
    assert p.wait_ns(0) == (1_000_000, False)  # far: sleep
    assert p.wait_ns(950_000) == (50_000, True)  # close: spin


def test_high_rates_wake_once_per_quantum():
    p = Pacer(10_000, 0, count=25, quantum_ns=1_000_000)
    assert p.batch == 10
    p.mark_sent(p.due(0))
    assert p.wait_ns(0) == (1_000_000, False)  # sleep until seq 10 is due: seqs 1..10 then
    assert p.due(1_000_000) == 10
    p.mark_sent(20)
    assert p.wait_ns(1_950_000) == (450_000, False)  # last batch is short: seq 24 at 2.4 ms


def test_catch_up_is_bounded_and_rebase_skips_it():
    p = Pacer(10_000, 0, count=10_000, max_burst=64)
    assert p.due(1_000_000_000) == 64  # a 1 s stall: 64 now, the rest on the next turns
    p.mark_sent(64)
    p.rebase(2_000_000_000)
    assert p.due(2_000_000_000) == 1 and p.next_due_ns() == 2_000_000_000


def test_a_long_stall_slides_the_schedule_instead_of_flooding():
    p = Pacer(1000, 0, count=5000, max_burst=10_000, max_lag_ns=200_000_000)
    p.mark_sent(p.due(0))
    # paused for 3 s: seq 1 was due at 1 ms; the schedule slides so that it is due 200 ms
    # ago, and only those 200 ms worth come at once: seqs 1..201 (both ends inclusive)
    assert p.due(3_000_000_000) == 201
    assert p.slipped_ns == 3_000_000_000 - 1_000_000 - 200_000_000
    p.mark_sent(201)
    assert p.due(3_000_000_000) == 0 and p.next_due_ns() == 3_001_000_000


def test_count_ends_the_stream():
    p = Pacer(100, 0, count=3)
    assert p.due(10**12) == 3
    p.mark_sent(3)
    assert p.done and p.due(10**13) == 0 and p.next_due_ns() is None


def test_bad_rate():
    with pytest.raises(ValueError, match="rate must be positive"):
        Pacer(0, 0)
