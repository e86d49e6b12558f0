"""Exercise 02: the student's own server. Started, probed with real requests, and every
byte it sends validated by h11 (the HTTP/1.1 parser httpx itself uses), plus two things
h11 forgives:

- bytes after the end of the body that Content-Length declared: a length counted in
  characters for a non-ASCII body cuts it short, and h11 stops reading where it was told;
- a bare LF line ending in the head, which h11 (like many servers) accepts, but
  HTTP/1.1 says CRLF.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import h11

from lab.exercise.context import CheckContext
from lab.exercise.http_bytes import CRLF_HINT, bare_lf_line
from lab.exercise.student_server import expect_listening, expect_still_running
from services.common.processes import free_port


@dataclass
class Answer:
    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""
    problem: str = ""  # why the bytes are not a valid, complete HTTP/1.1 response
    hint: str = ""  # what to change, when the problem is one we can name

    def describe(self) -> str:
        if self.problem:
            return self.problem
        return f"{self.status} with a {len(self.body)}-byte body"


LENGTH_HINT = (
    "Content-Length counts the bytes of the encoded body, not the characters of the text: "
    "send body = text.encode('utf-8') with Content-Length len(body); é, — and ✓ take 2 or 3 "
    "bytes each"
)


def leftover(sock: socket.socket, conn: h11.Connection, wait: float = 0.3) -> int:
    """Bytes that came after the message h11 parsed: a body longer than its Content-Length."""
    extra = len(conn.trailing_data[0])
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        extra += len(chunk)
    return extra


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
    raw = b""
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
                    data = sock.recv(65536)
                    raw += data
                    conn.receive_data(data)
                elif isinstance(event, h11.Response):
                    answer.status = event.status_code
                    answer.headers = {
                        k.decode().lower(): v.decode("latin-1") for k, v in event.headers
                    }
                elif isinstance(event, h11.Data):
                    answer.body += bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    judge_bytes(answer, raw, leftover(sock, conn))
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


def judge_bytes(answer: Answer, raw: bytes, extra: int) -> None:
    """What h11 let pass: a body cut short by its Content-Length, bare \n line ends."""
    if extra:
        declared = (answer.headers or {}).get("content-length", "?")
        answer.problem = (
            f"Content-Length says {declared} bytes, but {extra} more bytes of body followed "
            "(a client stops reading after the declared length and loses them)"
        )
        answer.hint = LENGTH_HINT
    elif (line := bare_lf_line(raw)) is not None:
        answer.problem = f"the line {line!r} ends in a bare \\n, not \\r\\n"
        answer.hint = CRLF_HINT


def check(ctx: CheckContext) -> None:
    port = free_port()
    env = {"WIRELAB_LISTEN_HOST": "127.0.0.1", "WIRELAB_LISTEN_PORT": str(port)}
    with ctx.background(env) as server:
        if not expect_listening(ctx, server, port):
            return
        home = ask(port, "/")
        ctx.expect(
            "GET / gets a valid 200",
            home.status == 200 and not home.problem,
            home.describe(),
            home.hint or "the known page must keep working",
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
                lost.hint
                or "send a Content-Length that matches the body (or close the connection after "
                "it), and end every header line with \\r\\n",
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
            sliced.hint
            or "loop on recv() until the empty line (\\r\\n\\r\\n): one recv() is not one request",
        )
        expect_still_running(ctx, server, "between requests")
