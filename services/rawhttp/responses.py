"""HTTP/1.1 response formatting, sans-I/O: a ``Response`` in, the bytes to send out.

The status lines and the ``Date`` header are built once (the date once a second), so
the hot path joins a few ready-made byte strings.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Final

SERVER: Final = "wirelab-rawhttp"

REASONS: Final = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
_STATUS_LINES: Final = {
    code: f"HTTP/1.1 {code} {reason}\r\n".encode("ascii") for code, reason in REASONS.items()
}
# Statuses that never carry a body (RFC 9110 §6.4.1).
_NO_BODY: Final = frozenset({100, 204, 304})
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False  # close the connection after this response
    # Pre-encoded header lines ("Name: value\r\n" ...) for responses built once and reused.
    raw_headers: bytes = b""


def reason(status: int) -> str:
    return REASONS.get(status, "Unknown")


_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def http_date(timestamp: float) -> str:
    """RFC 9110 §5.6.7 IMF-fixdate, independent of the process locale."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class _DateCache:
    """``Date: ...\\r\\n`` rebuilt at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = f"Date: {http_date(now)}\r\nServer: {SERVER}\r\n".encode()
        return self._line


_date = _DateCache()


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status} {reason(status)}\r\n".encode("ascii")
    return line


def encode(
    response: Response, *, head_only: bool = False, keep_alive: bool = True, http10: bool = False
) -> bytes:
    """The wire bytes of ``response``; ``head_only`` for HEAD (length kept, body dropped)."""
    status = response.status
    parts = [status_line(status), _date.line(), response.raw_headers]
    for name, value in response.headers:
        parts.append(f"{name}: {value}\r\n".encode("latin-1"))
    body = response.body
    if status not in _NO_BODY:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    else:
        body = b""
    if not keep_alive or response.close:
        parts.append(b"Connection: close\r\n\r\n")
    elif http10:  # an HTTP/1.0 client assumes a close unless told otherwise
        parts.append(b"Connection: keep-alive\r\n\r\n")
    else:
        parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


def error_response(status: int, message: str, *, close: bool = True) -> Response:
    """A small text/plain body that says what was wrong."""
    body = f"{status} {reason(status)}: {message}\n".encode("utf-8", "replace")
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")], body, close=close)


def html_page(status: int, title: str, paragraph: str) -> Response:
    body = (
        "<!doctype html>\n<html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n<p>{html.escape(paragraph)}</p>\n"
        '<p><a href="/">wirelab rawhttp</a></p></body></html>\n'
    ).encode()
    return Response(status, [("Content-Type", "text/html; charset=utf-8")], body)
