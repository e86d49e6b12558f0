"""Exercise 08: UDP loss, duplicates and reordering. The program's figures must match the
lab's measurement of the same run: a relay between the program and udpstream damages the
stream (seeded, so each run differs) and records exactly what it delivered; the lab's
statistics library (services/udpstream/stats.py) turns that record into the true figures.
"""

from __future__ import annotations

import json
import secrets

from lab.exercise import evidence
from lab.exercise.context import CheckContext
from lab.exercise.udp_relay import Damage, DamagingRelay

FIGURES = ("sent", "received", "lost", "duplicates", "out_of_order")


def check(ctx: CheckContext) -> None:
    upstream = evidence.address("udpstream")
    count, rate = ctx.param("count", 1000), ctx.param("rate", 500)
    damage = Damage(
        loss=ctx.param("loss", 0.05),
        duplicate=ctx.param("duplicate", 0.03),
        reorder=ctx.param("reorder", 0.05),
        gap=ctx.param("gap", 3),
        seed=secrets.randbelow(2**32),
        count=count,
        late_runs=ctx.param("late_runs", 3),
        run_length=ctx.param("run_length", 12),
        tail_loss=ctx.param("tail_loss", 10),
    )
    tolerance = ctx.param("tolerance", 2)  # datagrams the loopback hop itself may lose
    with DamagingRelay(upstream, damage) as relay:
        env = {
            "WIRELAB_TARGET_HOST": "127.0.0.1",
            "WIRELAB_TARGET_PORT": str(relay.port),
            "WIRELAB_COUNT": str(count),
            "WIRELAB_RATE": str(rate),
        }
        run = ctx.run(env, timeout=ctx.param("timeout", count / rate + 20))
    ctx.expect_clean_exit(run)
    delivered = relay.delivered
    if not ctx.expect(
        "the program received the stream through the lab's relay",
        len(delivered.arrivals) > 0,
        f"the relay delivered {len(delivered.arrivals)} datagrams",
        "send the start request to WIRELAB_TARGET_HOST:WIRELAB_TARGET_PORT and keep reading",
    ):
        return
    truth = relay.measurement()
    try:
        reported = json.loads(run.stdout.strip().splitlines()[-1])
        if not isinstance(reported, dict):
            raise ValueError
    except (ValueError, IndexError):
        ctx.expect(
            "the program printed its figures as one JSON object",
            False,
            f"printed {run.stdout.strip()[-120:]!r}",
            'print {"sent": .., "received": .., "lost": .., "duplicates": .., "out_of_order": ..}',
        )
        return
    hints = {
        "sent": "take it from the server's end message",
        "received": "count distinct sequence numbers: a duplicate is not a second datagram",
        "lost": "sent - received, computed at the end; a late datagram is not lost, and loss is never negative",
        "duplicates": "an arrival of a number you have already seen",
        "out_of_order": "a new number below the highest one seen before it (a gap left by a loss is not reordering)",
    }
    mistakes = _mistaken_figures(delivered.arrivals, truth)
    for name in FIGURES:
        true_value = int(getattr(truth, name))
        mine = reported.get(name)
        slack = 0 if name == "sent" else tolerance
        ok = isinstance(mine, int | float) and abs(mine - true_value) <= slack
        hint = hints[name]
        for wrong_value, mistake in mistakes.get(name, ()):
            if not ok and mine == wrong_value:
                hint = mistake
                break
        ctx.expect(
            f"{name} matches the lab's measurement",
            ok,
            f"you reported {mine!r}, the lab measured {true_value}",
            hint,
        )


def _mistaken_figures(arrivals: list[tuple[int, int]], truth) -> dict[str, list[tuple[int, str]]]:
    """What the plausible wrong definitions give on this very run, to name the mistake
    when a reported figure equals one of them (the relay's late runs and lost tail make
    them differ from the true figures by far more than the tolerance)."""
    seqs = [seq for seq, _ in arrivals]
    seen: set[int] = set()
    previous_distinct = previous_any = -1
    vs_distinct = vs_any = 0
    for seq in seqs:
        if seq not in seen:
            seen.add(seq)
            vs_distinct += seq < previous_distinct
            vs_any += seq < previous_any
            previous_distinct = seq
        previous_any = seq
    highest = max(seqs, default=-1)
    previous = (
        "you compared each number with the one that arrived just before it: when a late run "
        "arrives in order (7, 8, 9 after 12) only 7 is below its predecessor, but all three "
        "are below the highest number seen (12). Keep the highest number seen so far and "
        "compare with it"
    )
    tail = int(truth.sent) - 1 - highest
    from_highest = (
        f"you took the highest number seen + 1 as the number sent, but the last {tail} "
        "datagram(s) were lost, so no higher number ever came: take sent from the server's "
        "end message, and lost = sent - received"
    )
    return {
        "out_of_order": [(vs_distinct, previous), (vs_any, previous)],
        "lost": [(highest + 1 - int(truth.received), from_highest)],
    }
