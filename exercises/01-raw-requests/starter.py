"""Exercise 01: send a raw GET over a socket and print the status line and headers.

Run it with the target in the environment (`lab exercise check 1` does this for you):
    WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=<rawhttp port> python starter.py
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


def main() -> int:
    host, port, path = target()
    with socket.create_connection((host, port), timeout=5) as sock:
        # TODO: build a GET request for `path` (request line, Host header, blank line),
        #       send it with sock.sendall(), then read the answer until the blank line
        #       that ends the headers.
        print(f"connected to {sock.getpeername()}, but no request sent yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
