"""Exercise 11: the student's TCP echo server. Started on a free port and driven by real
clients, each built to expose one mistake that loopback and a single polite client hide:

- data sent in many small pieces with pauses: a server that calls recv() once per client
  echoes the first piece only;
- 100 clients connected at once, each waiting for its own echo before anyone leaves: a
  server that serves one connection after another answers only the first;
- a client that sends megabytes, then half-closes (``shutdown(SHUT_WR)``) while reading
  slowly (a small receive buffer, a late start): the server must send everything back and
  then close its side. A server that closes as soon as recv() returns b"" loses what it
  had not sent yet; one that ignores the end of input never closes, and the client waits.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from lab.exercise.context import CheckContext
from lab.exercise.student_server import expect_listening, expect_still_running
from services.common.processes import free_port

ONE_RECV_HINT = (
    "one recv() returns what has arrived so far, which may be a piece: loop on recv() and "
    "echo every piece until recv() returns b'' (the client has finished)"
)
CONCURRENCY_HINT = (
    "the clients were all connected at once and each waited for its echo: a server that "
    "serves one connection after another answers only the first. Serve each connection in "
    "its own thread (threading / socketserver.ThreadingTCPServer), asyncio task "
    "(asyncio.start_server) or with selectors"
)
LOST_TAIL_HINT = (
    "recv() returning b'' means the client will send nothing more, not that it left: it is "
    "still reading. Send everything you have not sent yet (sendall, or drain your buffer), "
    "then close; closing first throws the rest away"
)
NO_CLOSE_HINT = (
    "after recv() returns b'' (the client half-closed with shutdown(SHUT_WR)), finish "
    "sending and close the connection: the client reads until your side closes"
)


def read_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(size - len(data))
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def fragmented(port: int, nonce: str, pieces: int = 40) -> tuple[bytes, bytes]:
    """One message in ``pieces`` small writes with pauses; the echo read as it comes."""
    message = (f"fragment {nonce} " * 200).encode()[: pieces * 50]
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    except OSError:
        return message, b""
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = ThreadPoolExecutor(1)
        pending = reader.submit(read_exactly, sock, len(message), time.monotonic() + 8)
        with contextlib.suppress(OSError):
            for i in range(0, len(message), 50):
                sock.sendall(message[i : i + 50])
                time.sleep(0.02)
        got = pending.result()
        reader.shutdown()
    return message, got


def many_at_once(port: int, nonce: str, clients: int, timeout: float) -> int:
    """Connect every client first, then each sends and waits for its own echo."""
    socks: list[socket.socket] = []
    try:
        for _ in range(clients):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=3))
        deadline = time.monotonic() + timeout

        def one(i: int) -> bool:
            message = f"client {i} of {clients} {nonce}\n".encode()
            try:
                socks[i].sendall(message)
            except OSError:
                return False
            return read_exactly(socks[i], len(message), deadline) == message

        with ThreadPoolExecutor(min(clients, 50)) as pool:
            return sum(pool.map(one, range(clients)))
    except OSError:
        return 0
    finally:
        for sock in socks:
            sock.close()


def half_close(port: int, size: int, read_delay: float, timeout: float) -> tuple[int, bool, str]:
    """Send ``size`` bytes then SHUT_WR while a slow reader collects the echo.

    Returns (bytes echoed intact, whether the server closed its side after them, what
    ended the reading)."""
    payload = os.urandom(size)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connect
        sock.settimeout(3)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError as exc:  # e.g. a listen queue still full of earlier clients
            return 0, False, f"the connection failed ({exc.strerror or exc})"

        def write() -> None:
            with contextlib.suppress(OSError):
                for i in range(0, size, 65536):
                    sock.sendall(payload[i : i + 65536])
                sock.shutdown(socket.SHUT_WR)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        time.sleep(read_delay)  # the reader is late: the server must keep its data meanwhile
        got = bytearray()
        closed, ended = False, "the check stopped waiting"
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError as exc:
                ended = f"the connection was reset ({exc.strerror or exc})"
                break
            if not chunk:
                closed, ended = True, "the server closed its side"
                break
            got += chunk
        writer.join(2)
    intact = len(got) if payload.startswith(bytes(got)) else -1
    return intact, closed, ended


def check(ctx: CheckContext) -> None:
    port = free_port()
    env = {"WIRELAB_LISTEN_HOST": "127.0.0.1", "WIRELAB_LISTEN_PORT": str(port)}
    nonce = ctx.nonce()
    with ctx.background(env) as server:
        if not expect_listening(ctx, server, port):
            return
        sent, got = fragmented(port, nonce)
        whole = ctx.expect(
            f"a message sent in {len(sent) // 50} small pieces came back whole",
            got == sent,
            f"{len(got)} of {len(sent)} bytes came back"
            + ("" if sent.startswith(got) else ", not the bytes sent"),
            ONE_RECV_HINT,
        )
        clients = ctx.param("clients", 100)
        answered = many_at_once(port, nonce, clients, ctx.param("clients_timeout", 10.0))
        ctx.expect(
            f"{clients} clients connected at once each got their echo",
            answered == clients,
            f"{answered} of {clients} got their echo",
            CONCURRENCY_HINT,
        )
        size = ctx.param("half_close_bytes", 4 * 1024 * 1024)
        intact, closed, ended = half_close(
            port, size, ctx.param("read_delay", 1.0), ctx.param("half_close_timeout", 15.0)
        )
        ctx.expect(
            f"after the client's shutdown(SHUT_WR), all {size} bytes came back",
            intact == size,
            f"{max(intact, 0)} of {size} bytes came back; {ended}"
            if intact >= 0
            else "the bytes that came back are not the ones sent",
            LOST_TAIL_HINT if intact >= 0 and whole else ONE_RECV_HINT,
        )
        if intact == size:
            ctx.expect(
                "then the server closed its side of the connection",
                closed,
                ended,
                NO_CLOSE_HINT,
            )
        expect_still_running(ctx, server)
