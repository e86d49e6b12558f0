"""The fault proxy's standard proxies, one per proxied endpoint, derived from services.ports.

Toxiproxy's `POST /populate` shape: a list of {name, listen, upstream, enabled, protocol}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.ports import ENDPOINTS, VIA_PROXY, Endpoint, default_port


def standard_proxies(
    *,
    listen_host: str = "127.0.0.1",
    upstream_host: Callable[[Endpoint], str] = lambda e: "127.0.0.1",
    env: Mapping[str, str] | None = None,
    upstream_port: Callable[[Endpoint], int] | None = None,
) -> list[dict]:
    """Proxies for every proxied endpoint.

    ``upstream_host`` maps an endpoint to where its service answers: 127.0.0.1 for the
    local backend, the Compose service name (``rawhttp``) for the docker backend, where
    upstream ports are the in-network defaults, not the published ones.
    """
    proxies = []
    for ep in ENDPOINTS:
        if not ep.proxied:
            continue
        up_port = upstream_port(ep) if upstream_port else default_port(ep.name, env)
        proxies.append(
            {
                "name": ep.proxy_name,
                "listen": f"{listen_host}:{default_port(ep.name + VIA_PROXY, env)}",
                "upstream": f"{upstream_host(ep)}:{up_port}",
                "enabled": True,
                "protocol": ep.proto,
            }
        )
    return proxies
