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

import functools
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


@dataclass(frozen=True)
class Policy:
    """A bucket holds ``capacity`` tokens and gains ``refill_per_s`` tokens a second."""

    capacity: int
    refill_per_s: float

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {self.capacity}")
        if not (self.refill_per_s > 0 and math.isfinite(self.refill_per_s)):
            raise ValueError(
                f"refill must be a positive number per second, got {self.refill_per_s}"
            )

    @property
    def window_s(self) -> int:
        """Seconds an empty bucket takes to fill: the ``w`` of RateLimit-Policy."""
        return max(1, math.ceil(self.capacity / self.refill_per_s))


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


@dataclass
class Bucket:
    tokens: float
    updated: float

    def refill(self, policy: Policy, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(policy.capacity), self.tokens + elapsed * policy.refill_per_s)
        self.updated = now


@dataclass(frozen=True)
class Decision:
    allowed: bool
    group: str
    policy: Policy
    remaining: int  # whole tokens left after this request
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # seconds until one token is available (0 when allowed)

    def headers(self, wall_now: float) -> list[tuple[str, str]]:
        """Response headers for this decision; ``wall_now`` is unix time for X-RateLimit-Reset."""
        return [(HEADER_NAMES[k], v.decode()) for k, v in self.raw_headers(wall_now)]

    def raw_headers(self, wall_now: float) -> list[tuple[bytes, bytes]]:
        """The same as ASGI wants them (lower-case bytes), built with little work per request:
        the parts that depend only on the policy are cached."""
        policy_field, limit = _static_fields(self.group, self.policy.capacity, self.policy.window_s)
        remaining = b"%d" % self.remaining
        out = [
            (b"ratelimit-policy", policy_field),
            (b"ratelimit", b'"%s";r=%d;t=%d' % (self.group.encode(), self.remaining, self.reset_s)),
            (b"x-ratelimit-limit", limit),
            (b"x-ratelimit-remaining", remaining),
            (b"x-ratelimit-reset", b"%d" % math.ceil(wall_now + self.reset_s)),
        ]
        if not self.allowed:
            out.append((b"retry-after", b"%d" % self.retry_after_s))
        return out


@functools.lru_cache(maxsize=64)
def _static_fields(group: str, capacity: int, window_s: int) -> tuple[bytes, bytes]:
    return f'"{group}";q={capacity};w={window_s}'.encode(), str(capacity).encode()


@dataclass
class RateLimiter:
    """Buckets per (group, client). Single-threaded by design: the event loop serializes calls,
    and ``check`` never awaits, so N concurrent requests can never overdraw a bucket."""

    policies: dict[str, Policy]
    enabled: bool = True
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)

    def check(self, group: str, client: str, now: float) -> Decision | None:
        """Take a token for ``client`` in ``group``; None when the group is not limited."""
        policy = self.policies.get(group)
        if not self.enabled or policy is None:
            return None
        key = (group, client)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(float(policy.capacity), now)
        else:
            bucket.refill(policy, now)
        allowed = bucket.tokens + EPSILON >= 1.0
        if allowed:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            retry_after = 0
        else:
            retry_after = max(1, math.ceil((1.0 - bucket.tokens) / policy.refill_per_s - EPSILON))
        missing = policy.capacity - bucket.tokens
        reset = max(0, math.ceil(missing / policy.refill_per_s - EPSILON))
        remaining = int(bucket.tokens + EPSILON)
        return Decision(allowed, group, policy, remaining, reset, retry_after)

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
            if policy is None:
                del self.buckets[key]
                continue
            bucket.refill(policy, now)
            if bucket.tokens >= policy.capacity:
                del self.buckets[key]
