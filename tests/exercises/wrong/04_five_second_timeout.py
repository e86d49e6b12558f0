"""A plausible wrong answer to exercise 04: a timeout on every call, but of 5 s.

It does give up when the server says nothing, but after 5 s, not within the 2 s asked.
"""

from __future__ import annotations

import os
import socket
import sys

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
try:
    with socket.create_connection((host, port), timeout=5.0) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
except TimeoutError:
    sys.exit("gave up: no answer")
print(data.split(b"\r\n", 1)[0].decode("iso-8859-1"))
