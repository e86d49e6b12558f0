"""The Toxiproxy 2.x HTTP API as a function from request to response (no sockets).

`ApiRoutes.handle` takes the method, the path, the headers and the body, and returns a
`Response`; `server` does the HTTP/1.1 around it (and streams ``GET /events``).
Error bodies are ``{"error": "...", "status": N}`` as in Toxiproxy.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from services.faultproxy.api.input_parsing import ApiError, parse_json
from services.faultproxy.core.manager import ProxyManager

log = logging.getLogger("faultproxy.api")

TOXIPROXY_VERSION = "2.12.0"
SERVICE_VERSION = "wirelab-faultproxy 0.1.0"
MAX_BODY = 1 << 20


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, (json.dumps(payload) + "\n").encode())

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json(status, {"error": message, "status": status})


def split_path(path: str) -> list[str]:
    raw = path.split("?", 1)[0]
    parts = [p for p in raw.split("/") if p]
    try:
        return [unquote(p, errors="strict") for p in parts]
    except UnicodeDecodeError:
        raise ApiError("the path is not valid percent-encoded UTF-8", 400) from None


class ApiRoutes:
    def __init__(self, manager: ProxyManager, token: str | None = None) -> None:
        self.manager = manager
        self.token = token
        self.started = time.time()

    # ---- gatekeeping ------------------------------------------------------------------

    def refuse(self, req: Request) -> Response | None:
        """The checks every request passes before routing (browser, token)."""
        agent = req.headers.get("user-agent", "")
        if agent.lower().startswith("mozilla/"):  # header values are not case-sensitive
            # As Toxiproxy: a web page must not be able to reconfigure the proxy.
            return Response.text(403, "User agent not allowed\n")  # Go's http.Error
        if self.token and split_path(req.path)[:1] != ["healthz"]:
            given = req.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                return Response.error(
                    401, "missing or wrong bearer token (Authorization: Bearer <token>)"
                )
        return None

    def handle(self, req: Request) -> Response:
        try:
            refused = self.refuse(req)
            if refused is not None:
                return refused
            return self._route(req)
        except ApiError as exc:
            return Response.error(exc.status, str(exc))
        except Exception as exc:  # a bug must answer 500 with a cause, not drop the socket
            log.exception("internal error on %s %s", req.method, req.path)
            return Response.error(500, f"internal error: {type(exc).__name__}: {exc}")

    def _body(self, req: Request) -> Any:
        if len(req.body) > MAX_BODY:
            raise ApiError(f"request body over {MAX_BODY} bytes", 413)
        return parse_json(req.body)

    # ---- routing ------------------------------------------------------------------------

    def _route(self, req: Request) -> Response:
        parts = split_path(req.path)
        method = req.method.upper()
        m = self.manager
        if method == "PATCH":
            method = "POST"  # Toxiproxy treats PATCH and POST alike for updates
        match parts:
            case ["proxies"]:
                if method == "GET":
                    return Response.json(
                        200, {n: self._proxy_json(p) for n, p in m.proxies.items()}
                    )
                if method == "POST":
                    return Response.json(201, self._proxy_json(m.create(self._body(req))))
            case ["populate"]:
                if method == "POST":
                    return self._populate(req)
            case ["reset"]:
                if method == "POST":
                    m.reset()
                    return Response(204)
            case ["version"]:
                if method == "GET":
                    return Response.json(
                        200, {"version": TOXIPROXY_VERSION, "server": SERVICE_VERSION}
                    )
            case ["healthz"]:
                if method == "GET":
                    return Response.json(
                        200,
                        {
                            "status": "ok",
                            "proxies": len(m.proxies),
                            "uptime_seconds": round(time.time() - self.started, 1),
                        },
                    )
            case ["metrics"]:
                if method == "GET":
                    return Response(
                        200, m.ctx.metrics.render().encode(), "text/plain; version=0.0.4"
                    )
            case ["config"]:
                if method == "GET":
                    return Response.json(200, m.export())
            case ["toxics"]:
                if method == "GET":
                    return Response.json(200, self._toxic_types())
            case ["proxies", name]:
                if method == "GET":
                    return Response.json(200, self._proxy_json(m.get(name)))
                if method == "POST":
                    return Response.json(200, self._proxy_json(m.update(name, self._body(req))))
                if method == "DELETE":
                    m.delete(name)
                    return Response(204)
            case ["proxies", name, "toxics"]:
                if method == "GET":
                    return Response.json(200, [t.to_json() for t in m.get(name).toxics])
                if method == "POST":
                    return Response.json(200, m.add_toxic(name, self._body(req)).to_json())
            case ["proxies", name, "connections"]:
                if method == "GET":
                    return Response.json(200, m.get(name).connections())
            case ["proxies", name, "toxics", toxic]:
                if method == "GET":
                    return Response.json(200, m.get_toxic(name, toxic).to_json())
                if method == "POST":
                    return Response.json(
                        200, m.update_toxic(name, toxic, self._body(req)).to_json()
                    )
                if method == "DELETE":
                    m.delete_toxic(name, toxic)
                    return Response(204)
            case _:
                return Response.text(404, "404 page not found\n")  # Go's http.NotFound
        return Response.error(
            405, f"method {req.method} not allowed on {req.path.split('?', 1)[0][:200]}"
        )

    def _populate(self, req: Request) -> Response:
        """Toxiproxy's shape: errors carry ``proxies`` too (those created before it, or null)."""
        try:
            proxies = self.manager.populate(self._body(req))
        except ApiError as exc:
            before = getattr(exc, "proxies", None)
            done = [self._proxy_json(p) for p in before] if before else None
            return Response.json(
                exc.status, {"error": str(exc), "status": exc.status, "proxies": done}
            )
        return Response.json(201, {"proxies": [self._proxy_json(p) for p in proxies]})

    def _proxy_json(self, proxy: Any) -> dict[str, Any]:
        out = proxy.to_json()
        stats = proxy.stats()
        if stats:
            out["stats"] = stats
        return out

    def _toxic_types(self) -> list[dict[str, Any]]:
        return [
            {
                "type": t.name,
                "protocols": sorted(t.protocols),
                "kind": t.kind,
                "attributes": {
                    a.name: {"type": a.kind, "default": a.default, "doc": a.doc} for a in t.attrs
                },
            }
            for t in sorted(
                self.manager.ctx.toxic_types.all(), key=lambda t: (t.name, sorted(t.protocols))
            )
        ]
