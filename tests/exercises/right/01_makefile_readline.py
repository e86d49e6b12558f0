"""A correct answer to exercise 01 in another style: a buffered file over the socket.

sock.makefile("rb").readline() does the looping on recv() itself: it returns one whole
line, however the bytes were cut on the way.
"""

from __future__ import annotations

import os
import socket

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
path = os.environ.get("WIRELAB_PATH", "/")
lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", "", ""]
with socket.create_connection((host, port), timeout=5) as sock:
    sock.sendall("\r\n".join(lines).encode("ascii"))
    with sock.makefile("rb") as answer:
        while (line := answer.readline()) not in (b"\r\n", b""):
            print(line.decode("iso-8859-1").rstrip("\r\n"))
