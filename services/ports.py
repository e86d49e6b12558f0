"""The one table of default ports.

Everything else (the services' flags, the lab's backends, compose.yaml via a test)
reads ports from here, so a number is written once.

Resolution order for an endpoint's port:
  1. the explicit override passed in (a CLI flag),
  2. the environment variable ``WIRELAB_<NAME>_PORT`` (dots become underscores),
  3. the default below plus ``WIRELAB_PORT_OFFSET`` (default 0).
An endpoint reached through the fault proxy is ``<name>.via_proxy`` and defaults to
the direct port + ``PROXY_OFFSET``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PROXY_OFFSET = 10000
VIA_PROXY = ".via_proxy"


@dataclass(frozen=True)
class Endpoint:
    name: str  # logical name used by scenarios, e.g. "rawhttp.echo"
    service: str  # the process (and Compose service) that owns it
    port: int  # default port
    proto: str = "tcp"
    proxied: bool = True  # has a "<name>.via_proxy" twin on the fault proxy
    kind: str = "http"  # how the health probe talks to it: http, echo, line, tls, udp

    @property
    def env_var(self) -> str:
        return env_var_for(self.name)

    @property
    def proxy_name(self) -> str:
        """The name of this endpoint's proxy inside faultproxy."""
        return proxy_name_for(self.name)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("rawhttp", "rawhttp", 8080),
    Endpoint("rawhttp.blocking", "rawhttp-blocking", 8081),
    Endpoint("rawhttp.echo", "rawhttp", 9000, kind="echo"),
    Endpoint("rawhttp.line", "rawhttp", 9001, kind="line"),
    Endpoint("rawhttp.https", "rawhttp", 8443, proxied=False, kind="tls"),
    Endpoint("restapi", "restapi", 8000),
    Endpoint("udpstream", "udpstream", 9999, proto="udp", kind="udp"),
    Endpoint("faultproxy", "faultproxy", 8474, proxied=False),
    # The lab console (`lab console`, lab/console/): a web page the host's browser opens, so
    # it runs on the host beside any backend and is in no compose service.
    Endpoint("console", "console", 8475, proxied=False),
)

BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}
SERVICES: tuple[str, ...] = ("rawhttp", "rawhttp-blocking", "udpstream", "restapi", "faultproxy")


def proxy_name_for(name: str) -> str:
    """The fault proxy's name for an endpoint, however a user wrote it.

    ``rawhttp.echo``, ``rawhttp.echo.via_proxy`` and ``rawhttp_echo`` all give ``rawhttp_echo``.
    """
    return name.removesuffix(VIA_PROXY).replace(".", "_")


def proxy_names() -> list[str]:
    """The standard proxies' names, one per proxied endpoint."""
    return [e.proxy_name for e in ENDPOINTS if e.proxied]


def env_var_for(name: str) -> str:
    return "WIRELAB_" + name.upper().replace(".", "_").replace("-", "_") + "_PORT"


class PortConfigError(ValueError):
    """A port variable or offset that cannot be used; the message names it."""


def port_offset(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    raw = env.get("WIRELAB_PORT_OFFSET", "0")
    try:
        return int(raw)
    except ValueError:
        raise PortConfigError(f"WIRELAB_PORT_OFFSET must be an integer, got {raw!r}") from None


def default_port(name: str, env: Mapping[str, str] | None = None) -> int:
    """The port of an endpoint (``rawhttp``) or its proxied twin (``rawhttp.via_proxy``)."""
    env = os.environ if env is None else env
    raw = env.get(env_var_for(name))
    if raw:
        try:
            port = int(raw)
        except ValueError:
            raise PortConfigError(
                f"{env_var_for(name)} must be a port number, got {raw!r}"
            ) from None
        return _in_range(port, name, f"{env_var_for(name)}={raw}")
    if name.endswith(VIA_PROXY):
        base = BY_NAME.get(name[: -len(VIA_PROXY)])
        if base is None or not base.proxied:
            raise KeyError(name)
        port = default_port(base.name, env) + PROXY_OFFSET
        return _in_range(port, name, f"{env_var_for(base.name)} + {PROXY_OFFSET}")
    offset = port_offset(env)
    return _in_range(BY_NAME[name].port + offset, name, f"port offset {offset}")


def _in_range(port: int, name: str, cause: str) -> int:
    # Checked here, so a bad offset is one line naming it, not an OverflowError from bind().
    if not 1 <= port <= 65535:
        raise PortConfigError(
            f"{cause} puts {name} on port {port}; ports are 1-65535: choose a smaller offset "
            "or port"
        )
    return port


def all_endpoint_names() -> list[str]:
    names = [e.name for e in ENDPOINTS]
    names += [e.name + VIA_PROXY for e in ENDPOINTS if e.proxied]
    return names


# Inside Compose every service keeps its default port, but a host client uses the
# published ones; compose.yaml hands them to rawhttp (for its index page) in this variable,
# as ``name=port,name=port``.
PUBLISHED_PORTS_ENV = "WIRELAB_PUBLISHED_PORTS"


def published_ports(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """The ports a host client uses, from ``$WIRELAB_PUBLISHED_PORTS``; bad entries skipped."""
    text = (os.environ if env is None else env).get(PUBLISHED_PORTS_ENV, "")
    known = set(all_endpoint_names())
    ports: dict[str, int] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if sep and name in known and value.isdigit() and 0 < int(value) < 65536:
            ports[name] = int(value)
    return ports
