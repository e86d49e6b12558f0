"""Run the app on uvicorn over a socket we bound ourselves (one-line error if the port is taken)."""

from __future__ import annotations

import logging
import signal
import sys

import uvicorn

from services import ports
from services.common.net import bind_socket
from services.restapi.app_factory import create_app
from services.restapi.http_protocol import protocol_class
from services.restapi.settings import SERVICE, Settings

log = logging.getLogger(SERVICE)


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    """The uvicorn settings the service and its benchmark share."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        loop="auto",
        # httptools with a head size limit and a head deadline (see http_protocol.py).
        http=protocol_class(settings.max_head_bytes, settings.head_timeout_s),
        ws="auto",
        lifespan="on",
        timeout_graceful_shutdown=2,  # SIGTERM must not wait on a client holding /sse open
        server_header=False,
        # X-Forwarded-For is believed only from proxies named at start-up (none by default):
        # uvicorn's own default trusts 127.0.0.1, which here is every client.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )


def serve(settings: Settings) -> None:
    sock = bind_socket(
        SERVICE, settings.host, settings.port, env_var=ports.env_var_for(SERVICE), backlog=1024
    )
    app = create_app(settings)
    host, port = sock.getsockname()[:2]
    limits = ", ".join(
        f"{g}={p.capacity}/{p.refill_per_s:g}" for g, p in app.state.limiter.policies.items()
    )
    log.info(
        "restapi on http://%s:%s (db %s; rate limits %s)",
        host,
        port,
        settings.db_path,
        limits if settings.rate_limit_enabled else "off",
    )
    server = uvicorn.Server(uvicorn_config(app, settings))
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler that was
    # there before; make that handler a clean exit 0, since a stop was asked for.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    server.run(sockets=[sock])
