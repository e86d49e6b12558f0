"""Real rawhttp processes on free ports, and a client-side HTTP reader built on h11 (an
independent parser, so a framing mistake in rawhttp's responses fails the tests)."""

from __future__ import annotations

import os
import socket
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h11
import pytest

from services.common.processes import free_port, service_process

SECRET = "TOP SECRET: you left the document root"


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    port: int
    echo_port: int = 0
    line_port: int = 0
    https_port: int = 0
    state_dir: Path = Path()
    docroot: Path = Path()
    proc: object = None
    extra: dict = field(default_factory=dict)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_until_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def parse_responses(data: bytes, methods: list[str]) -> list[Resp]:
    """Parse one response per entry of ``methods`` (HEAD has no body) with h11."""
    conn = h11.Connection(h11.CLIENT)
    out: list[Resp] = []
    if data:  # h11 reads b"" as the end of the stream
        conn.receive_data(data)
    for method in methods:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "t")]))
        conn.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                raise AssertionError(f"response {len(out) + 1} incomplete in {data[-200:]!r}")
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        out.append(Resp(status, headers, body))
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
    return out


def request(port: int, raw: bytes, method: str = "GET", timeout: float = 5.0) -> Resp:
    """Send raw bytes, read to EOF (the request should carry Connection: close or fail)."""
    with connect(port, timeout) as sock:
        sock.sendall(raw)
        return parse_responses(recv_until_eof(sock, timeout), [method])[0]


def get(port: int, path: str, headers: str = "", method: str = "GET") -> Resp:
    raw = f"{method} {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode()
    return request(port, raw, method)


class ResponseReader:
    """Responses one at a time from a kept-alive socket; bytes of the next one are kept."""

    _readers: weakref.WeakKeyDictionary[socket.socket, ResponseReader] = weakref.WeakKeyDictionary()

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    def of(cls, sock: socket.socket) -> ResponseReader:
        if sock not in cls._readers:
            cls._readers[sock] = cls(sock)
        return cls._readers[sock]

    def read(self, method: str = "GET", timeout: float = 5.0) -> Resp:
        conn = self.conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "t")]))
        conn.send(h11.EndOfMessage())
        self.sock.settimeout(timeout)
        status, headers, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return Resp(status, headers, body)
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError("connection closed before a whole response")


def read_one(sock: socket.socket, method: str = "GET", timeout: float = 5.0) -> Resp:
    """Read exactly one response from a kept-alive connection."""
    return ResponseReader.of(sock).read(method, timeout)


def every_status(data: bytes) -> list[int]:
    """The statuses of all responses in a closed stream; h11 raises on a malformed one."""
    conn = h11.Connection(h11.CLIENT)
    conn.receive_data(data)
    conn.receive_data(b"")  # the end of the stream
    statuses: list[int] = []
    while True:
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        if conn.our_state is not h11.IDLE or not conn.trailing_data[0]:
            return statuses  # closed after a response, or no more bytes at all
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "t")]))
        conn.send(h11.EndOfMessage())
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                statuses.append(event.status_code)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                return statuses


def health_ready(port: int) -> None:
    resp = get(port, "/healthz")
    assert resp.status == 200


def make_docroot(base: Path) -> Path:
    root = base / "docroot"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>test root</title><h1>wirelab test</h1>")
    (root / "style.css").write_text("body { color: red }")
    (root / "sub" / "data.bin").write_bytes(bytes(range(256)))
    (base / "secret.txt").write_text(SECRET)
    os.symlink(base / "secret.txt", root / "link-out.txt")
    os.symlink(base, root / "dir-out")
    return root


def start_args(server: Server, mode: str, *extra: str) -> list[str]:
    args = [
        "-m",
        "services.rawhttp",
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--mode",
        mode,
        "--state-dir",
        str(server.state_dir),
        *extra,
    ]
    if "--http-only" not in extra:
        args += [
            "--echo-port",
            str(server.echo_port),
            "--line-port",
            str(server.line_port),
            "--https-port",
            str(server.https_port),
        ]
    return args


@pytest.fixture(scope="module")
def rawhttp(tmp_path_factory) -> Iterator[Server]:
    """The lab's main instance (selectors, every listener) with short timeouts."""
    base = tmp_path_factory.mktemp("rawhttp")
    server = Server(
        free_port(), free_port(), free_port(), free_port(), base / "state", make_docroot(base)
    )
    args = start_args(
        server,
        "selectors",
        "--docroot",
        str(server.docroot),
        "--header-timeout",
        "1",
        "--idle-timeout",
        "2",
        "--max-body",
        "100000",
    )
    with service_process(args, lambda: health_ready(server.port), timeout=30) as proc:
        server.proc = proc
        yield server


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
