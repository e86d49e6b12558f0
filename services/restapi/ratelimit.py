"""Token-bucket rate limiting and its response headers, with no I/O and no clock of its own.

Every function takes ``now`` (a monotonic float) from the caller, so tests drive it with a
fake clock and the ASGI middleware drives it with ``time.monotonic()``.

Header formats follow draft-ietf-httpapi-ratelimit-headers (structured fields):

    RateLimit-Policy: "api";q=60;w=60      quota q requests per window w seconds
    RateLimit: "api";r=12;t=48             r requests remain; t seconds until the quota is back

plus the widespread ``X-RateLimit-Limit/-Remaining/-Reset`` trio (Reset in unix seconds,
as GitHub sends it) and ``Retry-After`` in delay-seconds on a refusal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# Floating-point slack: a client that waits exactly Retry-After seconds must get through,
# even when the refill arithmetic lands a hair below a whole token.
EPSILON = 1e-9

HEADER_NAMES = {
    b"ratelimit-policy": "RateLimit-Policy",
    b"ratelimit": "RateLimit",
    b"x-ratelimit-limit": "X-RateLimit-Limit",
    b"x-ratelimit-remaining": "X-RateLimit-Remaining",
    b"x-ratelimit-reset": "X-RateLimit-Reset",
    b"retry-after": "Retry-After",
}
GROUP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RATE_LIMIT_GROUPS = ("api", "practice")  # the route groups (ratelimit_middleware.route_group)
# One token per 1,000 s at the slowest: the window (capacity / refill) stays a number a
# header can carry. A subnormal refill such as 5e-324 made it infinite (OverflowError, 500).
MIN_REFILL_PER_S = 0.001


@dataclass(frozen=True)
class Policy:
    """A bucket holds ``capacity`` tokens and gains ``refill_per_s`` tokens a second."""

    capacity: int
    refill_per_s: float
    # Derived once here rather than on every request.
    window_s: int = field(init=False, compare=False)  # seconds for an empty bucket to fill: ``w``

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {self.capacity}")
        if not (self.refill_per_s >= MIN_REFILL_PER_S and math.isfinite(self.refill_per_s)):
            raise ValueError(
                f"refill must be a positive number per second, at least {MIN_REFILL_PER_S:g}, got {self.refill_per_s}"
            )
        object.__setattr__(self, "window_s", max(1, math.ceil(self.capacity / self.refill_per_s)))


def parse_policy_spec(spec: str) -> tuple[str, Policy]:
    """Parse ``GROUP=CAPACITY/REFILL_PER_S`` (the ``--rate-limit`` flag) or raise ValueError."""
    group, sep, rest = spec.partition("=")
    group = group.strip()
    if not sep or not GROUP_NAME.match(group):
        raise ValueError(f"rate limit {spec!r}: expected GROUP=CAPACITY/REFILL_PER_S, e.g. api=5/1")
    cap_text, slash, refill_text = rest.partition("/")
    if not slash:
        raise ValueError(f"rate limit {spec!r}: missing '/REFILL_PER_S', e.g. api=5/1")
    try:
        capacity = int(cap_text)
        refill = float(refill_text)
    except ValueError:
        raise ValueError(
            f"rate limit {spec!r}: CAPACITY must be an integer and REFILL_PER_S a number, e.g. api=5/1"
        ) from None
    try:
        return group, Policy(capacity, refill)
    except ValueError as exc:
        raise ValueError(f"rate limit {spec!r}: {exc}") from None


# slots and no frozen=True: these are made on every request, and a frozen dataclass's
# __init__ costs several times more. Treat a Decision as read-only all the same.
@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class StaticFields:
    """The header bytes that depend only on the group and its policy, made once per policy."""

    policy: Policy
    policy_field: bytes  # the whole RateLimit-Policy value
    ratelimit_prefix: bytes  # '"api";r=' : RateLimit minus the numbers
    limit: bytes

    @classmethod
    def of(cls, group: str, policy: Policy) -> StaticFields:
        name = f'"{group}"'.encode()  # GROUP_NAME keeps it a valid structured-field string
        return cls(
            policy,
            b"%s;q=%d;w=%d" % (name, policy.capacity, policy.window_s),
            name + b";r=",
            b"%d" % policy.capacity,
        )


@dataclass(slots=True)
class Decision:
    allowed: bool
    group: str
    static: StaticFields
    remaining: int  # whole tokens left after this request
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # seconds until one token is available (0 when allowed)

    @property
    def policy(self) -> Policy:
        return self.static.policy

    def headers(self, wall_now: float) -> list[tuple[str, str]]:
        """Response headers for this decision; ``wall_now`` is unix time for X-RateLimit-Reset."""
        return [(HEADER_NAMES[k], v.decode()) for k, v in self.raw_headers(wall_now)]

    def raw_headers(self, wall_now: float) -> list[tuple[bytes, bytes]]:
        """The same as ASGI wants them (lower-case bytes), with little work per request."""
        static, remaining, reset = self.static, self.remaining, self.reset_s
        out = [
            (b"ratelimit-policy", static.policy_field),
            (b"ratelimit", static.ratelimit_prefix + b"%d;t=%d" % (remaining, reset)),
            (b"x-ratelimit-limit", static.limit),
            (b"x-ratelimit-remaining", b"%d" % remaining),
            (b"x-ratelimit-reset", b"%d" % math.ceil(wall_now + reset)),
        ]
        if not self.allowed:
            out.append((b"retry-after", b"%d" % self.retry_after_s))
        return out


@dataclass
class RateLimiter:
    """Buckets per (group, client). Single-threaded by design: the event loop serializes calls,
    and ``check`` never awaits, so N concurrent requests can never overdraw a bucket."""

    policies: dict[str, Policy]
    enabled: bool = True
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    _static: dict[str, StaticFields] = field(default_factory=dict, repr=False)

    def check(self, group: str, client: str, now: float) -> Decision | None:
        """Take a token for ``client`` in ``group``; None when the group is not limited.

        Runs on every request, so it is written flat (no helper calls, no min/max).
        """
        policy = self.policies.get(group)
        if policy is None or not self.enabled:
            return None
        capacity, rate = policy.capacity, policy.refill_per_s
        key = (group, client)
        bucket = self.buckets.get(key)
        if bucket is None:
            tokens = float(capacity)
            bucket = self.buckets[key] = Bucket(tokens, now)
        else:
            tokens = bucket.tokens
            if now > bucket.updated:  # a clock that did not move adds nothing
                tokens += (now - bucket.updated) * rate
                if tokens > capacity:
                    tokens = float(capacity)
                bucket.updated = now
        if tokens + EPSILON >= 1.0:
            allowed, retry_after = True, 0
            tokens = tokens - 1.0 if tokens >= 1.0 else 0.0
        else:
            allowed = False
            retry_after = max(1, math.ceil((1.0 - tokens) / rate - EPSILON))
        bucket.tokens = tokens
        missing = capacity - tokens
        reset = math.ceil(missing / rate - EPSILON) if missing > EPSILON else 0
        static = self._static.get(group)
        if static is None or static.policy is not policy:  # first use, or the policy changed
            static = self._static[group] = StaticFields.of(group, policy)
        return Decision(allowed, group, static, int(tokens + EPSILON), reset, retry_after)

    def set_policy(self, group: str, policy: Policy) -> None:
        """Change a group's limits; its buckets start again full under the new policy."""
        self.policies[group] = policy
        self.clear(group)

    def clear(self, group: str | None = None) -> None:
        if group is None:
            self.buckets.clear()
            return
        for key in [k for k in self.buckets if k[0] == group]:
            del self.buckets[key]

    def prune(self, now: float) -> None:
        """Forget buckets that have refilled completely: they hold no information."""
        for key, bucket in list(self.buckets.items()):
            policy = self.policies.get(key[0])
            if (
                policy is None
                or bucket.tokens + (now - bucket.updated) * policy.refill_per_s >= policy.capacity
            ):
                del self.buckets[key]
