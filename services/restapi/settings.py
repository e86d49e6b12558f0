"""Start-up settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services import ports
from services.common.paths import state_dir
from services.restapi.ratelimit import RATE_LIMIT_GROUPS, Policy, parse_policy_spec

SERVICE = "restapi"
DB_FILENAME = "restapi.sqlite3"
RATE_LIMIT_ENV = "WIRELAB_RESTAPI_RATE_LIMIT"  # "api=60/1,practice=30/2"
NO_RATE_LIMIT_ENV = "WIRELAB_RESTAPI_NO_RATE_LIMIT"  # "1" turns the limiter off
TRUSTED_PROXIES_ENV = (
    "WIRELAB_RESTAPI_TRUSTED_PROXIES"  # "10.0.0.5,10.0.0.6": trust their X-Forwarded-For
)
HEAD_TIMEOUT_ENV = "WIRELAB_RESTAPI_HEAD_TIMEOUT"  # seconds a client has to send a request head
LOG_LEVELS = ["debug", "info", "warning", "error"]

# Generous enough that a person clicking around never meets them, tight enough that a
# script in a loop does. Scenarios tighten them at run time through POST /_lab/ratelimit.
DEFAULT_POLICIES: dict[str, Policy] = {
    group: Policy(capacity=100, refill_per_s=10.0) for group in RATE_LIMIT_GROUPS
}


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 0
    state_dir: Path = field(default_factory=lambda: Path("."))
    log_level: str = "info"
    rate_limit_enabled: bool = True
    policies: dict[str, Policy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    max_delay_s: float = 10.0  # /delay and /drip never hold a connection longer than this
    request_log_size: int = 5000
    # Addresses whose X-Forwarded-For/-Proto are believed. None by default: every client
    # here connects from 127.0.0.1, so trusting loopback would let any client pick its IP.
    trusted_proxies: list[str] = field(default_factory=list)
    max_head_bytes: int = 64 * 1024  # request line + headers; more gets 431
    head_timeout_s: float = 10.0  # a whole request head must arrive within this; else 408

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_FILENAME


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.restapi",
        description="wirelab restapi: a FastAPI service for practising API clients.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default from services.ports)")
    p.add_argument("--state-dir", default=None, help="folder for the SQLite database")
    p.add_argument(
        "--log-level", default=None, choices=LOG_LEVELS, help="default info (env WIRELAB_LOG_LEVEL)"
    )
    p.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="GROUP=CAPACITY/REFILL_PER_S",
        help=f"set a route group's token bucket, e.g. api=5/1 (groups: {', '.join(DEFAULT_POLICIES)}); "
        f"repeatable; env {RATE_LIMIT_ENV}='api=5/1,practice=10/2'",
    )
    p.add_argument(
        "--no-rate-limit",
        action="store_true",
        help=f"turn the limiter off (env {NO_RATE_LIMIT_ENV}=1)",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="IP",
        help="believe X-Forwarded-For/-Proto only from this address (repeatable; default none: "
        f"the peer address is the client); env {TRUSTED_PROXIES_ENV}='10.0.0.5,10.0.0.6'",
    )
    p.add_argument(
        "--max-delay",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest pause /delay, /drip, /sse and /stream make (default 10)",
    )
    p.add_argument(
        "--head-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"a client must send a whole request head within this, else 408 (default 10; env {HEAD_TIMEOUT_ENV})",
    )
    return p


def parse_settings(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Parse the command line; bad values exit with argparse's one-line error (exit 2)."""
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        port = args.port if args.port is not None else ports.default_port(SERVICE, env)
    except ValueError as exc:
        parser.error(str(exc))
    if not 0 <= port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {port}")
    log_level = args.log_level or env.get("WIRELAB_LOG_LEVEL", "info").strip().lower()
    if log_level not in LOG_LEVELS:
        parser.error(f"WIRELAB_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    policies = dict(DEFAULT_POLICIES)
    specs = [s for s in env.get(RATE_LIMIT_ENV, "").split(",") if s.strip()] + list(args.rate_limit)
    for spec in specs:
        try:
            group, policy = parse_policy_spec(spec)
        except ValueError as exc:
            parser.error(str(exc))
        if group not in DEFAULT_POLICIES:
            parser.error(
                f"rate limit {spec!r}: unknown group {group!r}; groups are {', '.join(DEFAULT_POLICIES)}"
            )
        policies[group] = policy
    trusted = [a.strip() for a in env.get(TRUSTED_PROXIES_ENV, "").split(",") if a.strip()]
    trusted += [a.strip() for a in args.trusted_proxy if a.strip()]
    for address in trusted:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            parser.error(f"trusted proxy {address!r} is not an IP address or network")
    head_timeout = args.head_timeout
    if head_timeout is None:
        try:
            head_timeout = float(env.get(HEAD_TIMEOUT_ENV, "10"))
        except ValueError:
            parser.error(f"{HEAD_TIMEOUT_ENV} must be a number of seconds")
    if not 0 < head_timeout <= 3600:
        parser.error(f"--head-timeout must be more than 0 and at most 3600 s, got {head_timeout:g}")
    if not 0 <= args.max_delay <= 3600:
        parser.error(f"--max-delay must be between 0 and 3600 s, got {args.max_delay:g}")
    return Settings(
        host=args.host,
        port=port,
        state_dir=state_dir(args.state_dir),
        log_level=log_level,
        rate_limit_enabled=not (args.no_rate_limit or _truthy(env.get(NO_RATE_LIMIT_ENV))),
        policies=policies,
        trusted_proxies=trusted,
        head_timeout_s=head_timeout,
        max_delay_s=args.max_delay,
    )
