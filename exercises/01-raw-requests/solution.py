"""Exercise 01, reference answer: a raw HTTP/1.1 GET over a TCP socket.

Run it with the target in the environment (`lab exercise check 1` does this for you):
    WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=<rawhttp port> python solution.py
"""

from __future__ import annotations

import os
import socket
import sys


def target() -> tuple[str, int, str]:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = os.environ.get("WIRELAB_TARGET_PORT")
    if not port:
        sys.exit("set WIRELAB_TARGET_PORT to rawhttp's port (lab exercise show 1 prints it)")
    return host, int(port), os.environ.get("WIRELAB_PATH", "/")


def read_head(sock: socket.socket) -> bytes:
    """Read until the blank line that ends the headers: one recv() is not one response."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:  # the server closed before the headers ended
            break
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0]


def main() -> int:
    host, port, path = target()
    # HTTP/1.1 requires Host; lines end in CRLF; a blank line ends the head.
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: wirelab-exercise-01\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request.encode("ascii"))
        head = read_head(sock)
    if not head:
        print("the server closed the connection without an answer", file=sys.stderr)
        return 1
    # The status line first, then one header per line, exactly as they arrived.
    print(head.decode("iso-8859-1"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
