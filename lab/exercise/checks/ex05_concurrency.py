"""Exercise 05: sequential vs concurrent requests through a 500 ms latency toxic.

restapi's log (server-side arrival times) shows whether the "concurrent" requests were
really in flight together: five requests that arrive within less than one round trip of
each other cannot have waited for each other's answers. The reported times are checked
against a single request the check times itself, through the same toxic.
"""

from __future__ import annotations

import json
import statistics
import time

import httpx

from lab.exercise import evidence
from lab.exercise.context import CheckContext

PATHS = [f"/api/users/{n}" for n in range(1, 6)]


def one_request_time(url: str, samples: int = 2) -> float:
    """Wall time of one request on a fresh connection, through the toxic (the yardstick)."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        with httpx.Client(timeout=10, trust_env=False) as client:
            client.get(url + "/healthz")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def check(ctx: CheckContext) -> None:
    evidence.require("restapi", "faultproxy")
    latency_ms = ctx.param("latency_ms", 500)
    latency = latency_ms / 1000
    factor = ctx.param("max_factor", 1.5)
    token, client = ctx.param("token", "bob-token"), ctx.param("client", "bob")
    url = evidence.url("restapi.via_proxy")
    env = {"WIRELAB_TARGET_URL": url, "WIRELAB_TOKEN": token}
    with evidence.toxic(
        ctx.param("proxy", "restapi"),
        "exercise_latency",
        "latency",
        "downstream",
        latency=latency_ms,
    ):
        single = one_request_time(url)
        since = time.time()
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
    arrivals = [float(e["time"]) for e in log]
    first, second = arrivals[:5], arrivals[5:]
    gaps = [b - a for a, b in zip(first, first[1:], strict=False)]
    ctx.expect(
        "the first 5 were sequential: each sent after the previous answer",
        min(gaps) >= latency * 0.8,
        f"gaps between arrivals: {', '.join(f'{g:.2f}' for g in gaps)} s",
        "send the first five one after another, waiting for each answer",
    )
    spread = max(second) - min(second)
    ctx.expect(
        "the last 5 overlapped: all arrived within one round trip",
        spread < latency,
        f"they arrived over {spread:.2f} s (one round trip is at least {latency:.2f} s)",
        "start all five before awaiting any: asyncio.gather(*(client.get(p) for p in paths))",
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
    ctx.expect(
        f"the concurrent wall time is under {factor * single:.2f} s "
        f"({factor:g} x the {single:.2f} s one request took)",
        max(latency, spread) <= conc < factor * single,
        f"reported {conc:.2f} s (the server saw them arrive over {spread:.2f} s)",
        "run them together and measure the time around the gather, from the first start "
        "to the last answer; a reported time shorter than what the server saw is not measured",
    )
    ctx.expect(
        "the sequential time is at least 5 round trips",
        seq >= 5 * latency and seq >= (first[-1] - first[0]),
        f"reported {seq:.2f} s; the server saw them over {first[-1] - first[0]:.2f} s",
        "measure it, from before the first request to after the fifth answer",
    )
