"""The upstream allowlist: which hosts a proxy reachable from other machines may relay to.

Without it, a proxy listening beyond loopback would be an open relay to any host. A
proxy on a loopback listener is reachable from this machine only, so (unless faultproxy
runs with ``--public-listen``) its upstream is not checked, as in Toxiproxy.

Entries are host names (matched exactly, case-insensitively), IP addresses, or CIDR
networks. Names are trusted as listed and not resolved here; IP literals must fall
in a listed network. ``*`` allows everything (for a private machine that wants it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from services.faultproxy.core.addresses import is_loopback_literal

# Loopback plus the lab's own services as Docker Compose names them.
DEFAULT_ALLOW = (
    "127.0.0.0/8",
    "::1/128",
    "localhost",
    "rawhttp",
    "rawhttp-blocking",
    "restapi",
    "udpstream",
)


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (any other name could resolve anywhere)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return is_loopback_literal(host)  # the listen pinning's rule: ::ffff:127.0.0.1 too
    except ValueError:
        return False


class AllowlistError(ValueError):
    pass


class Allowlist:
    def __init__(self, entries: Iterable[str] = DEFAULT_ALLOW) -> None:
        self.entries = list(entries)
        self.allow_all = False
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in self.entries:
            entry = raw.strip()
            if entry == "*":
                self.allow_all = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if not entry or "/" in entry or any(c.isspace() for c in entry):
                raise AllowlistError(
                    f"--allow {raw!r} is neither a host name, an IP address nor a CIDR"
                )
            self.names.add(entry.lower().rstrip("."))

    def allows(self, host: str) -> bool:
        if self.allow_all:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host.lower().rstrip(".") in self.names
        return any(address in net for net in self.networks if net.version == address.version)

    def describe(self) -> str:
        return "*" if self.allow_all else ", ".join(self.entries)
