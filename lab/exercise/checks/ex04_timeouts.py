"""Exercise 04: timeouts, both ways. Through a slow but working proxy the program must
succeed; through a proxy that accepts and then says nothing (a `timeout` toxic), and
through one that trickles a byte every half second (a `slicer` with a delay), it must give
up within 2 s. rawhttp's log and the proxy's counters show what really happened.

The trickle is what tells one overall deadline from a fresh timeout per recv(): bytes keep
coming faster than any per-call timeout that survives the slow run, so only a deadline
for the whole exchange ends it in time."""

from __future__ import annotations

import time

from lab.exercise import evidence
from lab.exercise.context import CheckContext


def check(ctx: CheckContext) -> None:
    evidence.require("rawhttp", "faultproxy")
    proxy = ctx.param("proxy", "rawhttp")
    env = ctx.target_env("rawhttp.via_proxy")
    limit = ctx.param("give_up_s", 2.0)
    slack = ctx.param("startup_slack_s", 1.0)  # starting Python on a busy machine
    kill_after = ctx.param("kill_after_s", 8.0)

    # 1. Slow, but it answers: a client with a too-eager timeout fails here.
    latency = ctx.param("slow_latency_ms", 600)
    since = time.time()
    with evidence.toxic(proxy, "exercise_slow", "latency", "downstream", latency=latency):
        slow = ctx.run(env, timeout=kill_after)
    served = [
        e
        for e in evidence.request_log("rawhttp", since)
        if e.get("method") == "GET" and e.get("path") == "/"
    ]
    ctx.expect_clean_exit(slow, f"with {latency} ms of latency, the program succeeded (exit 0)")
    printed = next((line for line in slow.stdout.splitlines() if line.startswith("HTTP/")), "")
    ctx.expect(
        "it printed rawhttp's status line, and rawhttp logged the request",
        bool(served) and printed.startswith("HTTP/1.1 200"),
        f"rawhttp logged {len(served)} GET(s); printed {printed or 'no status line'!r}",
        "a slow answer is still an answer: the deadline is 2 s for the whole exchange, not less",
    )

    # 2. Accepted, then silence: only a deadline on the reads ends this.
    with evidence.toxic(proxy, "exercise_hang", "timeout", "upstream", timeout=0):
        before = evidence.proxy_stats(proxy)
        hung = ctx.run(env, timeout=kill_after)
        delta = evidence.stats_delta(before, evidence.proxy_stats(proxy))
    tried = int(delta.get("connections_total", 0))
    ctx.expect(
        "when the server hangs, the program really connected (the proxy saw it)",
        tried >= 1,
        f"the proxy saw {tried} connection(s)",
        "connect to WIRELAB_TARGET_HOST:WIRELAB_TARGET_PORT",
    )
    _expect_gave_up(ctx, hung, "when the server hangs", limit, slack, kill_after)

    # 3. A trickle: a byte every half second. No single recv() waits long, so a fresh
    # timeout per call never fires; only what is left of one deadline does.
    byte_every_ms = ctx.param("trickle_byte_ms", 500)
    with evidence.toxic(
        proxy,
        "exercise_trickle",
        "slicer",
        "downstream",
        average_size=1,
        size_variation=0,
        delay=byte_every_ms * 1000,
    ):
        trickled = ctx.run(env, timeout=kill_after)
    _expect_gave_up(
        ctx,
        trickled,
        f"when the server trickles a byte every {byte_every_ms} ms",
        limit,
        slack,
        kill_after,
        late_hint=(
            "a fresh timeout on each recv() never fires while bytes keep coming: keep one "
            f"deadline for the whole exchange ({limit:g} s from the start) and give each "
            "recv() what is left of it (sock.settimeout(deadline - time.monotonic()))"
        ),
    )


def _expect_gave_up(
    ctx: CheckContext,
    run,
    when: str,
    limit: float,
    slack: float,
    kill_after: float,
    late_hint: str = "",
) -> None:
    if run.timed_out:
        seen = f"still waiting after {kill_after:g} s, when the check stopped it"
        hint = late_hint or (
            "it never gave up: a socket without a timeout waits for ever, and a timeout on "
            "connect() alone is not enough (the proxy accepts at once, then says nothing). "
            "Put a deadline on every recv() too (sock.settimeout(what is left))"
        )
    else:
        seen = f"gave up after {run.elapsed:.2f} s with exit code {run.exit_code}"
        hint = late_hint or (
            f"it did give up, but after {run.elapsed:.1f} s: the deadline is {limit:g} s for "
            "the whole exchange, so no timeout may be longer than what is left of those "
            f"{limit:g} s"
        )
    ctx.expect(
        f"{when}, the program gives up within {limit:g} s (+{slack:g} s to start Python)",
        not run.timed_out and run.elapsed <= limit + slack,
        seen,
        hint,
    )
    if run.timed_out:
        return  # it never gave up, so how it would have said so is moot
    ctx.expect(
        f"{when}, it says it gave up with a non-zero exit code",
        run.exit_code not in (0, None),
        f"exit code {run.exit_code}",
        "exit 1 after a timeout, so a script calling your program can tell",
    )
    if run.crashed:
        ctx.expect(
            f"{when}, giving up is handled, not a crash",
            False,
            run.crash_line(),
            "catch the timeout (TimeoutError / socket.timeout) and print a short message",
        )
