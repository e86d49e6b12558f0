"""What HTTP/1.1 says about the raw bytes of a message head, for checks that look at the
bytes themselves (parsers such as h11, and rawhttp, forgive what a student must not do)."""

from __future__ import annotations

CRLF_HINT = (
    "end the request or status line and every header line with \\r\\n, not a bare \\n: "
    "HTTP/1.1 lines end in CRLF (RFC 9112, section 2.2), and the head ends with \\r\\n\\r\\n"
)


def head_of(raw: bytes) -> bytes:
    """The head of a message: up to and including its empty line (CRLF or a bare LF)."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return raw[: min(ends) + 2] if ends else raw


def bare_lf_line(raw: bytes) -> str | None:
    """The first line of the head that ends in a bare LF, or None when every one is CRLF."""
    head = head_of(raw)
    start = 0
    for i, byte in enumerate(head):
        if byte == 0x0A:
            if i == 0 or head[i - 1] != 0x0D:
                return head[start:i].decode("iso-8859-1") or "(the empty line)"
            start = i + 1
    return None
