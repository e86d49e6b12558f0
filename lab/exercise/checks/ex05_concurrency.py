"""Exercise 05: sequential vs concurrent requests through a 500 ms latency toxic.

The verdict comes from restapi's request log, by the server's clock, not from how long
anything took on this (possibly busy) machine. The toxic holds every answer for at least
500 ms, so a request that arrived at ``t`` was still unanswered at the client until
``t + 0.5 s`` at the earliest: requests whose such windows share a moment were in flight
together (see lab/exercise/in_flight.py). A sequential client has at most 1 in flight; one
that starts all five before awaiting any has 5. Load only makes things later, which can
neither create that overlap nor, at any realistic load, spread five starts over 500 ms.

The times the program reports are held to what the server saw (lower bounds only), so a
computed or guessed time fails, but a slow machine does not.
"""

from __future__ import annotations

import json
import time

from lab.exercise import evidence
from lab.exercise.context import CheckContext
from lab.exercise.in_flight import max_in_flight, waiting_windows

PATHS = [f"/api/users/{n}" for n in range(1, 6)]
ROUNDING_S = 0.01  # the program may round its times (the solution keeps 3 decimals)


def check(ctx: CheckContext) -> None:
    evidence.require("restapi", "faultproxy")
    latency_ms = ctx.param("latency_ms", 500)
    latency = latency_ms / 1000
    token, client = ctx.param("token", "bob-token"), ctx.param("client", "bob")
    url = evidence.url("restapi.via_proxy")
    env = {"WIRELAB_TARGET_URL": url, "WIRELAB_TOKEN": token}
    since = time.time()
    with evidence.toxic(
        ctx.param("proxy", "restapi"),
        "exercise_latency",
        "latency",
        "downstream",
        latency=latency_ms,
    ):
        run = ctx.run(env, timeout=ctx.param("timeout", 30.0))
    ctx.expect_clean_exit(run)
    log = [
        e for e in evidence.request_log("restapi", since, client=client) if e.get("path") in PATHS
    ]
    if not ctx.expect(
        "restapi received 10 requests (5 sequential, then 5 concurrent)",
        len(log) == 10,
        f"restapi logged {len(log)} matching requests from {client}",
        f"GET each of {', '.join(PATHS)} twice, with 'Authorization: Bearer {token}'",
    ):
        return
    first, second = waiting_windows(log[:5], latency), waiting_windows(log[5:], latency)
    first_most, second_most = max_in_flight(first), max_in_flight(second)
    ctx.expect(
        "the first 5 were sequential: each sent after the previous answer",
        first_most == 1,
        f"restapi saw up to {first_most} of them in flight at once",
        "send the first five one after another, waiting for each answer",
    )
    spread = max(s for s, _ in second) - min(s for s, _ in second)
    ctx.expect(
        "the last 5 overlapped: all 5 in flight at the same moment",
        second_most == len(PATHS),
        f"restapi saw at most {second_most} of them in flight at once "
        f"(they arrived over {spread:.2f} s; each answer takes at least {latency:.2f} s)",
        _overlap_hint(second_most),
    )
    try:
        reported = json.loads(run.stdout.strip().splitlines()[-1])
        conc, seq = float(reported["concurrent_s"]), float(reported["sequential_s"])
    except (ValueError, IndexError, KeyError, TypeError):
        ctx.expect(
            "the program reported both times",
            False,
            f"printed {run.stdout.strip()[-120:]!r}",
            'print {"sequential_s": ..., "concurrent_s": ...} as the last line',
        )
        return
    # The last answer reached the client no earlier than its request's window end, and the
    # first request left no later than it arrived: what the server saw is a lower bound.
    conc_floor = max(e for _, e in second) - min(s for s, _ in second)
    ctx.expect(
        f"the concurrent time is what the server saw: at least {conc_floor:.2f} s "
        f"(their arrivals plus the {latency:.2f} s answer delay), and less than the sequential time",
        conc_floor - ROUNDING_S <= conc < seq,
        f"reported {conc:.2f} s concurrent, {seq:.2f} s sequential",
        "measure around the gather, from before the first request starts to after the last "
        "answer; a time computed (divided, guessed) instead of measured does not add up",
    )
    seq_floor = max(e for _, e in first) - min(s for s, _ in first)
    ctx.expect(
        f"the sequential time is what the server saw: at least {seq_floor:.2f} s (5 round trips)",
        seq >= seq_floor - ROUNDING_S,
        f"reported {seq:.2f} s",
        "measure it, from before the first request to after the fifth answer",
    )


def _overlap_hint(most: int) -> str:
    if most <= 1:
        return (
            "they went one at a time: `await` inside a loop waits for each answer. Start all "
            "five before awaiting any: asyncio.gather(*(client.get(p) for p in paths))"
        )
    return (
        f"only {most} at a time: something caps how many are in flight (a Semaphore({most}), "
        f"a pool or connection limit of {most}, {most} worker threads), so five take several "
        "round trips. Start all five at once: asyncio.gather(*(client.get(p) for p in paths))"
    )
