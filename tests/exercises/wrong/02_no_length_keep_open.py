"""A plausible wrong answer to exercise 02: a 404 status, but no Content-Length and no close.

The client cannot tell where the body ends and waits for ever: h11 must flag it.
"""

from __future__ import annotations

import os
import socket
import time

PAGES = {"/": b"<h1>Hello from my own server</h1>\n", "/about": b"<p>About</p>\n"}

host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8088"))
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen()
open_connections = []
while True:
    conn, _ = server.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    path = data.split(b" ")[1].decode() if data.count(b" ") >= 2 else "/"
    if path in PAGES:
        body = PAGES[path]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    else:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<h1>Not found</h1>")
    open_connections.append(conn)  # never closed: "the client will figure it out"
    time.sleep(0)
