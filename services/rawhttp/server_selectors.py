"""The selectors mode: one thread, non-blocking sockets, one event loop for every
listener (HTTP, echo, line, and HTTPS with non-blocking TLS handshakes).

A slow client costs this loop nothing but a buffer: its socket is only touched when
the kernel says it is readable or writable. Deadlines (header timeout, idle timeout,
draining a closed connection) are swept a few times a second.
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
import threading
import time

from services.rawhttp.listeners import LINGER_S, RECV_SIZE, SEND_TIMEOUT_S, Listener, tune_accepted
from services.rawhttp.protocol import StreamProtocol, peer_name

log = logging.getLogger("rawhttp.selectors")

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
SWEEP_EVERY_S = 0.1
ACCEPT_BURST = 64
HIGH_WATER = 1 << 20  # stop reading from a client that does not read its answers


class _Conn:
    __slots__ = (
        "sock",
        "peer",
        "proto",
        "out",
        "events",
        "handshaking",
        "draining",
        "drain_until",
        "send_stalled_since",
        "tls",
        "busy",
    )

    def __init__(self, sock: socket.socket, peer: str, proto: StreamProtocol, tls: bool) -> None:
        self.sock = sock
        self.peer = peer
        self.proto = proto
        self.out = b""  # bytes accepted from the protocol but not yet taken by the kernel
        self.events = READ
        self.handshaking = tls
        self.draining = False  # our side is done; reading and dropping until EOF
        self.drain_until = 0.0
        self.send_stalled_since: float | None = None
        self.tls = tls
        self.busy = False  # threads mode: a worker runs its protocol; the loop keeps off


class SelectorServer:
    mode = "selectors"

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners = listeners
        self.selector = selectors.DefaultSelector()
        self.stop_event = threading.Event()
        self.conns: set[_Conn] = set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="selectors", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for conn in list(self.conns):
            self._close(conn, None)
        for listener in self.listeners:
            listener.sock.close()
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def serve_forever(self) -> None:
        sel = self.selector
        for listener in self.listeners:
            listener.sock.setblocking(False)
            sel.register(listener.sock, READ, listener)
        self._wake_r.setblocking(False)
        sel.register(self._wake_r, READ, None)
        next_sweep = time.monotonic() + SWEEP_EVERY_S
        conn_type = _Conn
        while not self.stop_event.is_set():
            for key, mask in sel.select(SWEEP_EVERY_S):
                conn = key.data
                if type(conn) is conn_type:
                    # A bug in one connection's protocol code must cost that connection,
                    # not the loop every other client depends on (try is free in 3.11).
                    try:
                        if mask & READ:
                            self._on_readable(conn)
                        if mask & WRITE and conn.sock.fileno() >= 0 and not conn.busy:
                            self._on_writable(conn)
                    except Exception:
                        log.exception("connection %s failed", conn.peer)
                        self._close(conn, "internal error")
                elif conn is None:
                    self._on_wake()
                else:
                    self._accept(conn)
            now = time.monotonic()
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + SWEEP_EVERY_S

    def _on_wake(self) -> None:
        try:
            self._wake_r.recv(4096)
        except (BlockingIOError, InterruptedError):
            pass

    # -- accepting ----------------------------------------------------------------------
    def _accept(self, listener: Listener) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                sock, address = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE: keep the loop alive for existing clients
                log.warning("%s: accept failed: %s", listener.name, exc.strerror or exc)
                return
            tune_accepted(sock)
            sock.setblocking(False)
            peer = peer_name(address)
            if not self._admit(listener, sock, peer):
                continue
            if listener.tls is not None:
                try:
                    sock = listener.tls.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                except (ssl.SSLError, OSError) as exc:
                    log.info("%s TLS setup failed: %s", peer, exc)
                    sock.close()
                    continue
            conn = _Conn(sock, peer, listener.factory(peer), listener.tls is not None)
            self.conns.add(conn)
            self.selector.register(sock, READ, conn)

    def _admit(self, listener: Listener, sock: socket.socket, peer: str) -> bool:
        """Whether to serve a just-accepted socket (the threads mode sheds load here)."""
        return True

    # -- reading ----------------------------------------------------------------------
    def _on_readable(self, conn: _Conn) -> None:
        if conn.handshaking:
            self._handshake(conn)
            return
        sock = conn.sock
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return
        except ssl.SSLWantWriteError:
            self._set_events(conn, READ | WRITE)
            return
        except ssl.SSLError as exc:
            self._close(conn, f"TLS: {exc.reason or exc}")
            return
        except OSError as exc:
            self._close(conn, exc.strerror or str(exc))
            return
        if conn.draining:
            if not data:
                self._close(conn, None)
            return
        if data and conn.tls:  # TLS may hold decrypted bytes the selector cannot see
            data = self._with_pending_tls(conn, data)
        self._deliver(conn, data)

    def _deliver(self, conn: _Conn, data: bytes) -> None:
        """Hand bytes (b"": the end of input) to the protocol, then send its answers.
        The threads mode overrides this to run the protocol on a worker thread."""
        if data:
            conn.proto.data_received(data)
        else:
            conn.proto.eof_received()
        self._flush(conn)

    def _with_pending_tls(self, conn: _Conn, data: bytes) -> bytes:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        parts = [data]
        while sock.pending():
            try:
                more = sock.recv(RECV_SIZE)
            except (ssl.SSLWantReadError, BlockingIOError):
                break
            if not more:  # the end of input comes again on the next read
                break
            parts.append(more)
        return data if len(parts) == 1 else b"".join(parts)

    def _handshake(self, conn: _Conn) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._set_events(conn, READ)
            return
        except ssl.SSLWantWriteError:
            self._set_events(conn, WRITE)
            return
        except (ssl.SSLError, OSError) as exc:
            log.info("%s TLS handshake failed: %s", conn.peer, getattr(exc, "reason", None) or exc)
            self._close(conn, None)
            return
        conn.handshaking = False
        self._set_events(conn, READ)
        if sock.pending():
            try:
                data = sock.recv(RECV_SIZE)
            except (ssl.SSLWantReadError, BlockingIOError):
                return
            if data:
                self._deliver(conn, self._with_pending_tls(conn, data))

    # -- writing ----------------------------------------------------------------------
    def _flush(self, conn: _Conn) -> None:
        out = conn.proto.take_output()
        if out:
            out = conn.out + out if conn.out else out
        else:
            out = conn.out
        if out:
            try:
                sent = conn.sock.send(out)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent = 0
            except ssl.SSLError as exc:
                self._close(conn, f"TLS: {exc.reason or exc}")
                return
            except OSError as exc:
                self._close(conn, exc.strerror or str(exc))
                return
            out = out[sent:] if sent < len(out) else b""
            conn.out = out
        if out:
            if conn.send_stalled_since is None:
                conn.send_stalled_since = time.monotonic()
            # Backpressure: a client that does not read stops being read.
            self._set_events(conn, WRITE if len(out) > HIGH_WATER else READ | WRITE)
            return
        conn.send_stalled_since = None
        if conn.proto.closing:
            self._finish(conn)
        elif conn.events != READ:
            self._set_events(conn, READ)

    def _on_writable(self, conn: _Conn) -> None:
        if conn.handshaking:
            self._handshake(conn)
        elif not conn.draining:
            self._flush(conn)

    def _finish(self, conn: _Conn) -> None:
        """All sent and the protocol is done: half-close and drain (see linger_close)."""
        if conn.tls:
            self._close(conn, None)  # a TLS close_notify dance is not worth it here
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn, None)
            return
        conn.draining = True
        conn.drain_until = time.monotonic() + LINGER_S
        self._set_events(conn, READ)

    # -- housekeeping -------------------------------------------------------------------
    def _set_events(self, conn: _Conn, events: int) -> None:
        if conn.events != events:
            conn.events = events
            self.selector.modify(conn.sock, events, conn)

    def _sweep(self, now: float) -> None:
        for conn in list(self.conns):
            if conn.busy:
                continue
            if conn.draining:
                if now >= conn.drain_until:
                    self._close(conn, None)
                continue
            if (
                conn.send_stalled_since is not None
                and now - conn.send_stalled_since > SEND_TIMEOUT_S
            ):
                self._close(conn, f"client read nothing for {SEND_TIMEOUT_S:g} s")
                continue
            self._check_deadline(conn, now)

    def _check_deadline(self, conn: _Conn, now: float) -> None:
        try:
            deadline = conn.proto.deadline()
            if deadline is not None and now >= deadline:
                conn.proto.on_timeout(now)
                if conn.handshaking:
                    self._close(conn, "TLS handshake timed out")
                else:
                    self._flush(conn)
        except Exception:
            log.exception("connection %s failed on a timeout", conn.peer)
            self._close(conn, "internal error")

    def _close(self, conn: _Conn, error: str | None) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        conn.proto.connection_lost(error)
