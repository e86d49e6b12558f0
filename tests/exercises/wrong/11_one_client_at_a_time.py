"""A plausible wrong answer to exercise 11: a correct echo loop, but one client at a time.

While the first client is connected every other one waits in the listen queue.
"""

from __future__ import annotations

import os
import socket

host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8089"))
with socket.socket() as server:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(256)
    while True:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)
