"""The interface between a connection's protocol logic and the socket loops.

A protocol object is sans-I/O: the loop hands it bytes (``data_received``), the end of
input (``eof_received``) and the passing of time (``on_timeout`` once ``deadline()`` is
reached); it hands back bytes to send (``take_output``) and says when the connection
should end (``closing``). HTTP, TCP echo and the line protocol all fit this shape, so
each loop (blocking, threads, selectors) is written once for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class StreamProtocol(Protocol):
    closing: bool  # send what is left, then close (the loop half-closes first)

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> None: ...

    def take_output(self) -> bytes: ...

    def deadline(self) -> float | None:
        """Monotonic time at which ``on_timeout`` must be called, or None."""
        ...

    def on_timeout(self, now: float) -> None: ...

    def connection_lost(self, error: str | None) -> None:
        """The connection is gone; ``error`` says why if it was not a clean close."""
        ...


# Called with the peer "host:port" for each accepted connection.
ProtocolFactory = Callable[[str], StreamProtocol]


def peer_name(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address)
