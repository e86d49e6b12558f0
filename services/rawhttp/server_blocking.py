"""The blocking mode: one connection at a time, the classic lesson.

While one client holds a connection (keep-alive, or just a slow head), every other
client waits in the listen backlog. Each listener (HTTP, echo, ...) gets its own thread,
so the lesson applies per port without one port blocking another.
"""

from __future__ import annotations

import logging
import threading

from services.rawhttp.listeners import Listener, accept_one, drive_blocking, tls_handshake

log = logging.getLogger("rawhttp.blocking")


class BlockingServer:
    mode = "blocking"

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners = listeners
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for listener in self.listeners:
            # A timeout on accept() lets the loop notice a stop request.
            listener.sock.settimeout(0.5)
            thread = threading.Thread(
                target=self._serve, args=(listener,), name=f"blocking-{listener.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, listener: Listener) -> None:
        while not self.stop_event.is_set():
            accepted = accept_one(listener)
            if accepted is None:
                continue
            sock, peer = accepted
            if listener.tls is not None:
                tls_sock = tls_handshake(sock, listener.tls, peer)
                if tls_sock is None:
                    continue
                sock = tls_sock
            # The whole connection is served here; nobody else is accepted meanwhile.
            try:
                drive_blocking(sock, peer, listener.factory(peer), self.stop_event)
            except Exception:  # a bug must cost this connection only, not the listener
                log.exception("%s: connection from %s failed", listener.name, peer)

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=1.0)
        for listener in self.listeners:
            listener.sock.close()
