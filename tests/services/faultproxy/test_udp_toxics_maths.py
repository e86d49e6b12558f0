"""The per-datagram toxic maths, with no sockets: exact counts from seeded streams."""

from __future__ import annotations

import random
import statistics

import pytest

from services.faultproxy.core.toxic_types import ToxicError
from services.faultproxy.udp.datagram_toxics import STAGES, ToxicSpec
from services.faultproxy.udp.pipeline import DatagramPipeline
from services.faultproxy.udp.rng import derive_rng
from services.faultproxy.udp.toxic_registration import register_udp_toxics

TYPES = {t.name: t for t in register_udp_toxics()}


def spec(kind: str, name: str | None = None, toxicity: float = 1.0, **attrs) -> ToxicSpec:
    return ToxicSpec(name or kind, kind, TYPES[kind].normalize(attrs), toxicity)


def pipeline(*specs: ToxicSpec, seed: int | None = 1) -> DatagramPipeline:
    pipe = DatagramPipeline(lambda label: derive_rng(seed, 0, "upstream", label))
    pipe.sync(list(specs))
    return pipe


def numbered(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


def run_all(pipe: DatagramPipeline, datagrams: list[bytes], spacing: float = 0.001) -> list[bytes]:
    """Push datagrams ``spacing`` s apart and collect everything that comes out, in order."""
    out: list[bytes] = []
    now = 0.0
    for payload in datagrams:
        out += pipe.run_due(now)
        out += pipe.push(payload, now)
        now += spacing
    while (deadline := pipe.next_deadline()) is not None:
        out += pipe.run_due(deadline)
    return out


def test_random_loss_is_ten_percent_and_reproducible_with_a_seed():
    loss = spec("loss", probability=0.1)
    first = run_all(pipeline(loss, seed=42), numbered(50_000))
    assert 0.09 <= 1 - len(first) / 50_000 <= 0.11
    assert loss.counters.dropped == 50_000 - len(first)
    again = run_all(pipeline(spec("loss", probability=0.1), seed=42), numbered(50_000))
    assert again == first
    other = run_all(pipeline(spec("loss", probability=0.1), seed=43), numbered(50_000))
    assert other != first


def loss_runs(received: list[bytes], sent: int) -> list[int]:
    got = {int.from_bytes(p, "big") for p in received}
    runs, current = [], 0
    for seq in range(sent):
        if seq in got:
            if current:
                runs.append(current)
            current = 0
        else:
            current += 1
    return runs + ([current] if current else [])


def test_gilbert_elliott_bursts_last_one_over_r():
    # h = 0, k = 1: every datagram in the bad state is lost, none in the good state, so a
    # burst is a stay in the bad state: geometric with mean 1/r = 4; loss = p/(p+r) = 3.8%.
    out = run_all(pipeline(spec("loss", p=0.01, r=0.25), seed=7), numbered(50_000))
    runs = loss_runs(out, 50_000)
    assert len(runs) > 300
    assert statistics.mean(runs) == pytest.approx(4.0, rel=0.15)
    assert 1 - len(out) / 50_000 == pytest.approx(0.01 / 0.26, rel=0.15)


def test_gilbert_elliott_with_p_alone_is_random_loss_of_p():
    out = run_all(pipeline(spec("loss", p=0.2), seed=3), numbered(20_000))
    assert 1 - len(out) / 20_000 == pytest.approx(0.2, abs=0.015)
    assert statistics.mean(loss_runs(out, 20_000)) == pytest.approx(1 / 0.8, rel=0.1)


def test_gilbert_elliott_k_and_h_lose_in_both_states():
    # Stationary bad share p/(p+r) = 0.5; loss = 0.5 * (1 - h) + 0.5 * (1 - k) = 0.5*0.6 + 0.5*0.1.
    out = run_all(pipeline(spec("loss", p=0.1, r=0.1, h=0.4, k=0.9), seed=5), numbered(40_000))
    assert 1 - len(out) / 40_000 == pytest.approx(0.35, abs=0.03)


def test_duplicate_count_matches_probability():
    dup = spec("duplicate", probability=0.05)
    out = run_all(pipeline(dup, seed=9), numbered(20_000))
    assert len(out) == 20_000 + dup.counters.duplicated
    assert dup.counters.duplicated / 20_000 == pytest.approx(0.05, abs=0.006)


@pytest.mark.parametrize(("probability", "gap"), [(0.1, 1), (0.25, 5), (0.5, 3)])
def test_reorder_share_matches_netem_gap_model(probability: float, gap: int):
    reorder = spec("reorder", probability=probability, gap=gap)
    out = run_all(pipeline(reorder, seed=11), numbered(30_000))
    assert sorted(out) == numbered(30_000)  # nothing lost or duplicated
    seqs = [int.from_bytes(p, "big") for p in out]
    late = sum(1 for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
    expected = probability / (1 + max(gap - 1, 1) * probability)
    assert late == reorder.counters.reordered
    assert late / 30_000 == pytest.approx(expected, rel=0.1)


def test_reorder_releases_a_held_datagram_after_hold_when_nothing_follows():
    pipe = pipeline(spec("reorder", probability=1.0, hold=50))
    assert pipe.push(b"only", 0.0) == []
    assert pipe.next_deadline() == pytest.approx(0.05)
    assert pipe.run_due(0.049) == []
    assert pipe.run_due(0.05) == [b"only"]


def test_corrupt_flips_exactly_one_bit():
    corrupt = spec("corrupt", probability=0.3)
    sent = [bytes(random.Random(i).randbytes(64)) for i in range(5000)]
    out = run_all(pipeline(corrupt, seed=2), sent)
    flipped = [
        sum(bin(a ^ b).count("1") for a, b in zip(x, y, strict=True))
        for x, y in zip(sent, out, strict=True)
    ]
    assert set(flipped) == {0, 1}
    assert flipped.count(1) == corrupt.counters.corrupted
    assert corrupt.counters.corrupted / 5000 == pytest.approx(0.3, abs=0.03)
    assert run_all(pipeline(spec("corrupt", probability=1.0)), [b""]) == [b""]


def delays(pipe: DatagramPipeline, n: int, spacing: float) -> tuple[list[float], list[int]]:
    """(delay of each datagram, order they came out) for n datagrams sent ``spacing`` apart."""
    sent_at = {}
    got: list[tuple[float, bytes]] = []
    now = 0.0
    for payload in numbered(n):
        sent_at[payload] = now
        got += [(now, p) for p in pipe.push(payload, now)]
        now += spacing
        while (deadline := pipe.next_deadline()) is not None and deadline <= now:
            got += [(deadline, p) for p in pipe.run_due(deadline)]
    while (deadline := pipe.next_deadline()) is not None:
        got += [(deadline, p) for p in pipe.run_due(deadline)]
    return [t - sent_at[p] for t, p in got], [int.from_bytes(p, "big") for _, p in got]


def test_uniform_jitter_stays_within_latency_plus_minus_jitter_and_overtakes():
    spread, order = delays(pipeline(spec("latency", latency=50, jitter=20)), 5000, 0.001)
    assert len(spread) == 5000
    assert min(spread) >= 0.030 - 1e-9 and max(spread) <= 0.070 + 1e-9
    assert statistics.mean(spread) == pytest.approx(0.050, abs=0.002)
    assert order != sorted(order)  # datagrams 1 ms apart with ±20 ms jitter overtake


def test_normal_jitter_has_the_given_standard_deviation():
    spread, _ = delays(
        pipeline(spec("latency", latency=100, jitter=10, distribution="normal")), 5000, 0.001
    )
    assert statistics.mean(spread) == pytest.approx(0.100, abs=0.002)
    assert statistics.stdev(spread) == pytest.approx(0.010, rel=0.1)


def test_bandwidth_paces_at_rate_and_tail_drops_when_the_queue_is_full():
    # 100 KB/s, 1000-byte datagrams: 10 ms each. All sent at once: the queue counts every
    # byte not yet sent, so 5 fit in 5000 bytes and the other 15 are dropped at the tail.
    bandwidth = spec("bandwidth", rate=100, queue=5000)
    pipe = pipeline(bandwidth)
    for payload in numbered(20):
        assert pipe.push(payload.ljust(1000, b"."), 0.0) == []
    assert bandwidth.counters.dropped == 15
    times = []
    while (deadline := pipe.next_deadline()) is not None:
        times += [deadline] * len(pipe.run_due(deadline))
    assert times == pytest.approx([0.01 * i for i in range(1, 6)])


def test_limit_data_passes_whole_datagrams_up_to_the_limit_then_nothing():
    limit = spec("limit_data", bytes=25)
    out = run_all(pipeline(limit), [b"x" * 10, b"y" * 10, b"z" * 10, b"w" * 2])
    assert out == [b"x" * 10, b"y" * 10]
    assert limit.counters.dropped == 2


def test_toxicity_zero_never_applies_and_noop_changes_nothing():
    out = run_all(pipeline(spec("loss", probability=1.0, toxicity=0.0)), numbered(100))
    assert out == numbered(100)
    assert run_all(pipeline(spec("noop")), numbered(10)) == numbered(10)


def test_live_update_keeps_state_and_removal_delivers_held_datagrams():
    latency = spec("latency", latency=100)
    pipe = pipeline(latency)
    assert pipe.push(b"a", 0.0) == []
    pipe.sync([])  # toxic removed while "a" waits: it still arrives, at its due time
    assert pipe.push(b"b", 0.01) == [b"b"]
    assert pipe.run_due(0.1) == [b"a"]
    loss = spec("loss", probability=0.0)
    pipe.sync([loss])
    assert pipe.push(b"c", 0.2) == [b"c"]
    pipe.sync([ToxicSpec("loss", "loss", TYPES["loss"].normalize({"probability": 1.0}), version=1)])
    assert pipe.push(b"d", 0.3) == []


@pytest.mark.parametrize(
    ("kind", "attrs", "message"),
    [
        ("loss", {"probability": 10}, "loss.probability must be <= 1"),
        ("loss", {"probability": 0.1, "p": 0.2}, "not both"),
        ("loss", {"p": 0.1, "r": "x"}, "r must be a probability"),
        ("latency", {"distribution": "pareto"}, "distribution must be one of"),
        ("latency", {"latency": -1}, "latency.latency must be >= 0"),
        ("bandwidth", {"rate": 0}, "bandwidth.rate must be > 0"),
        ("reorder", {"gap": 0}, "reorder.gap must be >= 1"),
        ("duplicate", {"probability": "often"}, "must be a number"),
    ],
)
def test_bad_attributes_get_a_message_naming_the_attribute(kind, attrs, message):
    with pytest.raises(ToxicError, match=message):
        TYPES[kind].normalize(attrs)


def test_every_stage_is_registered_for_udp_only():
    assert set(TYPES) == set(STAGES)
    assert all(t.protocols == frozenset({"udp"}) and t.kind == "datagram" for t in TYPES.values())
