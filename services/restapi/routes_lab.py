"""The lab's own endpoints: health, the request log, reset, and run-time rate limits.

None of these is rate-limited or logged, so checks and probes never disturb what a
student's client is being measured on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from services.restapi.http_helpers import E400, E422
from services.restapi.models import (
    Health,
    RateLimitState,
    RateLimitUpdate,
    RequestLogEntry,
    ResetResult,
)
from services.restapi.problems import invalid
from services.restapi.ratelimit import GROUP_NAME, Policy, RateLimiter

router = APIRouter(tags=["lab"])


@router.get("/healthz", response_model=Health, summary="Liveness probe")
async def healthz(request: Request) -> Health:
    users, orders = request.app.state.store.counts()
    return Health(status="ok", service="restapi", users=users, orders=orders)


@router.get(
    "/_lab/requests",
    response_model=list[RequestLogEntry],
    response_model_exclude_none=True,
    responses=E422,
    summary="The recent request log, oldest first",
)
async def requests_log(
    request: Request,
    client: str | None = Query(None, description="a token's name (alice) or an IP"),
    since: float | None = Query(None, ge=0, description="unix time; only requests at or after it"),
    limit: int | None = Query(None, ge=1, le=100_000, description="only the most recent N"),
) -> list[dict[str, Any]]:
    return [e.as_dict() for e in request.app.state.request_log.query(client, since, limit)]


def rate_limit_state(limiter: RateLimiter) -> RateLimitState:
    return RateLimitState.model_validate(
        {
            "enabled": limiter.enabled,
            "groups": {
                g: {"capacity": p.capacity, "refill_per_s": p.refill_per_s, "window_s": p.window_s}
                for g, p in sorted(limiter.policies.items())
            },
        }
    )


@router.get("/_lab/ratelimit", response_model=RateLimitState, summary="Current rate limits")
async def get_rate_limit(request: Request) -> RateLimitState:
    return rate_limit_state(request.app.state.limiter)


@router.post(
    "/_lab/ratelimit",
    response_model=RateLimitState,
    responses={**E400, **E422},
    summary="Change rate limits at run time; the changed group's buckets start full",
)
async def set_rate_limit(request: Request, update: RateLimitUpdate) -> RateLimitState:
    limiter: RateLimiter = request.app.state.limiter
    settings = request.app.state.settings
    if update.restore_defaults:
        limiter.policies = dict(settings.policies)
        limiter.enabled = settings.rate_limit_enabled
        limiter.clear()
    if {"group", "capacity", "refill_per_s"} & update.model_fields_set:
        if update.group is None or update.capacity is None or update.refill_per_s is None:
            raise invalid("group", "body", "give group, capacity and refill_per_s together")
        groups = list(limiter.policies) if update.group == "*" else [update.group]
        if update.group != "*" and (
            not GROUP_NAME.match(update.group) or update.group not in settings.policies
        ):
            groups_text = ", ".join(settings.policies)
            raise invalid(
                "group", "body", f"unknown group {update.group!r}; groups are {groups_text} or *"
            )
        for group in groups:
            limiter.set_policy(group, Policy(update.capacity, update.refill_per_s))
    if update.enabled is not None:
        limiter.enabled = update.enabled
        limiter.clear()
    return rate_limit_state(limiter)


@router.post(
    "/_lab/reset",
    response_model=ResetResult,
    summary="Seed data back; buckets, request log and keys cleared",
)
async def reset(
    request: Request,
    keep_rate_limits: bool = Query(
        False, description="keep limits set through /_lab/ratelimit instead of the start-up ones"
    ),
) -> ResetResult:
    state = request.app.state
    state.store.reset()
    state.request_log.clear()
    state.unstable_rngs.clear()
    state.unstable_counts.clear()
    limiter: RateLimiter = state.limiter
    if not keep_rate_limits:
        limiter.policies = dict(state.settings.policies)
        limiter.enabled = state.settings.rate_limit_enabled
    limiter.clear()
    users, orders = state.store.counts()
    return ResetResult(users=users, orders=orders, rate_limit=rate_limit_state(limiter))
