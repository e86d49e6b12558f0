"""A cap on request bodies, so one huge upload cannot take the server's memory.

A declared Content-Length over the cap is refused at once; a chunked body is counted as
it arrives and refused (ProblemError, so the app's handler answers) when it passes the cap.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.restapi.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem_bytes


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    def _detail(self, size: str) -> str:
        return f"request body of {size} bytes is over the {self.limit}-byte limit"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                body = problem_bytes(413, self._detail(value.decode()), instance=scope["path"])
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode()),
                            (
                                b"connection",
                                b"close",
                            ),  # the unread body makes the connection useless
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise ProblemError(413, self._detail(f"more than {self.limit}"))
            return message

        await self.app(scope, counting_receive, send)
