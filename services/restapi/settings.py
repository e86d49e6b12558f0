"""Start-up settings: command-line flags over environment variables over defaults."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services import ports
from services.common.paths import state_dir
from services.restapi.ratelimit import Policy, parse_policy_spec

SERVICE = "restapi"
DB_FILENAME = "restapi.sqlite3"
RATE_LIMIT_ENV = "WIRELAB_RESTAPI_RATE_LIMIT"  # "api=60/1,practice=30/2"
NO_RATE_LIMIT_ENV = "WIRELAB_RESTAPI_NO_RATE_LIMIT"  # "1" turns the limiter off
LOG_LEVELS = ["debug", "info", "warning", "error"]

# Generous enough that a person clicking around never meets them, tight enough that a
# script in a loop does. Scenarios tighten them at run time through POST /_lab/ratelimit.
DEFAULT_POLICIES: dict[str, Policy] = {
    "api": Policy(capacity=100, refill_per_s=10.0),
    "practice": Policy(capacity=100, refill_per_s=10.0),
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
    return Settings(
        host=args.host,
        port=port,
        state_dir=state_dir(args.state_dir),
        log_level=log_level,
        rate_limit_enabled=not (args.no_rate_limit or _truthy(env.get(NO_RATE_LIMIT_ENV))),
        policies=policies,
    )
