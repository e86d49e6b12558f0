"""Exercise 11: a TCP echo server. Make it serve many clients at once and finish properly.

It listens where the environment says (`lab exercise check 11` sets these for you):
    WIRELAB_LISTEN_HOST=127.0.0.1 WIRELAB_LISTEN_PORT=8089 python starter.py
Then try it: nc 127.0.0.1 8089   (type lines; Ctrl-D half-closes)
"""

from __future__ import annotations

import os
import socket


def serve(conn: socket.socket) -> None:
    # TODO: one recv() is a piece of what the client sends, not all of it: loop, echoing
    #       every piece, until recv() returns b"" (the client has finished sending).
    data = conn.recv(1024)
    conn.sendall(data)
    conn.close()


def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8089"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen()
        print(f"echo server on {host}:{port}", flush=True)
        while True:
            conn, _addr = server.accept()
            # TODO: serve many clients at the same time (a thread per client, asyncio, or
            #       selectors): while serve() runs here, every other client waits.
            serve(conn)


if __name__ == "__main__":
    main()
