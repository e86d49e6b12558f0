"""A plausible wrong answer to exercise 01: HTTP/1.1 without a Host header (CRLF line ends:
one mistake at a time; the bare \n mistake is 01_bare_newlines.py).
The server rejects it (400), so the check must see a malformed request in rawhttp's log.
"""

from __future__ import annotations

import os
import socket
import sys

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
path = os.environ.get("WIRELAB_PATH", "/")
with socket.create_connection((host, port), timeout=5) as sock:
    sock.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
    answer = sock.recv(4096)
print(answer.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
sys.exit(0)
