"""TCP echo as a ``StreamProtocol``: bytes back as they come; the client's half-close
(``shutdown(SHUT_WR)``) ends the echo cleanly once the last byte is sent back."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("rawhttp.echo")

# Stop reading while this much is waiting to go back (a client that sends but never
# reads must not grow the server's memory without bound).
HIGH_WATER = 1 << 20


class EchoConnection:
    def __init__(self, peer: str, idle_timeout: float = 300.0) -> None:
        self.peer = peer
        self.idle_timeout = idle_timeout
        self.closing = False
        self.bytes_in = 0
        self._out: list[bytes] = []
        self._started = self._last = time.monotonic()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self._last = time.monotonic()
        self._out.append(data)

    def eof_received(self) -> None:
        self.closing = True  # the loop sends what is left, then closes

    def take_output(self) -> bytes:
        out, self._out = self._out, []
        return b"".join(out)

    def deadline(self) -> float | None:
        return None if self.closing else self._last + self.idle_timeout

    def on_timeout(self, now: float) -> None:
        self.closing = True

    def connection_lost(self, error: str | None) -> None:
        log.info(
            "%s echoed %d bytes in %.3f s%s",
            self.peer,
            self.bytes_in,
            time.monotonic() - self._started,
            f" ({error})" if error else "",
        )
