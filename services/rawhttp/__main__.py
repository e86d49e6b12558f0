"""``python -m services.rawhttp``: HTTP/1.1 (+ TCP echo, line protocol, HTTPS) on sockets.

    python -m services.rawhttp --host H --port P --echo-port P --line-port P \\
        --https-port P --mode selectors --state-dir S [--docroot D] [--log-level debug]
        [--strict | --lenient]
    python -m services.rawhttp --host H --port P --mode blocking --http-only --state-dir S
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import threading
from typing import Any

from services.common.errors import ServiceStartError
from services.common.lab_ca import ensure_ca, server_context
from services.common.net import bind_socket
from services.common.paths import state_dir
from services.common.service_main import run_service, setup_logging
from services.ports import default_port, env_var_for, published_ports
from services.rawhttp.echo import EchoConnection
from services.rawhttp.http11 import Limits
from services.rawhttp.http_connection import HttpConnection, HttpSettings
from services.rawhttp.line_connection import LineConnection, StoryStore
from services.rawhttp.listeners import Listener
from services.rawhttp.request_log import RequestLog
from services.rawhttp.responses import encode, error_response
from services.rawhttp.routes import App
from services.rawhttp.server_blocking import BlockingServer
from services.rawhttp.server_selectors import SelectorServer
from services.rawhttp.server_threads import ThreadPoolServer
from services.rawhttp.static_files import StaticFiles, check_docroot, default_docroot

SERVICE = "rawhttp"
MODES = ("selectors", "threads", "blocking")
PARSING_ENV = "WIRELAB_RAWHTTP_PARSING"
PARSINGS = ("strict", "lenient")


def _port(name: str) -> int:
    try:
        return default_port(name)
    except ValueError as exc:  # a bad WIRELAB_*_PORT value
        raise ServiceStartError(str(exc)) from None


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
        return value

    return parse


def _port_arg(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.rawhttp",
        description="HTTP/1.1 written on Python's socket module, with TCP echo, a line "
        "protocol and HTTPS with a lab CA.",
    )
    p.add_argument("--host", default=os.environ.get("WIRELAB_HOST", "127.0.0.1"))
    p.add_argument(
        "--port", type=_port_arg, help="HTTP port (default: $WIRELAB_RAWHTTP_PORT or 8080)"
    )
    p.add_argument("--echo-port", type=_port_arg, help="TCP echo port (default 9000)")
    p.add_argument("--line-port", type=_port_arg, help="line protocol port (default 9001)")
    p.add_argument("--https-port", type=_port_arg, help="HTTPS port (default 8443)")
    p.add_argument("--mode", choices=MODES, default="selectors")
    p.add_argument("--http-only", action="store_true", help="serve HTTP only (the blocking twin)")
    p.add_argument("--state-dir", help="where the lab CA lives (default: $WIRELAB_STATE_DIR)")
    p.add_argument("--docroot", help="static files to serve (default: the bundled lab page)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--workers", type=_positive(int), default=32, help="threads mode: pool size")
    p.add_argument("--header-timeout", type=_positive(float), default=10.0, help="seconds (408)")
    p.add_argument("--idle-timeout", type=_positive(float), default=15.0, help="keep-alive idle s")
    p.add_argument("--max-body", type=_positive(int), default=Limits().max_body, help="bytes (413)")
    p.add_argument(
        "--min-body-rate",
        type=_positive(float),
        default=HttpSettings().min_body_rate,
        help="bytes/s a body must average after --header-timeout of grace (408)",
    )
    parsing = p.add_mutually_exclusive_group()
    parsing.add_argument(
        "--strict",
        dest="parsing",
        action="store_const",
        const="strict",
        help=f"CRLF only, strict framing (the default; or ${PARSING_ENV}=strict)",
    )
    parsing.add_argument(
        "--lenient",
        dest="parsing",
        action="store_const",
        const="lenient",
        help=f"also what RFC 9112 lets a recipient accept, e.g. bare LF (${PARSING_ENV}=lenient)",
    )
    return p


def parsing_choice(flag: str | None) -> str:
    """The flag, else the environment, else strict; a bad environment value is an error."""
    if flag is not None:
        return flag
    value = os.environ.get(PARSING_ENV, "strict").strip().lower() or "strict"
    if value not in PARSINGS:
        raise ServiceStartError(
            f"{PARSING_ENV}={os.environ[PARSING_ENV]!r}: expected one of {', '.join(PARSINGS)}"
        )
    return value


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logger = setup_logging(SERVICE, args.log_level)
    try:
        docroot = check_docroot(args.docroot) if args.docroot else default_docroot()
    except ValueError as exc:
        raise ServiceStartError(f"{exc}: pass an existing folder to --docroot") from None
    blocking_twin = args.mode == "blocking" and args.http_only
    http_name = "rawhttp.blocking" if blocking_twin else "rawhttp"
    service_label = "rawhttp-blocking" if blocking_twin else SERVICE

    parsing = parsing_choice(args.parsing)
    request_log = RequestLog()
    settings = HttpSettings(
        limits=Limits(max_body=args.max_body),
        header_timeout=args.header_timeout,
        idle_timeout=args.idle_timeout,
        min_body_rate=args.min_body_rate,
        strict=parsing == "strict",
    )
    app = App(StaticFiles(docroot), request_log, args.mode, published_ports())

    def http_factory(peer: str) -> HttpConnection:
        return HttpConnection(app, request_log, settings, peer)

    busy_response = error_response(503, "every worker thread is busy; retry in a second")
    busy_response.headers.append(("Retry-After", "1"))
    busy = encode(busy_response, keep_alive=False)

    def bind(name: str, port: int | None) -> Any:
        chosen = _port(name) if port is None else port
        return bind_socket(service_label, args.host, chosen, env_var=env_var_for(name))

    listeners = [Listener("http", bind(http_name, args.port), http_factory, busy_reply=busy)]
    if not args.http_only:
        store = StoryStore()
        listeners.append(Listener("echo", bind("rawhttp.echo", args.echo_port), EchoConnection))
        listeners.append(
            Listener(
                "line",
                bind("rawhttp.line", args.line_port),
                lambda peer: LineConnection(store, peer),
                busy_reply=b"ERROR server busy, retry in a second\n",
            )
        )
        ca = ensure_ca(state_dir(args.state_dir))
        listeners.append(
            Listener(
                "https",
                bind("rawhttp.https", args.https_port),
                http_factory,
                tls=server_context(ca),
            )
        )
        logger.info("lab CA: %s", ca.ca_cert)

    if args.mode == "selectors":
        server: Any = SelectorServer(listeners)
    elif args.mode == "threads":
        server = ThreadPoolServer(listeners, workers=args.workers)
    else:
        server = BlockingServer(listeners)

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Everything built so far lives as long as the process: keep it out of the cyclic
    # collector's full passes, which otherwise show up as latency spikes under load.
    gc.freeze()
    server.start()
    for listener in listeners:
        host, port = listener.sock.getsockname()[:2]
        logger.info(
            "%s listening on %s:%d (%s mode, %s parsing)",
            listener.name,
            host,
            port,
            args.mode,
            parsing,
        )
    logger.info("document root: %s", docroot)
    # The main thread only waits, so a signal is handled at once in every mode.
    while not stop.wait(0.25):
        pass
    server.close()
    logging.shutdown()


if __name__ == "__main__":
    run_service(SERVICE, main)
