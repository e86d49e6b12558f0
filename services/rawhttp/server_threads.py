"""The threads mode: a pool of ``workers`` threads runs the protocol (parsing and the
routes); one selector thread does every socket call.

A connection occupies a worker only while there are bytes to process: idle keep-alive
clients and slow clients (slowloris, a body dribbled a byte at a time) wait in the
selector, where they cost a buffer, not a thread. The deadlines (header timeout, the
body's minimum rate, idle timeout) are those of the selectors mode, swept by the same
loop. (The first version gave each connection a thread for its whole life: 32 idle
clients were enough to refuse everyone else with 503.)

When the queue of ready work is much longer than the pool, a new connection gets an
immediate, clear refusal (``503 Service Unavailable`` with ``Retry-After`` on HTTP)
instead of waiting unseen.
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import threading
import time

from services.rawhttp.listeners import Listener, linger_close
from services.rawhttp.server_selectors import SelectorServer, _Conn

log = logging.getLogger("rawhttp.threads")

QUEUE_PER_WORKER = 8  # ready jobs per worker before new connections are refused


class ThreadPoolServer(SelectorServer):
    mode = "threads"

    def __init__(self, listeners: list[Listener], workers: int = 32) -> None:
        super().__init__(listeners)
        self.workers = workers
        self._jobs: queue.SimpleQueue[tuple[_Conn, bytes] | None] = queue.SimpleQueue()
        self._done: collections.deque[_Conn] = collections.deque()
        self._pool: list[threading.Thread] = []
        self._refused = 0
        self._last_refusal_log = -1.0
        self._wake_w.setblocking(False)  # a full wake pipe already means "wake up"

    def start(self) -> None:
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"worker-{i}", daemon=True)
            thread.start()
            self._pool.append(thread)
        super().start()

    def close(self) -> None:
        for _ in self._pool:
            self._jobs.put(None)
        super().close()
        for thread in self._pool:
            thread.join(timeout=1.0)

    # -- the selector thread ----------------------------------------------------------------
    def _deliver(self, conn: _Conn, data: bytes) -> None:
        # The socket leaves the selector until the worker is done, so the protocol is
        # only ever touched by one thread at a time, and bytes stay in order.
        conn.busy = True
        self.selector.unregister(conn.sock)
        self._jobs.put((conn, data))

    def _on_wake(self) -> None:
        super()._on_wake()
        done = self._done
        while done:
            conn = done.popleft()
            conn.busy = False
            if conn not in self.conns:  # closed meanwhile (the server is stopping)
                continue
            self.selector.register(conn.sock, conn.events, conn)
            self._flush(conn)
            # The sweep skips busy connections; a client whose bytes always arrive just
            # before a sweep would otherwise never be timed out. Check it now.
            if conn in self.conns and not conn.draining:
                self._check_deadline(conn, time.monotonic())

    def _admit(self, listener: Listener, sock: socket.socket, peer: str) -> bool:
        if self._jobs.qsize() <= self.workers * QUEUE_PER_WORKER:
            return True
        self._refuse(listener, sock, peer)
        return False

    def _refuse(self, listener: Listener, sock: socket.socket, peer: str) -> None:
        # One line per second at most: a refusal storm must not become a log storm.
        self._refused += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 1.0:
            log.warning(
                "%s: %d jobs wait for %d workers, refused %d connection(s) (latest %s)",
                listener.name,
                self._jobs.qsize(),
                self.workers,
                self._refused,
                peer,
            )
            self._refused = 0
            self._last_refusal_log = now
        if listener.busy_reply and listener.tls is None:
            try:
                sock.send(listener.busy_reply)  # a fresh socket's buffer takes it whole
            except OSError:
                pass
        # Drain briefly in a thread, so the loop keeps serving without delay.
        sock.setblocking(True)
        threading.Thread(target=linger_close, args=(sock, 0.5), daemon=True).start()

    # -- the workers ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            conn, data = job
            try:
                if data:
                    conn.proto.data_received(data)
                else:
                    conn.proto.eof_received()
            except Exception:  # a bug must cost this connection only, and say where
                log.exception("connection from %s failed", conn.peer)
                conn.proto.closing = True
            self._done.append(conn)
            try:
                self._wake_w.send(b"x")
            except (BlockingIOError, OSError):
                pass
