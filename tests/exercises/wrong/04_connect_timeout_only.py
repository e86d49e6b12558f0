"""A plausible wrong answer to exercise 04: a timeout on connect() only.

The proxy accepts at once, so connect() never times out; the read then waits for ever.
"""

from __future__ import annotations

import os
import socket
import sys

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
sock = socket.socket()
sock.settimeout(2.0)
try:
    sock.connect((host, port))
except TimeoutError:
    sys.exit("gave up: connect timed out")
sock.settimeout(None)  # "the connect worked, so the server is fine"
sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
data = b""
while b"\r\n" not in data:
    chunk = sock.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n", 1)[0].decode("iso-8859-1"))
