"""The health probe ``lab status`` uses: one control round trip."""

from __future__ import annotations

import time

from services.udpstream.stats import StreamStats
from services.udpstream.transport import Receiver, UdpStreamError, connect, send_control


def probe(host: str, port: int, timeout: float = 1.0) -> dict:
    """Ask a udpstream server for its health; return its reply with ``rtt_ms`` added.

    The request is sent twice (at 0 and half the timeout) because UDP may drop one.
    Raises :class:`UdpStreamError` (nothing listening, no answer, a wrong answer).
    """
    sock = connect(host, port)
    rx = Receiver(sock, StreamStats(), host, port)
    try:
        start = time.monotonic()
        deadline = start + timeout
        for attempt in range(2):
            sent_at = time.monotonic()
            send_control(sock, {"op": "health"})
            until = deadline if attempt else start + timeout / 2
            while (left := until - time.monotonic()) > 0:
                for reply in rx.drain(left):
                    if reply.get("type") == "health" and reply.get("service") == "udpstream":
                        reply["rtt_ms"] = round((time.monotonic() - sent_at) * 1e3, 3)
                        return reply
                    if reply.get("type") == "error":
                        raise UdpStreamError(f"health probe refused: {reply.get('error')}")
    finally:
        sock.close()
    raise UdpStreamError(f"no health reply from {host}:{port}/udp within {timeout:g} s")
