"""Exercise 02: the student's own server. Started, probed with real requests, and every
byte it sends validated by h11 (the strict HTTP/1.1 parser httpx itself uses)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import h11

from lab.exercise.context import CheckContext
from lab.exercise.program import Background
from services.common.processes import free_port


@dataclass
class Answer:
    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""
    problem: str = ""  # why the bytes are not a valid, complete HTTP/1.1 response

    def describe(self) -> str:
        if self.problem:
            return self.problem
        return f"{self.status} with a {len(self.body)}-byte body"


def ask(port: int, path: str, *, pieces: int = 1, timeout: float = 3.0) -> Answer:
    """GET ``path`` (split into ``pieces`` writes with pauses), parse the answer with h11."""
    conn = h11.Connection(h11.CLIENT)
    wire = conn.send(
        h11.Request(
            method="GET",
            target=path,
            headers=[("Host", "127.0.0.1"), ("User-Agent", "wirelab-check")],
        )
    )
    wire += conn.send(h11.EndOfMessage())
    answer = Answer()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        answer.problem = f"could not connect: {exc.strerror or exc}"
        return answer
    deadline = time.monotonic() + timeout
    with sock:
        try:
            step = max(1, len(wire) // pieces)
            for i in range(0, len(wire), step):
                sock.sendall(wire[i : i + step])
                if pieces > 1:
                    time.sleep(0.1)  # real networks deliver requests in pieces too
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    sock.settimeout(left)
                    conn.receive_data(sock.recv(65536))
                elif isinstance(event, h11.Response):
                    answer.status = event.status_code
                    answer.headers = {
                        k.decode().lower(): v.decode("latin-1") for k, v in event.headers
                    }
                elif isinstance(event, h11.Data):
                    answer.body += bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return answer
        except h11.RemoteProtocolError as exc:
            answer.problem = f"not valid HTTP/1.1: {exc}"
        except TimeoutError:
            if answer.status is None:
                answer.problem = f"no complete status line and headers within {timeout:g} s"
            else:
                answer.problem = (
                    f"{answer.status} arrived, but its body never ended within {timeout:g} s: "
                    "no Content-Length, and the connection stayed open"
                )
        except OSError as exc:
            answer.problem = f"connection failed: {exc.strerror or exc}"
    return answer


def wait_listening(server: Background, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def check(ctx: CheckContext) -> None:
    port = free_port()
    env = {"WIRELAB_LISTEN_HOST": "127.0.0.1", "WIRELAB_LISTEN_PORT": str(port)}
    with ctx.background(env) as server:
        up = wait_listening(server, port, ctx.param("start_timeout", 8.0))
        if not up:
            died = server.result()
            ctx.crashed = ctx.crashed or died.crashed
            ctx.expect(
                f"the server listens on 127.0.0.1:{port} (WIRELAB_LISTEN_PORT)",
                False,
                died.describe() if not server.alive() else "nothing accepted connections",
                "bind to the host and port from WIRELAB_LISTEN_HOST / WIRELAB_LISTEN_PORT",
            )
            return
        home = ask(port, "/")
        ctx.expect(
            "GET / gets a valid 200",
            home.status == 200 and not home.problem,
            home.describe(),
            "the known page must keep working",
        )
        missing_path = f"/no-such-page-{ctx.nonce()}"
        lost = ask(port, missing_path)
        ctx.expect(
            f"GET {missing_path} gets 404 Not Found",
            lost.status == 404,
            lost.describe() if lost.status is None else f"status {lost.status}",
            "take the path from the request line and answer paths you do not know with 404",
        )
        if lost.status == 404:  # framing and page are judged on a 404, not on a stray 200
            ctx.expect(
                "the 404 is a complete, valid HTTP/1.1 response",
                lost.status is not None and not lost.problem,
                lost.describe(),
                "send a Content-Length that matches the body (or close the connection after it), "
                "and end every header line with \\r\\n",
            )
            ctx.expect(
                "the 404 has a page that says what went wrong",
                bool(lost.body.strip()) and bool((lost.headers or {}).get("content-type")),
                f"body of {len(lost.body)} bytes, Content-Type {(lost.headers or {}).get('content-type', 'missing')}",
                "send a small HTML body and a Content-Type header with the 404",
            )
        sliced = ask(port, "/about", pieces=4)
        ctx.expect(
            "a request that arrives in 4 pieces is still read whole",
            sliced.status == 200 and not sliced.problem,
            sliced.describe(),
            "loop on recv() until the empty line (\\r\\n\\r\\n): one recv() is not one request",
        )
        if not server.alive():
            died = server.result()
            ctx.crashed = ctx.crashed or died.crashed
            ctx.expect(
                "the server keeps running between requests",
                False,
                died.describe(),
                "read its traceback",
            )
