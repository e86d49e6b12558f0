"""Parsing ``host:port`` strings the way Toxiproxy's clients write them (sans-I/O)."""

from __future__ import annotations

import ipaddress


class AddressError(ValueError):
    pass


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
