"""Keep web pages away from the lab's own state-changing endpoints (``/_lab/*``).

A page on another site can make a browser send a "simple" cross-site POST (a form, or
``fetch`` in no-cors mode) with no preflight: ``text/plain``, form-encoded or multipart.
So a state-changing ``/_lab/`` request is refused when:

- ``Sec-Fetch-Site`` says the request came from another site (anything but
  ``same-origin`` or ``none``), or ``Origin`` names an origin other than this server's
  (``Origin: null`` included): 403;
- it has a body whose Content-Type is not JSON and no ``X-Wirelab-Lab`` header: 415.
  Sending JSON or a custom header needs a CORS preflight, which this server never grants.

A body-less request with no Content-Type (``httpx.post(url)``, as the scenario runner's
reset does) is accepted: a browser can only send one cross-site with an ``Origin``
header, which the first rule refuses. Reads (GET, HEAD) change nothing and pass.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.restapi.problems import PROBLEM_MEDIA_TYPE, problem_bytes

LAB_PREFIX = "/_lab/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LAB_HEADER = b"x-wirelab-lab"  # any value; lab tools may send it instead of JSON
SAME_SITE_FETCHES = frozenset({b"same-origin", b"none"})  # "none": typed in the address bar


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def refusal(scope: Scope) -> tuple[int, str, str] | None:
    """(status, problem kind, detail) for a request to refuse, None to let it through."""
    if scope["method"] in SAFE_METHODS or not scope["path"].startswith(LAB_PREFIX):
        return None
    headers = {k: v for k, v in scope.get("headers", ())}
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_SITE_FETCHES:
        return (
            403,
            "cross-origin",
            f"Sec-Fetch-Site is {fetch_site.decode('latin-1')!r}: /_lab/ endpoints change the "
            "lab's state and accept requests from this origin or from tools only",
        )
    origin = headers.get(b"origin")
    if origin is not None:
        host = headers.get(b"host", b"").decode("latin-1").lower()
        own = f"{scope.get('scheme', 'http')}://{host}"
        if origin.decode("latin-1").strip().lower() != own:
            return (
                403,
                "cross-origin",
                f"Origin {origin.decode('latin-1')!r} is not this server's ({own}): /_lab/ "
                "endpoints change the lab's state and accept requests from this origin or from tools only",
            )
    content_type = headers.get(b"content-type")
    has_body = headers.get(b"content-length", b"0").strip() not in (b"0", b"") or (
        b"transfer-encoding" in headers
    )
    if LAB_HEADER in headers or (content_type is None and not has_body):
        return None
    if content_type is None or not _is_json(content_type):
        shown = "(none)" if content_type is None else repr(content_type.decode("latin-1"))
        return (
            415,
            "unsupported-media-type",
            f"Content-Type {shown} is not accepted on /_lab/ endpoints: send application/json "
            "(or an X-Wirelab-Lab header), which a web page cannot do without a preflight",
        )
    return None


class LabGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = refusal(scope) if scope["type"] == "http" else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, kind, detail = refused
        body = problem_bytes(status, detail, kind=kind, instance=scope["path"])
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"vary", b"Origin, Sec-Fetch-Site"),
        ]
        if status == 415:
            headers.append((b"accept-post", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
