"""``service``: pause, resume, stop, start, partition or heal a service through the backend.

The backend decides what that means (SIGSTOP on local, container pause on docker);
scenarios only name the service. Each disruptive action registers its undo.
"""

from __future__ import annotations

import time
from typing import Any

from lab.scenario import schema as s
from lab.scenario.errors import ProbeError
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output
from lab.text import did_you_mean
from services.ports import SERVICES


def _check_service(value: object) -> str | None:
    if not isinstance(value, str) or value in SERVICES:
        return None
    return f"no service named {value!r}; the lab has: {', '.join(SERVICES)}" + did_you_mean(
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


# What the backend must report before the action counts as done.
SETTLED = {
    "pause": ("paused",),
    "stop": ("stopped", "exited"),
    "partition": ("partitioned",),
    "resume": ("healthy",),
    "start": ("healthy",),
    "heal": ("healthy",),
}


def _settle(
    backend: Any, service: str, action: str, ctx: ProbeContext, timeout: float = 5.0
) -> None:
    """Wait until the backend reports the new state.

    Signals are asynchronous: SIGSTOP returns before the process has stopped, and on a
    busy machine one of its threads can still answer a request made right after. A step
    after ``pause`` must meet a paused service, so the action waits until it is one.
    """
    deadline = time.monotonic() + timeout
    state = "unknown"
    while True:
        for status in backend.status():
            if status.service == service:
                state = status.state
        if state in SETTLED[action]:
            return
        if time.monotonic() >= deadline:
            raise ProbeError(
                "error",
                f"{action} {service}: the backend still reports {state!r} after {timeout:g}s",
            )
        ctx.sleep(0.02)


def run(spec: dict, ctx: ProbeContext) -> dict:
    backend = ctx.require_backend()
    action = next(a for a in ACTIONS if a in spec)
    service = spec[action]
    start = time.monotonic()
    getattr(backend, action)(service)
    _settle(backend, service, action, ctx)
    if action in UNDO:
        undo = UNDO[action]
        ctx.rollback.register(
            ("service", service, undo), f"{undo} {service}", lambda: getattr(backend, undo)(service)
        )
    else:
        # A resume/start/heal in the file does the undo itself: drop the pending one.
        ctx.rollback.forget(("service", service, action))
    return ok_output(action=action, service=service, elapsed=time.monotonic() - start)
