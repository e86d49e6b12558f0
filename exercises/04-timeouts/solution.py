"""Exercise 04, reference answer: one deadline for the whole exchange.

A timeout on connect() alone is not enough: a server (or a proxy) can accept the
connection and then say nothing. Every blocking call gets what is left of one deadline.
"""

from __future__ import annotations

import os
import socket
import sys
import time

GIVE_UP_AFTER = 2.0  # seconds, for the whole exchange


class GaveUp(Exception):
    pass


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise GaveUp
    return left


def fetch_status_line(host: str, port: int, deadline: float) -> str:
    sock = socket.create_connection((host, port), timeout=remaining(deadline))
    with sock:
        sock.settimeout(remaining(deadline))
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            sock.settimeout(remaining(deadline))  # what is left, not a fresh 2 s per recv
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection without a status line")
            data += chunk
    return data.split(b"\r\n", 1)[0].decode("iso-8859-1")


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    started = time.monotonic()
    try:
        print(fetch_status_line(host, port, started + GIVE_UP_AFTER))
    except (GaveUp, TimeoutError):
        print(f"gave up after {time.monotonic() - started:.2f} s", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
