"""The line protocol (GIMME/OKAY/MISSING), sans-I/O: bytes in, commands out, and the reply
to each command. No sockets, no clock, no lock: ``line_connection`` holds the shared story
store and the connection.

Client -> server, one command per line (``\\n``, an optional ``\\r`` before it is dropped):

    GIMME <key>            -> OKAY <len>\\n<len bytes of story>   or   MISSING\\n
    PUT <key> <len>\\n<len bytes>  -> STORED <key> <len>\\n
    LIST                   -> KEYS <key> <key> ...\\n
    QUIT                   -> BYE\\n, then the server closes

Anything else gets ``ERROR <why>\\n`` and the connection goes on. A line longer than
``MAX_LINE`` gets an error as soon as the limit is passed (not when the newline finally
comes), and the rest of that line is skipped. ``LineParser`` gives the same commands for
any fragmentation of the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol

MAX_LINE: Final = 1024
MAX_PUT: Final = 64 * 1024
MAX_KEYS: Final = 1000
_KEY_RE: Final = re.compile(rb"[\x21-\x7e]{1,64}")
_LENGTH_RE: Final = re.compile(rb"[0-9]{1,9}")


@dataclass(frozen=True)
class Gimme:
    key: str


@dataclass(frozen=True)
class Put:
    key: str
    data: bytes


@dataclass(frozen=True)
class ListKeys:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class BadLine:
    message: str


LineEvent = Gimme | Put | ListKeys | Quit | BadLine


def _show(data: bytes, limit: int = 40) -> str:
    return repr(data[:limit]) + ("..." if len(data) > limit else "")


class LineParser:
    """Bytes in, commands out. States: reading a line, skipping the rest of a too-long
    line, or reading the payload of a PUT."""

    def __init__(self, max_line: int = MAX_LINE, max_put: int = MAX_PUT) -> None:
        self.max_line = max_line
        self.max_put = max_put
        self._buf = bytearray()
        self._skipping = False
        self._put: tuple[str, int] | None = None  # key and length of a PUT payload

    def feed(self, data: bytes) -> list[LineEvent]:
        self._buf += data
        events: list[LineEvent] = []
        while True:
            if self._put is not None:
                key, length = self._put
                if len(self._buf) < length:
                    break
                events.append(Put(key, bytes(self._buf[:length])))
                del self._buf[:length]
                self._put = None
                continue
            nl = self._buf.find(b"\n")
            if self._skipping:
                if nl < 0:
                    self._buf.clear()
                    break
                del self._buf[: nl + 1]
                self._skipping = False
                continue
            if nl < 0:
                if len(self._buf) > self.max_line:
                    events.append(BadLine(f"line longer than {self.max_line} bytes"))
                    self._buf.clear()
                    self._skipping = True
                break
            if nl > self.max_line:
                events.append(BadLine(f"line longer than {self.max_line} bytes"))
                del self._buf[: nl + 1]
                continue
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            event = self._command(line)
            if event is not None:
                events.append(event)
        return events

    def _command(self, line: bytes) -> LineEvent | None:
        words = line.split()
        if not words:
            return None  # blank lines are ignored, as telnet users send them
        verb = words[0].upper()
        args = words[1:]
        if verb == b"GIMME":
            if len(args) != 1 or _KEY_RE.fullmatch(args[0]) is None:
                return BadLine(f"usage: GIMME <key> (got {_show(line)})")
            return Gimme(args[0].decode("ascii"))
        if verb == b"PUT":
            if len(args) != 2 or _KEY_RE.fullmatch(args[0]) is None:
                return BadLine(f"usage: PUT <key> <length> (got {_show(line)})")
            if _LENGTH_RE.fullmatch(args[1]) is None:
                return BadLine(f"PUT length is not a number: {_show(args[1])}")
            length = int(args[1])
            if length > self.max_put:
                return BadLine(f"PUT length {length} is larger than {self.max_put}")
            self._put = (args[0].decode("ascii"), length)
            return None
        if verb == b"LIST" and not args:
            return ListKeys()
        if verb == b"QUIT" and not args:
            return Quit()
        return BadLine(
            f"unknown command {_show(line)}; try GIMME <key>, PUT <key> <len>, LIST, QUIT"
        )


class Stories(Protocol):
    """What ``answer`` needs of a story store (``line_connection.StoryStore``)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> bool:
        """False when the store is full (``MAX_KEYS``)."""
        ...

    def keys(self) -> list[str]: ...


def answer(event: LineEvent, store: Stories) -> bytes:
    """The reply to one command."""
    if isinstance(event, Gimme):
        story = store.get(event.key)
        return b"MISSING\n" if story is None else b"OKAY %d\n%s" % (len(story), story)
    if isinstance(event, Put):
        if not store.put(event.key, event.data):
            return b"ERROR the store is full (%d keys)\n" % MAX_KEYS
        return b"STORED %s %d\n" % (event.key.encode(), len(event.data))
    if isinstance(event, ListKeys):
        return b"KEYS " + " ".join(store.keys()).encode() + b"\n"
    if isinstance(event, Quit):
        return b"BYE\n"
    return b"ERROR " + event.message.encode("utf-8", "replace") + b"\n"
