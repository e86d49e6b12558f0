"""A plausible wrong answer to exercise 02: Content-Length counted in characters.

len(page) counts the characters of the text; what goes on the wire is page.encode(), and
"é", "—" and "✓" are 2 or 3 bytes each. A client reads only the declared length, so the
end of every page is silently lost.
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
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\n"  # the mistake: characters, not bytes
        "Connection: close\r\n"
        "\r\n"
    )
    conn.sendall((head + page).encode("utf-8"))


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
            if path in PAGES:
                respond(conn, "200 OK", PAGES[path])
            else:
                respond(conn, "404 Not Found", NOT_FOUND)
