"""``parallel``: different steps at the same time, each with its own expectations.

This is how a scenario shows one slow client starving a blocking server: the slow
client and the victim run side by side, the victim ``delay``-ed a little so the slow
one holds the server first.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab.scenario import schema as s
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output


def _check(value: Any) -> list[tuple[tuple, str]]:
    if not isinstance(value, list) or len(value) < 2:
        return [((), "parallel needs a list of at least two steps")]
    return []  # each item is validated as a step by the scenario schema (model.py)


SCHEMA = s.Custom(_check, expected="a list of steps")
OUTPUTS = {**COMMON_OUTPUTS, "results": "each step's output, in file order"}


def run(spec: list, ctx: ProbeContext) -> dict:
    """``spec`` is the list of model.Step objects (built by the model, not raw YAML)."""
    if ctx.run_nested is None:
        raise RuntimeError("parallel steps need the runner")
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(spec), thread_name_prefix="parallel") as pool:
        records = list(pool.map(ctx.run_nested, spec))
    return ok_output(
        results=[r.output for r in records], nested=records, elapsed=time.monotonic() - start
    )
