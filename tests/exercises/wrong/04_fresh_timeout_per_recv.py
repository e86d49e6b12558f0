"""A plausible wrong answer to exercise 04: a fresh 2 s timeout on every recv(1).

Each call gives up after 2 s of silence, so a silent server is left in time. But a server
that trickles one byte every half second never keeps a single recv() waiting 2 s: the
client waits as long as the trickle lasts, far past the 2 s deadline.
"""

from __future__ import annotations

import os
import socket
import sys

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
try:
    sock = socket.create_connection((host, port), timeout=2.0)
    sock.settimeout(2.0)  # "every call gets 2 s"
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    line = b""
    while not line.endswith(b"\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        line += byte
except TimeoutError:
    sys.exit("gave up: the server is too slow")
print(line.decode("iso-8859-1").strip())
