"""An HTTP relay between a student's API client and restapi that records every request
with its headers, and makes pagination links unguessable.

Each URL in a ``Link`` header is handed to the client with a fresh ``cursor`` parameter
that the relay remembers (and strips before forwarding). A client that follows the links
sends cursors the relay issued; one that builds ``?page=N`` itself sends none. restapi's
own log cannot tell them apart: it logs the path, not the query.

``interfere`` runs before a request is forwarded, so a check can play a second client at
exactly the right moment (changing a resource between a client's read and its write).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

# Hop-by-hop and framing headers: the relay frames its own messages.
DROPPED = {"host", "connection", "keep-alive", "content-length", "transfer-encoding",
           "accept-encoding", "content-encoding"}  # fmt: skip
LINK_URL = re.compile(r"<([^>]*)>")


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    cursor: str | None = None  # the `cursor` the client sent, if any
    followed: bool = False  # that cursor came from a Link header the relay handed out
    page: int | None = None  # the page this request fetched, for list requests
    status: int = 0


@dataclass
class HttpRelay:
    upstream: str  # http://host:port of restapi
    interfere: Callable[[Seen], None] | None = None
    seen: list[Seen] = field(default_factory=list)
    _cursors: dict[str, int] = field(default_factory=dict)  # cursor -> page it points at
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> HttpRelay:
        relay = self
        self._client = httpx.Client(base_url=self.upstream, timeout=10, trust_env=False)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass  # the record is the log

            def _relay(self) -> None:
                relay._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        cursor = next((v for k, v in pairs if k == "cursor"), None)
        forwarded = [(k, v) for k, v in pairs if k != "cursor"]
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        seen = Seen(
            method=h.command,
            path=split.path,
            query=dict(forwarded),
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
            cursor=cursor,
        )
        with self._lock:
            seen.followed = cursor is not None and cursor in self._cursors
            if seen.followed:
                seen.page = self._cursors[cursor]
            elif h.command == "GET":
                try:
                    seen.page = int(dict(forwarded).get("page", "1"))
                except ValueError:
                    seen.page = None
            self.seen.append(seen)
        if self.interfere:
            self.interfere(seen)
        headers = [(k, v) for k, v in h.headers.items() if k.lower() not in DROPPED]
        try:
            answer = self._client.request(
                h.command,
                split.path + ("?" + urlencode(forwarded) if forwarded else ""),
                headers=headers,
                content=body,
            )
        except httpx.HTTPError as exc:
            seen.status = 502
            h.send_error(502, f"restapi did not answer: {exc}")
            return
        seen.status = answer.status_code
        h.send_response(answer.status_code)
        for name, value in answer.headers.multi_items():
            if name.lower() in DROPPED:
                continue
            if name.lower() == "link":
                value = LINK_URL.sub(lambda m: f"<{self._issue(m.group(1))}>", value)
            h.send_header(name, value)
        content = answer.content if h.command != "HEAD" else b""
        h.send_header("Content-Length", str(len(content)))
        h.end_headers()
        h.wfile.write(content)

    def _issue(self, target: str) -> str:
        """The same URL, pointing at the relay, with a fresh cursor the relay remembers."""
        split = urlsplit(target)
        query = parse_qsl(split.query, keep_blank_values=True)
        cursor = secrets.token_hex(6)
        with self._lock:
            self._cursors[cursor] = int(dict(query).get("page", "1"))
        return f"{self.url}{split.path}?{urlencode([*query, ('cursor', cursor)])}"
