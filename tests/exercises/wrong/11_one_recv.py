"""A plausible wrong answer to exercise 11: a thread per client, but one recv() each.

On loopback a short line arrives in one piece, so it seems to work; a message sent in
pieces comes back cut after the first.
"""

from __future__ import annotations

import os
import socket
import threading


def serve(conn: socket.socket) -> None:
    with conn:
        conn.sendall(conn.recv(65536))


host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8089"))
with socket.socket() as server:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(256)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
