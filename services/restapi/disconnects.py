"""A client that goes away mid-request is routine on a lab network: one log line, no traceback."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import Response

log = logging.getLogger("restapi")
CLIENT_CLOSED_REQUEST = (
    499  # nginx's code; recorded in the request log, never sent (nobody listens)
)


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    peer = request.client
    log.info(
        "client %s disconnected before its request was complete: %s %s",
        f"{peer.host}:{peer.port}" if peer else "?",
        request.method,
        request.url.path,
    )
    return Response(status_code=CLIENT_CLOSED_REQUEST)
