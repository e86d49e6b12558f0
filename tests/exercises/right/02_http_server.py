"""A correct answer to exercise 02 in another style: the standard library's http.server.

BaseHTTPRequestHandler reads the request, writes CRLF line ends and (with the body encoded
first) a Content-Length in bytes; we only choose the status and the page.
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PAGES = {
    "/": "<h1>Grüß dich — hello from my own server</h1>\n",
    "/about": "<p>Un petit serveur écrit avec le module socket ✓</p>\n",
}
NOT_FOUND = "<h1>404 — page introuvable</h1>\n<p>Rien à cette adresse, désolé.</p>\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        status, page = (200, PAGES[path]) if path in PAGES else (404, NOT_FOUND)
        body = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8088"))
ThreadingHTTPServer((host, port), Handler).serve_forever()
