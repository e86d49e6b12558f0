"""Small real TCP servers for engine tests: each behaves badly in one precise way.

They run in a thread on a free 127.0.0.1 port and stop when the context exits.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def tcp_server(handler: Callable[[socket.socket], None], backlog: int = 16) -> Iterator[int]:
    """Accept connections and run ``handler(conn)`` for each in its own thread."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            handler(conn)

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A listener that never accepts, with its queue already full: SYNs are dropped."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):
        c = socket.socket()
        c.settimeout(0.3)
        with contextlib.suppress(OSError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    try:
        yield port
    finally:
        for c in fillers:
            c.close()
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def silent(conn: socket.socket) -> None:
    """Accept, read, never answer (until the client gives up)."""
    conn.settimeout(10)
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


def resetting(conn: socket.socket) -> None:
    """Read the request, then close with SO_LINGER 0: the client gets an RST."""
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def closing(conn: socket.socket) -> None:
    """Read the request, then close cleanly without answering (EOF)."""
    read_request(conn)


def ok_json(conn: socket.socket) -> None:
    read_request(conn)
    body = b'{"status": "ok", "items": [1, 2, 3]}'
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Test: yes\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def dripping(conn: socket.socket) -> None:
    """Headers at once, then 10 body bytes 0.15 s apart (1.5 s in all)."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    for _ in range(10):
        time.sleep(0.15)
        conn.sendall(b"x")


def redirecting(conn: socket.socket) -> None:
    request = read_request(conn)
    if request.startswith(b"GET /final"):
        ok_json(_Replay(conn))
    else:
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n")


class _Replay:
    """Lets ok_json answer a request that was already read."""

    def __init__(self, conn: socket.socket):
        self.conn = conn

    def recv(self, n: int) -> bytes:
        return b"\r\n\r\n"

    def sendall(self, data: bytes) -> None:
        self.conn.sendall(data)


def echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def plaintext_http(conn: socket.socket) -> None:
    """Answers anything (a TLS ClientHello included) with plain HTTP."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def gimme(conn: socket.socket) -> None:
    """A GIMME server that writes its answer in two pieces, 0.2 s apart."""
    line = b""
    while b"\n" not in line:
        chunk = conn.recv(1024)
        if not chunk:
            return
        line += chunk
    story = b"one send is not one recv\n" * 4
    answer = b"OKAY %d\n%s" % (len(story), story)
    conn.sendall(answer[:20])
    time.sleep(0.2)
    conn.sendall(answer[20:])


class Counter:
    """A handler that answers 429 (Retry-After: 0.3) ``limited`` times, then 200."""

    def __init__(self, limited: int):
        self.limited = limited
        self.seen = 0
        self.lock = threading.Lock()

    def __call__(self, conn: socket.socket) -> None:
        read_request(conn)
        with self.lock:
            self.seen += 1
            refuse = self.seen <= self.limited
        if refuse:
            conn.sendall(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0.3\r\nContent-Length: 0\r\n\r\n"
            )
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
