"""Deciding, per request, which HTTP toxics apply to it (sans-I/O).

Toxics are considered in the proxy's order (upstream stream first). For each one whose
``match`` holds, the request counts as *matched*; then ``toxicity`` is rolled for this
request alone, and a hit counts as *faulted*. Delays add up; the first drip applies; the
first terminal toxic (status, reset, malformed) answers the request and later terminal
toxics are not rolled.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.faultproxy.http.matching import RequestHead
from services.faultproxy.http.toxic_specs import HttpToxicRule


class ToxicView(Protocol):
    """What the planner reads of a configured toxic (the core's `proxy_base.Toxic`)."""

    name: str
    type: str
    stream: str
    toxicity: float
    runtime: Any


@dataclass
class Plan:
    request_delay: float = 0.0  # seconds before the request goes upstream
    response_delay: float = 0.0  # seconds before the response headers go to the client
    terminal: HttpToxicRule | None = None  # answers the request; it never reaches upstream
    drip: tuple[int, float] | None = None  # (chunks, duration s) for the response body
    faulted_by: list[str] = field(default_factory=list)

    @property
    def forwards(self) -> bool:
        return self.terminal is None


Report = Callable[[ToxicView, str, dict[str, Any]], None]


def rolled(toxicity: float, rng: random.Random) -> bool:
    if toxicity >= 1:
        return True
    if toxicity <= 0:
        return False
    return rng.random() < toxicity


# The plan of a request no toxic matched: shared (never changed), since most requests get
# it and the screen plans every request.
NOTHING = Plan()


def plan_request(
    head: RequestHead, toxics: Iterable[ToxicView], rng: random.Random, report: Report
) -> Plan:
    plan = NOTHING
    for toxic in toxics:
        rule = toxic.runtime
        if not isinstance(rule, HttpToxicRule) or not rule.match.matches(head):
            continue
        if plan is NOTHING:
            plan = Plan()
        report(toxic, "matched", {})
        if rule.terminal and plan.terminal is not None:
            continue
        if rule.kind == "http_drip" and plan.drip is not None:
            continue
        if not rolled(toxic.toxicity, rng):
            continue
        attrs = rule.attributes
        if rule.terminal:
            plan.terminal = rule
        elif rule.kind == "http_delay":
            if toxic.stream == "upstream":
                plan.request_delay += attrs["latency"] / 1000
            else:
                plan.response_delay += attrs["latency"] / 1000
        elif rule.kind == "http_drip":
            plan.drip = (attrs["chunks"], attrs["duration"] / 1000)
        plan.faulted_by.append(toxic.name)
        report(toxic, "faulted", {"method": head.method, "path": head.path})
    return plan
