"""``service``: pause, resume, stop, start, partition or heal a service through the backend.

The backend decides what that means (SIGSTOP on local, container pause on docker);
scenarios only name the service. Each disruptive action registers its undo.
"""

from __future__ import annotations

import time

from lab.scenario import schema as s
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output
from services.ports import SERVICES


def _check_service(value: object) -> str | None:
    if not isinstance(value, str) or value in SERVICES:
        return None
    return f"no service named {value!r}; the lab has: {', '.join(SERVICES)}" + s.did_you_mean(
        value, SERVICES
    )


SERVICE = s.Str(_check_service)
ACTIONS = ("pause", "resume", "stop", "start", "partition", "heal")
UNDO = {"pause": "resume", "stop": "start", "partition": "heal"}

SCHEMA = s.Fields(
    {action: SERVICE for action in ACTIONS},
    one_of=ACTIONS,
    expected="a service action: {pause|resume|stop|start|partition|heal: SERVICE}",
)

OUTPUTS = {**COMMON_OUTPUTS, "action": "what was done", "service": "to which service"}


def run(spec: dict, ctx: ProbeContext) -> dict:
    backend = ctx.require_backend()
    action = next(a for a in ACTIONS if a in spec)
    service = spec[action]
    start = time.monotonic()
    getattr(backend, action)(service)
    if action in UNDO:
        undo = UNDO[action]
        ctx.rollback.register(f"{undo} {service}", lambda: getattr(backend, undo)(service))
    else:
        # A resume/start/heal in the file does the undo itself: drop the pending one.
        ctx.rollback.forget(f"{action} {service}")
    return ok_output(action=action, service=service, elapsed=time.monotonic() - start)
