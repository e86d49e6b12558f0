"""One line-protocol connection as a ``StreamProtocol`` (commands -> store -> replies,
the idle timeout), and the story store every connection of the service shares.

The framing and the replies are sans-I/O, in ``line_protocol``.
"""

from __future__ import annotations

import logging
import threading
import time

from services.rawhttp.line_protocol import MAX_KEYS, LineParser, Quit, answer
from services.rawhttp.stories import STORIES

log = logging.getLogger("rawhttp.line")


class StoryStore:
    """Stories by key, shared by every connection of the service (thread-safe)."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        source = STORIES if initial is None else initial
        self._stories = {k: v.encode() for k, v in source.items()}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._stories.get(key)

    def put(self, key: str, data: bytes) -> bool:
        with self._lock:
            if key not in self._stories and len(self._stories) >= MAX_KEYS:
                return False
            self._stories[key] = data
            return True

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._stories)


class LineConnection:
    """The line protocol as a ``StreamProtocol``."""

    def __init__(self, store: StoryStore, peer: str, idle_timeout: float = 300.0) -> None:
        self.store = store
        self.peer = peer
        self.idle_timeout = idle_timeout
        self.parser = LineParser()
        self.closing = False
        self.commands = 0
        self._out: list[bytes] = []
        self._started = self._last = time.monotonic()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self._last = time.monotonic()
        for event in self.parser.feed(data):
            self.commands += 1
            reply = answer(event, self.store)
            self._out.append(reply)
            log.info("%s %s -> %s", self.peer, type(event).__name__, reply[:40])
            if isinstance(event, Quit):
                self.closing = True
                break

    def eof_received(self) -> None:
        self.closing = True

    def take_output(self) -> bytes:
        out, self._out = self._out, []
        return b"".join(out)

    def deadline(self) -> float | None:
        return None if self.closing else self._last + self.idle_timeout

    def on_timeout(self, now: float) -> None:
        self._out.append(b"ERROR idle for %d s, closing\n" % int(self.idle_timeout))
        self.closing = True

    def connection_lost(self, error: str | None) -> None:
        log.info(
            "%s line session: %d commands in %.3f s%s",
            self.peer,
            self.commands,
            time.monotonic() - self._started,
            f" ({error})" if error else "",
        )
