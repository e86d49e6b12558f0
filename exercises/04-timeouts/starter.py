"""Exercise 04: fetch a page, but give up within 2 seconds when the server hangs.

Run it with the target in the environment (`lab exercise check 4` does this for you):
    WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=<rawhttp via the proxy> python starter.py
Exit 0 and print the status line on success; exit 1 when you gave up.
"""

from __future__ import annotations

import os
import socket
import sys

GIVE_UP_AFTER = 2.0  # seconds, for the whole exchange


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    # TODO: nothing here ever times out. When the server accepts the connection and then
    #       says nothing, this program waits for ever. Add a deadline.
    sock = socket.create_connection((host, port))
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    print(data.split(b"\r\n", 1)[0].decode("iso-8859-1"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
