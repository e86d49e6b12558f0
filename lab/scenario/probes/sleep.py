"""``sleep``: wait, e.g. for a rate-limit window to refill. Cancellable by Ctrl-C."""

from __future__ import annotations

import time

from lab.scenario import schema as s
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output

SCHEMA = s.Num(0, 600)
OUTPUTS = dict(COMMON_OUTPUTS)


def run(spec: float, ctx: ProbeContext) -> dict:
    start = time.monotonic()
    ctx.sleep(float(spec))
    return ok_output(elapsed=time.monotonic() - start)
