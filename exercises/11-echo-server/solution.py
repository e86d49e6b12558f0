"""Exercise 11, reference answer: a threaded TCP echo server that honours half-close.

It listens where the environment says (`lab exercise check 11` sets these for you):
    WIRELAB_LISTEN_HOST=127.0.0.1 WIRELAB_LISTEN_PORT=8089 python solution.py
"""

from __future__ import annotations

import os
import socket
import threading


def serve(conn: socket.socket) -> None:
    """Echo until the client has finished sending, then close our side."""
    with conn:
        try:
            # recv() returns whatever has arrived: a piece of a message, or several.
            # b"" means the client half-closed (it sends no more, but it still reads).
            while chunk := conn.recv(65536):
                conn.sendall(chunk)  # blocks until the client takes it: nothing is dropped
        except OSError:
            pass  # the client vanished (a reset): nothing more to do for it
    # Leaving `with conn` closes the socket: the client's reading loop sees the end.


def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8089"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(256)  # room for many clients arriving together
        print(f"echo server on {host}:{port}", flush=True)
        while True:
            conn, _addr = server.accept()
            # One thread per client: a slow or idle client never holds up the others.
            threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
