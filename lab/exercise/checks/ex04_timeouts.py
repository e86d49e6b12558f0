"""Exercise 04: timeouts, both ways. Through a slow but working proxy the program must
succeed; through a proxy that accepts and then says nothing (a `timeout` toxic) it must
give up within 2 s. rawhttp's log and the proxy's counters show what really happened."""

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
    if hung.timed_out:
        seen = f"still waiting after {kill_after:g} s, when the check stopped it"
    else:
        seen = f"gave up after {hung.elapsed:.2f} s with exit code {hung.exit_code}"
    ctx.expect(
        f"when the server hangs, the program gives up within {limit:g} s (+{slack:g} s to start Python)",
        not hung.timed_out and hung.elapsed <= limit + slack,
        seen,
        "a timeout on connect() alone is not enough: the proxy accepts at once, then says "
        "nothing. Put a deadline on every recv() too (sock.settimeout(what is left))",
    )
    if hung.timed_out:
        return  # it never gave up, so how it would have said so is moot
    ctx.expect(
        "when it gives up, it says so with a non-zero exit code",
        hung.exit_code not in (0, None),
        "exit code " + str(hung.exit_code),
        "exit 1 after a timeout, so a script calling your program can tell",
    )
    if hung.crashed:
        ctx.expect(
            "giving up is handled, not a crash",
            False,
            hung.crash_line(),
            "catch the timeout (TimeoutError / socket.timeout) and print a short message",
        )
