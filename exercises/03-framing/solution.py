"""Exercise 03, reference answer: framing done right.

TCP is a byte stream: recv() returns whatever has arrived, one byte or many answers at
once. A buffered reader keeps what it has, and reads more only when a frame is incomplete.
"""

from __future__ import annotations

import json
import os
import socket
import sys


class Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-answer")
        self.buffer += chunk

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data


def gimme(sock: socket.socket, reader: Reader, key: str) -> str | None:
    sock.sendall(f"GIMME {key}\n".encode())
    header = reader.line().decode("ascii", errors="replace").strip()
    if header == "MISSING":
        return None
    verb, _, length = header.partition(" ")
    if verb != "OKAY" or not length.isdigit():
        raise ValueError(f"unexpected answer line {header!r}")
    return reader.exactly(int(length)).decode("utf-8")


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    keys = [k for k in os.environ.get("WIRELAB_KEYS", "fragments").split(",") if k]
    with socket.create_connection((host, port), timeout=10) as sock:
        reader = Reader(sock)
        stories = {key: gimme(sock, reader, key) for key in keys}
        sock.sendall(b"QUIT\n")
    print(json.dumps(stories))
    return 0


if __name__ == "__main__":
    sys.exit(main())
