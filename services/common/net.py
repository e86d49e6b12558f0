"""Binding listeners with an error a person can act on."""

from __future__ import annotations

import errno
import socket

from services.common.errors import PortInUse, ServiceStartError


def bind_socket(
    service: str,
    host: str,
    port: int,
    *,
    proto: str = "tcp",
    env_var: str | None = None,
    backlog: int = 128,
) -> socket.socket:
    """Create, bind and (for TCP) listen; raise PortInUse / ServiceStartError with the cause."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    if not 0 <= port <= 65535:
        raise ServiceStartError(f"{service}: port {port} is out of range (0-65535)")
    sock = socket.socket(family, kind)
    try:
        if proto == "tcp":
            # Restarting a service must not wait out TIME_WAIT on its own port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if proto == "tcp":
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(service, host, port, proto, env_var) from None
        if exc.errno == errno.EACCES:
            raise ServiceStartError(
                f"{service}: no permission to bind {host}:{port}/{proto}: pick a port above 1023"
            ) from None
        raise ServiceStartError(
            f"{service}: cannot bind {host}:{port}/{proto}: {exc.strerror}"
        ) from None
    return sock
