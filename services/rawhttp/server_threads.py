"""The threads mode: a thread per connection, at most ``workers`` at once.

When every worker is busy, a new connection gets an immediate, clear refusal
(``503 Service Unavailable`` with ``Retry-After`` on HTTP) instead of waiting unseen
in the backlog.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from services.rawhttp.listeners import (
    Listener,
    accept_one,
    drive_blocking,
    linger_close,
    tls_handshake,
)

log = logging.getLogger("rawhttp.threads")


class ThreadPoolServer:
    mode = "threads"

    def __init__(self, listeners: list[Listener], workers: int = 32) -> None:
        self.listeners = listeners
        self.workers = workers
        self.stop_event = threading.Event()
        self._slots = threading.BoundedSemaphore(workers)
        self._threads: list[threading.Thread] = []
        self._refused = 0
        self._last_refusal_log = -1.0

    def start(self) -> None:
        for listener in self.listeners:
            listener.sock.settimeout(0.5)
            thread = threading.Thread(
                target=self._accept_loop,
                args=(listener,),
                name=f"accept-{listener.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _accept_loop(self, listener: Listener) -> None:
        while not self.stop_event.is_set():
            accepted = accept_one(listener)
            if accepted is None:
                continue
            sock, peer = accepted
            if not self._slots.acquire(blocking=False):
                self._refuse(listener, sock, peer)
                continue
            threading.Thread(
                target=self._serve, args=(listener, sock, peer), name=f"conn-{peer}", daemon=True
            ).start()

    def _refuse(self, listener: Listener, sock: socket.socket, peer: str) -> None:
        # One line per second at most: a refusal storm must not become a log storm.
        self._refused += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 1.0:
            log.warning(
                "%s: all %d workers busy, refused %d connection(s) (latest %s)",
                listener.name,
                self.workers,
                self._refused,
                peer,
            )
            self._refused = 0
            self._last_refusal_log = now
        if listener.busy_reply and listener.tls is None:
            try:
                sock.settimeout(1.0)
                sock.sendall(listener.busy_reply)
            except OSError:
                pass
        # Drain briefly in a thread, so the acceptor keeps refusing without delay.
        threading.Thread(target=linger_close, args=(sock, 0.5), daemon=True).start()

    def _serve(self, listener: Listener, sock: socket.socket, peer: str) -> None:
        try:
            if listener.tls is not None:
                tls_sock = tls_handshake(sock, listener.tls, peer)
                if tls_sock is None:
                    return
                sock = tls_sock
            drive_blocking(sock, peer, listener.factory(peer), self.stop_event)
        except Exception:  # a bug must cost this connection only, and say where
            log.exception("%s: connection from %s failed", listener.name, peer)
        finally:
            self._slots.release()

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=1.0)
        for listener in self.listeners:
            listener.sock.close()
