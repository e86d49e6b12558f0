"""Normalise real exceptions into the error kinds a scenario names.

A scenario says what a human would say ("the connection was refused", "the read timed
out"), not which library raised what. Every probe passes its exceptions through
``classify`` so ``expect: {error: read_timeout}`` means the same for every client.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator

# The kinds a scenario may name, with the sentence shown in reports.
ERROR_KINDS: dict[str, str] = {
    "connect_refused": "the connection was refused (nothing listening, or the proxy is disabled)",
    "connect_timeout": "the connection was not established in time",
    "read_timeout": "no data arrived within the read timeout",
    "total_timeout": "the whole exchange took longer than the total timeout",
    "write_timeout": "sending did not complete in time",
    "reset": "the peer reset the connection (RST)",
    "eof": "the peer closed the connection before a complete answer",
    "tls_error": "the TLS handshake or certificate check failed",
    "protocol_error": "the peer answered with bytes that break the protocol",
    "unreachable": "the network or host is unreachable",
    "hung": "the probe did not finish within the step's bound and was cut by the scenario",
    "exec_timeout": "the program ran past its timeout and was killed",
    "error": "another failure (see the detail)",
}

NO_ERROR = "none"


class ProbeError(Exception):
    """A failure a probe already classified (``kind`` is one of ERROR_KINDS)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class TotalTimeout(ProbeError):
    def __init__(self, seconds: float):
        super().__init__("total_timeout", f"exceeded the total timeout of {seconds:g}s")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, so a wrapped OSError still decides the kind."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _kind_of_oserror(exc: OSError, phase: str) -> str | None:
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls_error"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connect_refused"
    if isinstance(exc, ConnectionResetError) or exc.errno in (errno.ECONNRESET, errno.ECONNABORTED):
        return "reset"
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        # Writing to a peer that already closed: the peer went away under us.
        return "reset"
    if isinstance(exc, TimeoutError | socket.timeout) or exc.errno == errno.ETIMEDOUT:
        return {"connect": "connect_timeout", "write": "write_timeout"}.get(phase, "read_timeout")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return None


def _kind_by_name(exc: BaseException, phase: str) -> str | None:
    """Library exceptions (httpx, websockets, h11) recognised by class name.

    Matching on names keeps this module free of optional imports, and every client
    library names these the same way.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "ConnectTimeout" in names:
        return "connect_timeout"
    if "ReadTimeout" in names:
        return "read_timeout"
    if "WriteTimeout" in names:
        return "write_timeout"
    if names & {
        "RemoteProtocolError",
        "ConnectionClosed",
        "ConnectionClosedError",
        "IncompleteRead",
    }:
        text = str(exc).lower()
        if (
            "disconnected" in text
            or "without sending" in text
            or "incomplete" in text
            or "closed" in text
        ):
            return "eof"
        return "protocol_error"
    if names & {
        "LocalProtocolError",
        "ProtocolError",
        "InvalidMessage",
        "InvalidStatus",
        "InvalidHandshake",
    }:
        return "protocol_error"
    if "TimeoutException" in names:
        return {"connect": "connect_timeout"}.get(phase, "read_timeout")
    return None


def classify(exc: BaseException, phase: str = "read") -> tuple[str, str]:
    """(kind, detail) for an exception raised while ``phase`` (connect, write, read) ran."""
    if isinstance(exc, ProbeError):
        return exc.kind, exc.detail
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    for link in _chain(exc):
        if isinstance(link, ProbeError):
            return link.kind, link.detail
        if isinstance(link, OSError):
            kind = _kind_of_oserror(link, phase)
            if kind:
                return kind, detail
    for link in _chain(exc):
        kind = _kind_by_name(link, phase)
        if kind:
            return kind, detail
    return "error", detail
