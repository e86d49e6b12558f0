"""Exercise 02: a minimal socket web server. Teach it to answer unknown paths with a 404.

It listens where the environment says (`lab exercise check 2` sets these for you):
    WIRELAB_LISTEN_HOST=127.0.0.1 WIRELAB_LISTEN_PORT=8088 python starter.py
Then try it: curl -i http://127.0.0.1:8088/  and  curl -i http://127.0.0.1:8088/nope
"""

from __future__ import annotations

import os
import socket

# Text, not bytes: a page is written in characters, but it is sent (and its length is
# counted) in bytes. Outside ASCII the two differ: "é" is 1 character and 2 bytes.
PAGES = {
    "/": "<h1>Grüß dich — hello from my own server</h1>\n",
    "/about": "<p>Un petit serveur écrit avec le module socket ✓</p>\n",
}
NOT_FOUND = "<h1>404 — page introuvable</h1>\n<p>Rien à cette adresse, désolé.</p>\n"


def handle(conn: socket.socket) -> None:
    request = conn.recv(4096)
    # TODO: read until the blank line (b"\r\n\r\n"): one recv() is not one request.
    # TODO: take the path from the request line ("GET /about HTTP/1.1") and look it up in
    #       PAGES; answer unknown paths with a correct "404 Not Found" response and the
    #       NOT_FOUND page.
    del request
    body = PAGES["/"].encode("utf-8")  # the bytes that go on the wire
    conn.sendall(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n"
        b"\r\n" + body
    )


def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8088"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen()
        print(f"listening on http://{host}:{port}/", flush=True)
        while True:
            conn, _addr = server.accept()
            with conn:
                handle(conn)


if __name__ == "__main__":
    main()
