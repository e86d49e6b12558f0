"""Answers that depend on the method alone, before any route: ``OPTIONS *`` and
methods this server does not recognise (RFC 9110 §9.1, §9.3.7). No sockets here."""

from __future__ import annotations

from typing import Final

from services.rawhttp.http11 import Request
from services.rawhttp.responses import Response, error_response

# RFC 9110 §9 and RFC 5789 (PATCH): the methods this server recognises.
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# What some resource here answers to (/echo takes any method; files GET and HEAD).
ALLOW_SERVER: Final = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE, TRACE"


def method_answer(request: Request) -> Response | None:
    """The answer when the method decides it, else None (the routes decide)."""
    method = request.method
    if method not in KNOWN_METHODS:
        # 501, not 405: 405 means "this resource refuses a method the server knows".
        response = error_response(
            501,
            f"method {method[:20]!r} is not implemented; use one of {ALLOW_SERVER}",
            close=False,
        )
        response.headers.append(("Allow", ALLOW_SERVER))
        return response
    if request.target == "*":
        if method == "OPTIONS":  # asterisk-form: about the server as a whole
            return Response(200, [("Allow", ALLOW_SERVER)])
        return error_response(400, f"'*' is a target for OPTIONS only, not {method}", close=False)
    return None
