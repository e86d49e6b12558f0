"""The routes: what rawhttp answers to a complete, valid ``Request``. No sockets here.

* ``/healthz``: small JSON for the lab's health probe;
* ``/echo`` (any method): the exact bytes of the request, as text/plain;
* ``/_lab/requests``: the recent request log as JSON (``?limit=N``, ``?since=UNIX``);
* everything else: static files from the document root (``/`` is its index.html).

A page holding ``{{port:NAME}}`` marks (the index page's table of ports) is served with
the port of each lab endpoint NAME filled in when it is asked for, from this process's
environment (``WIRELAB_PORT_OFFSET``, ``WIRELAB_*_PORT``), so a lab started on a port
offset lists the ports it really uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

from services.ports import default_port
from services.rawhttp.http11 import Request
from services.rawhttp.request_log import RequestLog
from services.rawhttp.responses import Response, error_response, html_page
from services.rawhttp.static_files import StaticFiles

READ_METHODS: Final = ("GET", "HEAD")
ALLOW_READ: Final = "GET, HEAD"
PORT_MARK: Final = re.compile(rb"\{\{port:([a-z0-9_.]+)\}\}")


def _json(status: int, payload: object) -> Response:
    body = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
    return Response(status, [("Content-Type", "application/json")], body)


def origin_path(target: str) -> str | None:
    """The path of an origin-form (``/a?b``) or absolute-form (``http://h/a?b``) target."""
    if target.startswith("/"):
        return target
    lowered = target[:8].lower()
    if lowered.startswith("http://") or lowered.startswith("https://"):
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"
    return None


def parse_query(query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            out[key] = value
    return out


class App:
    def __init__(
        self,
        static: StaticFiles,
        log: RequestLog,
        mode: str,
        ports: Mapping[str, int] | None = None,
    ) -> None:
        self.static = static
        self.log = log
        self.mode = mode
        self.ports = dict(ports or {})  # known real ports; the rest come from the environment
        health = json.dumps({"status": "ok", "service": "rawhttp", "mode": mode}).encode() + b"\n"
        # Built once: the probe and the benchmark hit this on every request.
        self._health = Response(200, raw_headers=b"Content-Type: application/json\r\n", body=health)

    def handle(self, request: Request) -> Response:
        target = origin_path(request.target)
        if target is None:
            return error_response(
                400,
                f"request target {request.target[:80]!r} is neither /path nor http://host/path",
                close=False,
            )
        path, _, query = target.partition("?")
        method = request.method
        if path == "/healthz":
            if method in READ_METHODS:
                return self._health
            return _not_allowed(method, path)
        if path == "/echo":
            return Response(200, [("Content-Type", "text/plain")], request.raw)
        if path == "/_lab/requests":
            if method not in READ_METHODS:
                return _not_allowed(method, path)
            return self._request_log(query)
        if method not in READ_METHODS:
            # 405 for a file that exists (without reading it), 404 for one that does not.
            if self.static.resolve(path) is not None:
                return _not_allowed(method, path)
            return self._not_found(path)
        if path in ("/", "/index.html"):
            page = self._page_with_ports(path)
            if page is not None:
                return page
        response = self.static.respond(path, dict(request.headers))
        return response if response is not None else self._not_found(path)

    def _port(self, name: str) -> str:
        if name in self.ports:
            return str(self.ports[name])
        try:
            return str(default_port(name))
        except (KeyError, ValueError):
            return "?"

    def _page_with_ports(self, path: str) -> Response | None:
        """The index page with the ports in use filled in; None to serve the file as it is."""
        file = self.static.resolve(path)
        if file is None:
            return None
        try:
            template = file.read_bytes()
        except OSError:
            return None
        if b"{{port:" not in template:
            return None
        body = PORT_MARK.sub(lambda m: self._port(m.group(1).decode()).encode(), template)
        return Response(200, [("Content-Type", "text/html; charset=utf-8")], body)

    @staticmethod
    def _not_found(path: str) -> Response:
        return html_page(404, "404 Not Found", f"There is no file at {path[:200]} here.")

    def _request_log(self, query: str) -> Response:
        params = parse_query(query)
        since = limit = None
        try:
            if "since" in params:
                since = float(params["since"])
            if "limit" in params:
                limit = int(params["limit"])
        except ValueError:
            return error_response(
                400,
                f"since must be a unix time and limit an integer, got {query[:80]!r}",
                close=False,
            )
        entries = self.log.recent(since=since, limit=limit)
        return _json(200, {"count": len(entries), "requests": entries})


def _not_allowed(method: str, path: str) -> Response:
    response = error_response(
        405, f"{method[:20]} is not allowed on {path[:80]}; use {ALLOW_READ}", close=False
    )
    response.headers.append(("Allow", ALLOW_READ))
    return response
