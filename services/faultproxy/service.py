"""Wiring: command line -> manager + API server on one event loop (uvloop when available)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services import ports
from services.common.errors import ServiceStartError
from services.common.net import bind_socket
from services.common.service_main import setup_logging
from services.faultproxy.api.input_parsing import ApiError
from services.faultproxy.api.routes import ApiRoutes
from services.faultproxy.api.server import ApiServer
from services.faultproxy.core.addresses import PUBLIC_LISTEN_ENV
from services.faultproxy.core.allowlist import DEFAULT_ALLOW, Allowlist, AllowlistError
from services.faultproxy.core.manager import ProxyManager
from services.faultproxy.core.persistence import PersistError, load_state
from services.faultproxy.core.plugins import load_plugins
from services.faultproxy.core.proxy_base import ProxyContext

SERVICE = "faultproxy"
TOKEN_ENV = "WIRELAB_FAULTPROXY_TOKEN"
ALLOW_ENV = "WIRELAB_FAULTPROXY_ALLOW"
LOOP_ENV = "WIRELAB_FAULTPROXY_LOOP"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.faultproxy",
        description="A Toxiproxy-compatible TCP fault proxy (API on --host:--port).",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("WIRELAB_FAULTPROXY_HOST", "127.0.0.1"),
        help="API address (default 127.0.0.1: never expose it by accident)",
    )
    parser.add_argument(
        "--port", type=_port, default=None, help="API port (default from services.ports)"
    )
    parser.add_argument(
        "--config", type=Path, help="JSON file of proxies (and toxics) to create at start"
    )
    parser.add_argument(
        "--persist", action="store_true", help="write the state back to --config after every change"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"require 'Authorization: Bearer TOKEN' on the API (env {TOKEN_ENV})",
    )
    parser.add_argument(
        "--allow",
        nargs="+",
        action="extend",
        default=[],
        metavar="HOST_OR_CIDR",
        help="extra upstream hosts/CIDRs proxies may relay to ('*' for any); "
        f"always allowed: {', '.join(DEFAULT_ALLOW)}",
    )
    parser.add_argument(
        "--public-listen",
        action="store_true",
        help="proxies may listen beyond loopback; every upstream must then be allowed (--allow)",
    )
    parser.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default=os.environ.get(LOOP_ENV, "auto"),
        help="event loop (default auto)",
    )
    parser.add_argument("--log-level", default=None, help="debug shows raw API requests")
    return parser


def load_config(path: Path, persist: bool = False) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServiceStartError(f"{SERVICE}: config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceStartError(f"{SERVICE}: cannot read config file {path}: {exc}") from None
    if persist:  # stricter, and the journal of changes since the snapshot replayed on it
        try:
            return load_state(path, text)
        except PersistError as exc:
            raise ServiceStartError(f"{SERVICE}: {exc}") from None
    if not text.strip():
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceStartError(
            f"{SERVICE}: config file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ServiceStartError(
                f"{SERVICE}: --loop uvloop asked for, but uvloop is not installed"
            ) from None
        return None
    return uvloop.new_event_loop


def raise_fd_limit() -> None:
    """Lift the soft descriptor limit to the hard one: each proxied connection holds two
    sockets and two splice pipes, and a 1024 soft limit would cap us near 250."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    log = setup_logging(SERVICE, args.log_level)
    raise_fd_limit()
    port = args.port if args.port is not None else ports.default_port(SERVICE)
    # Loopback-only proxies unless asked for, on the command line or by the environment.
    args.public_listen = args.public_listen or os.environ.get(PUBLIC_LISTEN_ENV, "") == "1"
    try:
        extra = [e for e in os.environ.get(ALLOW_ENV, "").split(",") if e.strip()]
        allowlist = Allowlist([*DEFAULT_ALLOW, *extra, *args.allow])
        args.trusted_names = frozenset(Allowlist([*extra, *args.allow]).names)
    except AllowlistError as exc:
        raise ServiceStartError(f"{SERVICE}: {exc}") from None
    config = load_config(args.config, args.persist) if args.config else None
    if args.persist and not args.config:
        raise ServiceStartError(f"{SERVICE}: --persist needs --config FILE")
    sock = bind_socket(SERVICE, args.host, port, env_var=ports.env_var_for(SERVICE))
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(_serve(args, sock, allowlist, config, log))


async def _serve(
    args: argparse.Namespace, sock: Any, allowlist: Allowlist, config: Any, log: logging.Logger
) -> None:
    loop = asyncio.get_running_loop()
    load_plugins()
    manager = ProxyManager(
        ProxyContext(),
        allowlist,
        public_listen=args.public_listen,
        trusted_names=args.trusted_names,
    )
    if config is not None:
        try:
            manager.populate(config)
        except ApiError as exc:
            sock.close()
            raise ServiceStartError(f"{SERVICE}: config file {args.config}: {exc}") from None
    if args.persist:
        try:
            manager.persist_to(args.config)
        except (OSError, PersistError) as exc:
            sock.close()
            raise ServiceStartError(f"{SERVICE}: --persist: {exc}") from None
    server = ApiServer(ApiRoutes(manager, token=args.token))
    await server.start(sock)
    # Everything loaded so far lives for the whole run: keep it out of the collector's
    # scans, so a young-generation pass does not walk the modules on the proxy path.
    gc.collect()
    gc.freeze()
    host, port = sock.getsockname()[:2]
    log.info(
        "faultproxy API on http://%s:%s (loop %s, %d proxies%s)",
        host,
        port,
        type(loop).__module__.split(".")[0],
        len(manager.proxies),
        (", token required" if args.token else "")
        + (", proxies may listen beyond loopback" if args.public_listen else ""),
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("faultproxy shutting down")
    manager.close()
    await server.close()
