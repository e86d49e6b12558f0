"""Helpers for the udpstream tests: a real server process, and a damaging UDP relay.

The relay works as the fault proxy's does (one upstream socket per client), so the server
only ever sees the relay's address; its damage is deterministic, so figures are exact.
"""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

from services.common.processes import free_port, service_process
from services.udpstream import wire
from services.udpstream.health import probe


def start_server(*extra: str, log_path: Path | None = None):
    port = free_port("udp")
    proc = service_process(
        ["-m", "services.udpstream", "--host", "127.0.0.1", "--port", str(port), *extra],
        ready=lambda: probe("127.0.0.1", port, timeout=0.3),
        log_path=log_path,
    )
    return port, proc


class FaultyRelay(threading.Thread):
    """Relays datagrams client <-> server; applies ``fault(seq)`` to the server's data."""

    def __init__(self, server_port: int):
        super().__init__(daemon=True)
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.listen.bind(("127.0.0.1", 0))
        self.port = self.listen.getsockname()[1]
        self.server = ("127.0.0.1", server_port)
        self.upstream: dict[tuple, socket.socket] = {}
        self.held: dict[tuple, bytes] = {}  # (client, release after seq) -> datagram
        self.running = True

    def fault(self, seq: int) -> str:
        if 1000 <= seq < 1020 or seq % 100 == 10:
            return "drop"
        if seq % 100 == 50:
            return "duplicate"
        if seq % 100 == 70:
            return "hold"  # released after seq + 2: reordered by 2
        return "pass"

    def to_client(self, data: bytes, client: tuple) -> None:
        out = [data]
        if data[3] == wire.KIND_DATA:
            seq = wire.unpack_data(data).seq
            action = self.fault(seq)
            if action == "drop":
                out = []
            elif action == "duplicate":
                out = [data, data]
            elif action == "hold":
                self.held[client, seq + 2] = data
                out = []
            elif (client, seq) in self.held:
                out.append(self.held.pop((client, seq)))
        for d in out:
            self.listen.sendto(d, client)

    def run(self) -> None:
        while self.running:
            socks = [self.listen, *self.upstream.values()]
            for sock in select.select(socks, [], [], 0.05)[0]:
                if sock is self.listen:
                    data, client = sock.recvfrom(65535)
                    up = self.upstream.get(client)
                    if up is None:
                        up = self.upstream[client] = socket.socket(
                            socket.AF_INET, socket.SOCK_DGRAM
                        )
                        up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
                        up.connect(self.server)
                    up.send(data)
                else:
                    client = next(c for c, s in self.upstream.items() if s is sock)
                    try:
                        self.to_client(sock.recv(65535), client)
                    except ConnectionRefusedError:
                        pass

    def close(self) -> None:
        self.running = False
        self.join(2)
        for s in [self.listen, *self.upstream.values()]:
            s.close()
