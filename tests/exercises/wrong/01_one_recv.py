"""A plausible wrong answer to exercise 01: one recv(4096) for the whole answer.

The request is right. On loopback the answer's head usually arrives in one piece, so one
recv() "works"; it returns only what has arrived so far, which on a real network is often
a part of the head.
"""

from __future__ import annotations

import os
import socket

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
path = os.environ.get("WIRELAB_PATH", "/")
with socket.create_connection((host, port), timeout=5) as sock:
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    answer = sock.recv(4096)  # the mistake: "4096 is plenty"
print(answer.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
