"""What every socket loop needs to know about a listening socket, and the blocking
connection driver that the blocking and threads modes share."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from services.rawhttp.protocol import ProtocolFactory, StreamProtocol, peer_name

log = logging.getLogger("rawhttp.conn")

LINGER_S = 1.0  # after our last byte, how long to drain a client that keeps sending
SEND_TIMEOUT_S = 30.0  # a client that stops reading is dropped after this
TLS_HANDSHAKE_TIMEOUT_S = 10.0
RECV_SIZE = 65536


@dataclass
class Listener:
    name: str  # "http", "echo", "line", "https": for logs
    sock: socket.socket
    factory: ProtocolFactory
    tls: ssl.SSLContext | None = None
    # What the threads mode sends, in clear text, when every worker is busy.
    busy_reply: bytes = b""


def tune_accepted(sock: socket.socket) -> None:
    # Small responses must leave now, not wait for Nagle to coalesce them.
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def linger_close(sock: socket.socket, deadline_s: float = LINGER_S) -> None:
    """Half-close, then read and drop until the peer closes (or a short deadline).

    Closing a socket with unread input makes the kernel send RST, which can destroy a
    response (a 413 or 400) the client has not read yet. Draining first avoids that.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        end = time.monotonic() + deadline_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            if not sock.recv(RECV_SIZE):
                break
    except (OSError, ValueError):
        pass
    finally:
        sock.close()


def drive_blocking(
    sock: socket.socket, peer: str, proto: StreamProtocol, stop: threading.Event
) -> None:
    """Run one connection to its end with blocking calls (blocking and threads modes)."""
    error: str | None = None
    try:
        while True:
            out = proto.take_output()
            if out:
                sock.settimeout(SEND_TIMEOUT_S)
                sock.sendall(out)
            if proto.closing or stop.is_set():
                break
            deadline = proto.deadline()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                proto.on_timeout(now)
                continue
            # Wake up at least every half second so a stopping server does not wait.
            # (A recv timeout rather than select(): select() fails on fds above 1023.)
            wait = 0.5 if deadline is None else min(0.5, deadline - now)
            sock.settimeout(max(wait, 0.001))
            try:
                data = sock.recv(RECV_SIZE)
            except TimeoutError:
                continue
            if data:
                proto.data_received(data)
            else:
                proto.eof_received()
    except ssl.SSLError as exc:
        error = f"TLS: {exc.reason or exc}"
    except OSError as exc:
        error = exc.strerror or str(exc) or type(exc).__name__
    finally:
        proto.connection_lost(error)
        # A stopping server does not wait for clients to finish their side.
        if error is None and not isinstance(sock, ssl.SSLSocket) and not stop.is_set():
            linger_close(sock)
        else:
            sock.close()


def tls_handshake(sock: socket.socket, ctx: ssl.SSLContext, peer: str) -> ssl.SSLSocket | None:
    """Blocking server-side handshake with a deadline; None (and one log line) on failure."""
    try:
        sock.settimeout(TLS_HANDSHAKE_TIMEOUT_S)
        return ctx.wrap_socket(sock, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        log.info("%s TLS handshake failed: %s", peer, getattr(exc, "reason", None) or exc)
        sock.close()
        return None


def accept_one(listener: Listener) -> tuple[socket.socket, str] | None:
    try:
        conn, address = listener.sock.accept()
    except (BlockingIOError, InterruptedError, TimeoutError):
        return None
    except OSError as exc:  # EMFILE and friends: say so and keep serving the others
        log.warning("%s: accept failed: %s", listener.name, exc.strerror or exc)
        time.sleep(0.05)
        return None
    tune_accepted(conn)
    return conn, peer_name(address)
