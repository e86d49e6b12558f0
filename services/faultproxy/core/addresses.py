"""Parsing ``host:port`` strings the way Toxiproxy's clients write them (sans-I/O)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable


class AddressError(ValueError):
    pass


class AddressRefused(AddressError):
    """Well-formed, but not allowed here (answered 403): a listen address beyond loopback
    without --public-listen, or a built-in upstream name that resolves off loopback."""


PUBLIC_LISTEN_FLAG = "--public-listen"
PUBLIC_LISTEN_ENV = "WIRELAB_FAULTPROXY_PUBLIC_LISTEN"


def split_host_port(text: object, what: str) -> tuple[str, int]:
    """``"127.0.0.1:80"``, ``"[::1]:80"``, ``"localhost:0"``, ``":8080"`` -> (host, port)."""
    if not isinstance(text, str) or not text:
        raise AddressError(f"{what} must be a non-empty 'host:port' string, got {text!r}")
    if len(text) > 300 or any(c.isspace() for c in text):
        raise AddressError(f"{what} is not a valid 'host:port': {text[:60]!r}")
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise AddressError(f"{what} {text!r}: an IPv6 address needs the form [addr]:port")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise AddressError(f"{what} {text!r} has no port: use 'host:port'")
        if ":" in host:
            raise AddressError(f"{what} {text!r}: write an IPv6 address as [addr]:port")
    if not port_text.isascii() or not port_text.isdigit():
        raise AddressError(f"{what} {text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise AddressError(f"{what} {text!r}: port {port} is above 65535")
    if host and not _valid_host(host):
        raise AddressError(f"{what} {text!r}: {host!r} is not a valid host name or address")
    return host, port


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if len(host) > 253 or not host.isascii():
        return False
    labels = host.rstrip(".").split(".")
    return all(
        label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)
        for label in labels
    )


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_host(host: str) -> str:
    """Where to bind: ``localhost`` is returned (and bound) as 127.0.0.1, as Toxiproxy does;
    an empty host means all interfaces, as in Go's ``net.Listen``."""
    if host == "localhost" or host == "":
        return "127.0.0.1" if host == "localhost" else "0.0.0.0"
    return host


def go_errno_text(exc: OSError) -> str:
    """An OS error as Go spells it (``address already in use``): clients match the text."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


# -- where a proxy may listen ---------------------------------------------------------------
#
# A proxy relays to services that trust loopback (restapi's /_lab/reset has no login), so
# by default it listens on loopback only. "All interfaces" (0.0.0.0, [::], an empty host,
# "0") is what Toxiproxy clients ask for by habit (Chaos Toolkit sends 0.0.0.0:0): it is
# narrowed to loopback of the same family, not refused. Only an explicit other address is
# refused, unless faultproxy was started with --public-listen (Compose needs it: there
# the proxies must listen on the container's interface).

Resolver = Callable[[str], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str) -> list[str]:
    """A host name (or a legacy numeric form like ``0`` or ``127.1``) to its IP literals,
    the system resolver's preferred one first. Blocking: names are rare here (clients
    send IP literals or ``localhost``), and binding a name would resolve it anyway."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressError(f"host {host!r} does not resolve ({exc})") from None
    literals = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not literals:
        raise AddressError(f"host {host!r} does not resolve")
    return literals


def _unmapped(address: IPAddress) -> IPAddress:
    # ::ffff:0.0.0.0 and ::ffff:127.0.0.1 are IPv4 in disguise (Python 3.11 does not see it).
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback_literal(literal: str) -> bool:
    return _unmapped(ipaddress.ip_address(literal.split("%", 1)[0])).is_loopback


def pin_listen(text: str, public: bool, resolve: Resolver = resolve_host) -> str:
    """The ``host:port`` a proxy binds for the requested ``text`` (already split-checked).

    The host comes back as an IP literal, so what was checked is what gets bound.
    """
    host, port = split_host_port(text, "listen")
    if host.lower().rstrip(".") == "localhost":
        return join_host_port("127.0.0.1", port)  # as Toxiproxy, without asking a resolver
    if host == "":
        literal = "0.0.0.0"  # Go's net.Listen: all interfaces
    else:
        try:
            literal = str(ipaddress.ip_address(host))
        except ValueError:
            try:
                literal = resolve(host)[0]
            except AddressError as exc:
                raise AddressError(f"listen {text!r}: {exc}") from None
    address = ipaddress.ip_address(literal.split("%", 1)[0])
    plain = _unmapped(address)
    if plain.is_loopback or public:
        return join_host_port(literal, port)
    if plain.is_unspecified:
        return join_host_port("127.0.0.1" if plain.version == 4 else "::1", port)
    raise AddressRefused(
        f"listen {text!r}: {literal} is not a loopback address, and this faultproxy lets "
        f"proxies listen on loopback only; start it with {PUBLIC_LISTEN_FLAG} "
        f"(or {PUBLIC_LISTEN_ENV}=1) to allow other addresses"
    )


def check_pinned_name(
    host: str, allowed_address: Callable[[str], bool], resolve: Resolver = resolve_host
) -> list[str]:
    """A built-in upstream name (``restapi``, ``localhost.``) is trusted only where it
    resolves, now, to loopback or to an allowed address: on a machine whose DNS (or search
    domain) knows another ``restapi``, the name must not open a relay to it. Returns the
    addresses it resolved to."""
    try:
        literals = resolve(host)
    except AddressError as exc:
        raise AddressRefused(
            f"upstream {exc}; the lab's service names are Compose names: "
            "outside Compose use 127.0.0.1"
        ) from None
    off = [a for a in literals if not (is_loopback_literal(a) or allowed_address(a))]
    if off:
        raise AddressRefused(
            f"upstream host {host!r} resolves to {', '.join(off)}, not to loopback; a built-in "
            f"name is only trusted as loopback here: list it with --allow {host} to trust it "
            "wherever it resolves"
        )
    return literals
