"""Where HTTP/1.1 messages start and end, found cheaply (sans-I/O): the screen's parser.

The screen (`http.screen`) copies a connection's bytes while it only needs to know where
each request and response ends and what a request head says. This module answers exactly
that for the common, unambiguous shapes, and says ``None`` (or sets ``broken``) for
everything else: a head it cannot read with certainty, conflicting or repeated lengths, a
transfer coding other than ``chunked``. The caller then hands the connection to the full
exchange (h11) at a message boundary, so this parser never has to be right about the hard
cases, only sure when it is out of its depth.

It runs once per message on the fast path, so it is written for speed: a whole head is
checked by one regular expression over its latin-1 text, the framing fields are found with
``str.find``, and a body's framing is an int (its length, or `CHUNKED`) rather than an
object. Together that is a few µs a message, several times less than line-by-line parsing.
"""

from __future__ import annotations

import re

from services.faultproxy.http.matching import RequestHead

MAX_HEAD = 65536  # h11's default limit is 16 KiB; beyond this we do not even look
MAX_LINE = 4096  # a chunk-size line or a trailer line

# A body's framing: a length in bytes (0: no body), or CHUNKED.
CHUNKED = -1
# What a response head means beyond its body's framing (see `parse_response_head`).
INFORMATIONAL = -2  # a 1xx other than 101: the response itself is still to come
NOT_FRAMED = -3  # the rest of the connection is not framed HTTP (101, CONNECT, until close)

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD = _TOKEN + r":[^\x00-\x08\x0a-\x1f\x7f]*\r\n"  # no obs-fold, no bare CR or LF
_REQUEST_HEAD = re.compile(rf"({_TOKEN}) ([^\x00-\x20\x7f]+) HTTP/1\.([01])\r\n((?:{_FIELD})*)\r\n")
_RESPONSE_HEAD = re.compile(
    rf"HTTP/1\.[01] ([1-9][0-9][0-9])(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\r\n((?:{_FIELD})*)\r\n"
)
_TRAILER_LINE = re.compile(_FIELD.encode())
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _field(fields: str, name: str) -> str | None:
    """The one value of ``name`` (``"\ncontent-length:"``) in ``fields`` (lower-cased, each
    line after a LF); "" when absent, None when repeated (then h11 should judge)."""
    at = fields.find(name)
    if at < 0:
        return ""
    if fields.find(name, at + 1) >= 0:
        return None
    return fields[at + len(name) : fields.index("\r", at)].strip(" \t")


def _body_framing(block: str) -> tuple[int | None, bool, bool]:
    """(the body's framing, or None when it is anything less than plain; whether a
    Content-Length was given; whether an Upgrade was asked for)."""
    fields = "\n" + block.lower()
    upgrade = "\nupgrade:" in fields
    if "\ncontent-length:" not in fields and "\ntransfer-encoding:" not in fields:
        return 0, False, upgrade
    length = _field(fields, "\ncontent-length:")
    coding = _field(fields, "\ntransfer-encoding:")
    if length is None or coding is None:
        return None, True, upgrade
    if coding:
        # Only plain "chunked", and never with a length: the smuggling shape is h11's call.
        return (CHUNKED if coding == "chunked" and not length else None), bool(length), upgrade
    if not (length.isascii() and length.isdigit()) or len(length) > 18:
        return None, True, upgrade
    return int(length), True, upgrade


def parse_request_head(head: bytes) -> tuple[RequestHead, int] | None:
    """A whole request head (ending ``\\r\\n\\r\\n``) as a `RequestHead` and its body's framing,
    or None when the full parser should judge it (also CONNECT and Upgrade requests)."""
    match = _REQUEST_HEAD.fullmatch(head.decode("latin-1"))
    if match is None:
        return None
    method, target, minor, block = match.groups()
    framing, _, upgrade = _body_framing(block)
    if framing is None or upgrade or method == "CONNECT":
        return None
    return RequestHead(method, target, http_version="1." + minor, raw_fields=block), framing


def parse_response_head(head: bytes, method: str) -> int | None:
    """A whole response head to a ``method`` request: its body's framing, `INFORMATIONAL` or
    `NOT_FRAMED`; None when it cannot be framed here."""
    match = _RESPONSE_HEAD.fullmatch(head.decode("latin-1"))
    if match is None:
        return None
    status = int(match.group(1))
    if status == 101 or (method == "CONNECT" and 200 <= status < 300):
        return NOT_FRAMED
    if status < 200:
        return INFORMATIONAL
    if method == "HEAD" or status in (204, 304):
        return 0
    framing, has_length, _ = _body_framing(match.group(2))
    if framing == 0 and not has_length:
        return NOT_FRAMED  # delimited by the close
    return framing


class BodyScanner:
    """Follows one body, chunked or of a known length, across reads; says where it ends."""

    __slots__ = ("_left", "_chunked", "_state", "_line", "done", "broken")

    def __init__(self, framing: int) -> None:
        self._chunked = framing == CHUNKED
        self._left = 0 if self._chunked else framing
        self._state = "size" if self._chunked else "data"
        self._line = bytearray()
        self.done = framing == 0
        self.broken = False

    def feed(self, buf: bytes, pos: int) -> int:
        """Consume from ``buf[pos:]`` up to the body's end; return the new position."""
        end = len(buf)
        while pos < end and not self.done and not self.broken:
            state = self._state
            if state == "data":
                take = min(self._left, end - pos)
                pos += take
                self._left -= take
                if self._left == 0:
                    if self._chunked:
                        self._state = "crlf"
                    else:
                        self.done = True
            elif state == "crlf":
                need = 2 - len(self._line)
                self._line += buf[pos : pos + need]
                pos += min(need, end - pos)
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        self.broken = True
                    self._line.clear()
                    self._state = "size"
            else:  # "size" or "trailer": a line up to LF
                nl = buf.find(b"\n", pos)
                stop = end if nl < 0 else nl + 1
                self._line += buf[pos:stop]
                pos = stop
                if len(self._line) > MAX_LINE:
                    self.broken = True
                elif nl >= 0:
                    self._line_done()
        return pos

    def _line_done(self) -> None:
        line = bytes(self._line)
        self._line.clear()
        if not line.endswith(b"\r\n"):
            self.broken = True
            return
        if self._state == "trailer":
            if line == b"\r\n":
                self.done = True
            elif not _TRAILER_LINE.fullmatch(line):
                self.broken = True
            return
        size = line[:-2].split(b";", 1)[0].rstrip(b" \t")
        if not _HEX.fullmatch(size):
            self.broken = True
            return
        self._left = int(size, 16)
        self._state = "data" if self._left else "trailer"
