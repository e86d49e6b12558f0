"""Exercise 02, reference answer: a minimal socket web server with a correct 404.

It listens where the environment says (`lab exercise check 2` sets these for you):
    WIRELAB_LISTEN_HOST=127.0.0.1 WIRELAB_LISTEN_PORT=8088 python solution.py
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
MAX_HEAD = 16 * 1024


def read_head(conn: socket.socket) -> bytes:
    """Read until the blank line: a request may arrive in many small pieces."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            break
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0]


def respond(conn: socket.socket, status: str, page: str) -> None:
    # Content-Length tells the client where the body ends, in bytes (not characters:
    # the pages are not ASCII); Connection: close says that we close afterwards, so the
    # client need not wait for another response. Every line of the head ends in CRLF.
    body = page.encode("utf-8")
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    conn.sendall(head.encode("ascii") + body)


def handle(conn: socket.socket) -> None:
    head = read_head(conn)
    request_line = head.split(b"\r\n", 1)[0].decode("iso-8859-1")
    parts = request_line.split(" ")
    if len(parts) != 3:
        respond(conn, "400 Bad Request", "<h1>400 Bad Request</h1>\n")
        return
    _method, target, _version = parts
    path = target.split("?", 1)[0]
    if path in PAGES:
        respond(conn, "200 OK", PAGES[path])
    else:
        respond(conn, "404 Not Found", NOT_FOUND)


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
                conn.settimeout(5)  # a client that never finishes its request must not stall us
                try:
                    handle(conn)
                except OSError:
                    pass


if __name__ == "__main__":
    main()
