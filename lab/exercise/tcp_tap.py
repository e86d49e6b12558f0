"""A TCP relay between a student's program and a lab service that records the exact bytes
the program sent, and hands the service's answer back in small slices with pauses.

The record shows what a forgiving server accepted (a bare LF where HTTP wants CRLF); the
slicing is what a real network does to an answer, so one recv() gets only a piece of it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Tapped:
    """One connection through the tap."""

    sent: bytearray = field(default_factory=bytearray)  # program -> service, exactly
    answer: bytearray = field(default_factory=bytearray)  # service -> program
    pieces: int = 0  # slices the answer was handed over in


class TcpTap:
    def __init__(
        self, upstream: tuple[str, int], slice_size: int = 8, slice_delay: float = 0.02
    ) -> None:
        self.upstream = upstream
        self.slice_size, self.slice_delay = slice_size, slice_delay
        self.connections: list[Tapped] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def __enter__(self) -> TcpTap:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()  # the service is down: the program sees a closed connection
                continue
            tapped = Tapped()
            self.connections.append(tapped)
            self._spawn(self._to_service, client, server, tapped)
            self._spawn(self._to_program, server, client, tapped)

    def _to_service(self, client: socket.socket, server: socket.socket, tapped: Tapped) -> None:
        client.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data = client.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                with contextlib.suppress(OSError):
                    server.shutdown(socket.SHUT_WR)  # the program half-closed: pass it on
                return
            tapped.sent += data
            try:
                server.sendall(data)
            except OSError:
                break

    def _to_program(self, server: socket.socket, client: socket.socket, tapped: Tapped) -> None:
        server.settimeout(0.1)
        try:
            while not self._stop.is_set():
                try:
                    data = server.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                tapped.answer += data
                for i in range(0, len(data), self.slice_size):
                    client.sendall(data[i : i + self.slice_size])
                    tapped.pieces += 1
                    time.sleep(self.slice_delay)
        except OSError:
            pass  # either side went away: what was handed over is recorded
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()
