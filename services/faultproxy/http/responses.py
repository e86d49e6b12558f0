"""The bytes of the responses the proxy makes up itself (sans-I/O, serialized by h11)."""

from __future__ import annotations

import random
from http import HTTPStatus
from typing import Any

import h11

from services.faultproxy.http.matching import RequestHead
from services.faultproxy.http.toxic_specs import header_items


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("latin-1")
    except ValueError:
        return b""


def status_response(
    conn: h11.Connection, head: RequestHead, attrs: dict[str, Any]
) -> tuple[bytes, bytes, bool]:
    """(header bytes, body bytes, must close) for ``http_status``, as a reply on ``conn``.

    ``conn`` is the h11 server connection that parsed the request, so h11 applies HTTP's
    rules: ``Connection: close`` for a 1.0 client or one that asked to close, no body for
    HEAD, 204 or 304.
    """
    status = attrs["status"]
    body = attrs["body"].encode("utf-8")
    bodiless = head.method == "HEAD" or status in (204, 304)
    headers: list[tuple[str, str]] = [(n, str(v)) for n, v in header_items(attrs["headers"] or {})]
    names = {n.lower() for n, _ in headers}
    if status not in (204, 304):
        headers.append(("Content-Length", str(len(body))))
    if body and "content-type" not in names:
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    head_bytes = conn.send(
        h11.Response(status_code=status, headers=headers, reason=reason_phrase(status))
    )
    body_bytes = b"" if bodiless else (conn.send(h11.Data(data=body)) or b"")
    body_bytes += conn.send(h11.EndOfMessage()) or b""
    return head_bytes or b"", body_bytes, conn.our_state is h11.MUST_CLOSE


def malformed_response(rng: random.Random) -> bytes:
    """A valid status line, then a chunk header no parser accepts, then (the caller) close.

    The garbage starts with bytes that are not hex digits, so it can never be read as a
    chunk size by accident.
    """
    garbage = bytes(rng.randrange(0x21, 0x7F) for _ in range(24))
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"zz" + garbage + b"\r\n"
