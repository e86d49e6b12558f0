"""Helpers for the faultproxy tests: a real faultproxy process, a JSON client, upstreams.

Everything here is real: processes, sockets on free 127.0.0.1 ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, run_module, service_process, wait_tcp
from tests.services.faultproxy.fp_hash_server import HEADER, stream_blocks, stream_digest

HERE = Path(__file__).resolve().parent
HASH_SERVER = HERE / "fp_hash_server.py"


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """``python -m services.faultproxy <args>`` to its exit: exit code and messages."""
    return run_module("services.faultproxy", *args, timeout=timeout)


class Api:
    """A small JSON client for the faultproxy API (what a script would do with httpx)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, json=json, **kw)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path)

    def create(self, name: str, upstream_port: int, **extra: Any) -> int:
        """Create a proxy on a free port; return the port it listens on."""
        body = {
            "name": name,
            "upstream": f"127.0.0.1:{upstream_port}",
            "listen": "127.0.0.1:0",
            **extra,
        }
        r = self.post("/proxies", body)
        assert r.status_code == 201, r.text
        return int(r.json()["listen"].rsplit(":", 1)[1])

    def toxic(
        self, proxy: str, type_: str, stream: str = "downstream", **attrs: Any
    ) -> dict[str, Any]:
        name = attrs.pop("name", None)
        toxicity = attrs.pop("toxicity", None)
        body: dict[str, Any] = {"type": type_, "stream": stream, "attributes": attrs}
        if name:
            body["name"] = name
        if toxicity is not None:
            body["toxicity"] = toxicity
        r = self.post(f"/proxies/{proxy}/toxics", body)
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        for name in list(self.get("/proxies").json()):
            self.delete(f"/proxies/{name}")

    def close(self) -> None:
        self.http.close()


@contextlib.contextmanager
def faultproxy_process(*extra: str, env: dict[str, str] | None = None) -> Iterator[tuple[Api, Any]]:
    port = free_port()
    args = ["-m", "services.faultproxy", "--host", "127.0.0.1", "--port", str(port), *extra]
    with service_process(args, lambda: wait_tcp(port, timeout=0.5), env=env, cwd=REPO_ROOT) as proc:
        token = None
        if "--token" in extra:
            token = extra[extra.index("--token") + 1]
        api = Api(port, token)
        try:
            yield api, proc
        finally:
            api.close()


class EchoServer:
    """A threaded TCP echo server that passes half-close on (EOF in -> FIN out)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        conn.shutdown(socket.SHUT_WR)
                        return
                    conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            break
        buf += part
    return bytes(buf)


def recv_all(sock: socket.socket) -> bytes:
    buf = bytearray()
    while True:
        part = sock.recv(65536)
        if not part:
            return bytes(buf)
        buf += part


def send_and_read_all(port: int, payload: bytes) -> bytes:
    """Send ``payload``, half-close, and read until the other side closes."""
    with connect(port) as s:
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
        sender.start()
        got = recv_all(s)
        sender.join()
        return got


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@contextlib.contextmanager
def hash_server() -> Iterator[int]:
    """A separate process that sends/receives seeded pseudo-random streams and checks SHA-256."""
    port = free_port()
    with service_process([str(HASH_SERVER), str(port)], lambda: wait_tcp(port, timeout=0.5)):
        yield port


async def hash_exchange(port: int, up: int, down: int, seed: int, read_pause: float = 0.0) -> None:
    """One connection to `hash_server` through ``port``: send ``up`` bytes while reading
    ``down``, and assert the SHA-256 of both (ours of what came down, the server's of
    what went up). ``read_pause`` (seconds after each read) makes a slow reader, so
    bytes back up inside the proxy."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(HEADER.pack(up, down, seed))

    async def send() -> None:
        for block in stream_blocks(seed, 0, up):
            writer.write(block)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    h = hashlib.sha256()
    left = down
    while left:
        data = await reader.read(min(left, 1 << 16 if read_pause else 1 << 18))
        assert data, f"connection {seed}: stream ended with {left} bytes missing"
        h.update(data)
        left -= len(data)
        if read_pause:
            await asyncio.sleep(read_pause)
    their_digest = await reader.readexactly(32)
    await sender
    writer.close()
    # Both ends: what we received is what the server sent, and vice versa.
    assert h.digest() == stream_digest(seed, 1, down), f"connection {seed}: downstream bytes differ"
    assert their_digest == stream_digest(seed, 0, up), f"connection {seed}: upstream bytes differ"


def python() -> str:
    return sys.executable


# ---- an HTTP/1.1 upstream for the http toxic tests ---------------------------------

HTTP_UPSTREAM_SERVER = r"""
import http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so one client connection carries many requests
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self.reply(b"x" * 4000 if self.path.startswith("/big") else f"upstream {self.path}".encode())

    do_HEAD = do_GET

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            self.reply(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            return
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):  # trailers
            pass
        self.reply(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


proxy_numbers = itertools.count(1)


@dataclass
class Web:
    api: Api
    client: httpx.Client
    name: str
    port: int  # the proxy's listening port


def metric(api: Api, name: str, **labels: str) -> int:
    """One series of ``/metrics`` (0 if absent), labels in any order."""
    for line in api.get("/metrics").text.splitlines():
        m = re.fullmatch(r"(\w+)\{(.*)\} (\d+)", line)
        if m and m.group(1) == name and dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))) == labels:
            return int(m.group(3))
    return 0


def http_requests(api: Api, proxy: str, outcome: str, toxic: str = "http_status_downstream") -> int:
    """``faultproxy_http_requests_total`` for one proxy, toxic and outcome."""
    return metric(api, "faultproxy_http_requests_total", proxy=proxy, toxic=toxic, outcome=outcome)
