"""Exercise 09: TLS by hand. Wrap a socket with ssl, verify the server, send a GET.

Run it with the target in the environment (`lab exercise check 9` does this for you):
    WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=<rawhttp https port> \
    WIRELAB_CA_FILE=$(lab ca) python starter.py
Print the status line; exit 1 if the server cannot be trusted.
"""

from __future__ import annotations

import os
import socket
import sys


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    cafile = os.environ.get("WIRELAB_CA_FILE")
    server_name = os.environ.get("WIRELAB_SERVER_NAME", host)
    del cafile, server_name  # TODO: use them to build an ssl context that verifies the server
    with socket.create_connection((host, port), timeout=5) as sock:
        # TODO: this talks plain text to a TLS port, so the server sees garbage.
        #       Wrap the socket with ssl before sending.
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b"(the server reset the connection)"
    print(answer[:80])
    return 0


if __name__ == "__main__":
    sys.exit(main())
