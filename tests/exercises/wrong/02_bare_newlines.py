"""A plausible wrong answer to exercise 02: line ends written as a bare "\n".

curl and h11 forgive it, so it "works"; HTTP/1.1 says every line of the head ends in
"\r\n", and stricter clients and proxies reject it.
"""

from __future__ import annotations

import os
import socket

PAGES = {
    "/": "<h1>Grüß dich — hello from my own server</h1>\n",
    "/about": "<p>Un petit serveur écrit avec le module socket ✓</p>\n",
}
NOT_FOUND = "<h1>404 — page introuvable</h1>\n<p>Rien à cette adresse, désolé.</p>\n"


def respond(conn: socket.socket, status: str, page: str) -> None:
    body = page.encode("utf-8")
    head = "\n".join(  # the mistake: Python's newline, not HTTP's CRLF
        [
            f"HTTP/1.1 {status}",
            "Content-Type: text/html; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
            "",
            "",
        ]
    )
    conn.sendall(head.encode("ascii") + body)


host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8088"))
with socket.socket() as server:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen()
    while True:
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            path = data.split(b" ")[1].decode() if data.count(b" ") >= 2 else "/"
            respond(
                conn, "200 OK" if path in PAGES else "404 Not Found", PAGES.get(path, NOT_FOUND)
            )
