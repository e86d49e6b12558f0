"""``repeat``: the same probe N times, with a concurrency, and results to count.

``expect`` on a repeat judges the set: ``every: {status: 200}``,
``counts: [{where: {status: 429}, min: 3}]`` ("at least 3 of 10 got 429"), and the
summary fields (``ok``, ``elapsed_max``, ...).
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab.scenario import schema as s
from lab.scenario.probes import exec as exec_probe
from lab.scenario.probes import http, line, tcp, udp, ws
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ProbeModule, ok_output

# The probes a repeat may wrap, imported here rather than looked up in the package's
# registry, which imports this module (no import circle).
REPEATABLE_PROBES: dict[str, ProbeModule] = {
    "http": http,
    "tcp": tcp,
    "line": line,
    "ws": ws,
    "udp": udp,
    "exec": exec_probe,
}
REPEATABLE = tuple(REPEATABLE_PROBES)


def _schema() -> s.Schema:
    return s.Fields(
        {"count": s.Int(1, 100000), "concurrency": s.Int(1, 256), "interval": s.Num(0, 60)}
        | {kind: REPEATABLE_PROBES[kind].SCHEMA for kind in REPEATABLE},
        required=("count",),
        one_of=REPEATABLE,
        expected=f"{{count, concurrency, interval, one of {', '.join(REPEATABLE)}}}",
    )


SCHEMA = s.Lazy(_schema)

SUMMARY_OUTPUTS = {
    **COMMON_OUTPUTS,
    "results": "each run's output (judged with every / counts)",
    "count": "how many runs",
    "ok": "how many runs had no error",
    "failed": "how many runs had an error",
    "elapsed_min": "fastest run, seconds",
    "elapsed_p50": "median run, seconds",
    "elapsed_max": "slowest run, seconds",
    "max_in_flight": "the most runs in flight at once",
}


# The fields whatever the inner probe; ``outputs(spec)`` adds the inner probe's per run.
OUTPUTS = SUMMARY_OUTPUTS


def inner_kind(spec: dict) -> str:
    return next(k for k in REPEATABLE if k in spec)


def outputs(spec: Any) -> dict[str, str]:
    fields = dict(SUMMARY_OUTPUTS)
    if isinstance(spec, dict):
        kinds = [k for k in REPEATABLE if k in spec]
        if kinds:
            fields["__item_fields__"] = REPEATABLE_PROBES[kinds[0]].OUTPUTS  # type: ignore[assignment]
    return fields


def run(spec: dict, ctx: ProbeContext) -> dict:
    kind = inner_kind(spec)
    probe = REPEATABLE_PROBES[kind]
    count, concurrency = spec["count"], spec.get("concurrency", 1)
    interval = float(spec.get("interval", 0))
    lock = threading.Lock()
    in_flight = [0, 0]  # now, max

    def one(i: int) -> dict:
        if interval and i >= concurrency:
            ctx.sleep(interval)
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        try:
            return probe.run(spec[kind], ctx)
        finally:
            with lock:
                in_flight[0] -= 1

    start = time.monotonic()
    if concurrency == 1:
        results = [one(i) for i in range(count)]
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="repeat") as pool:
            results = list(pool.map(one, range(count)))
    return summarise(results, start, in_flight[1])


def summarise(results: list[dict], start: float, max_in_flight: int) -> dict:
    times = [r.get("elapsed", 0.0) for r in results]
    failed = sum(1 for r in results if r.get("error", "none") != "none")
    return ok_output(
        results=results,
        count=len(results),
        ok=len(results) - failed,
        failed=failed,
        elapsed_min=min(times, default=0.0),
        elapsed_p50=statistics.median(times) if times else 0.0,
        elapsed_max=max(times, default=0.0),
        max_in_flight=max_in_flight,
        elapsed=time.monotonic() - start,
    )
