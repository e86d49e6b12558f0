"""A plausible wrong answer to exercise 01: the request's lines end in a bare "\n".

rawhttp, like many servers, forgives it and answers; HTTP/1.1 says every line ends in
"\r\n", and stricter servers and proxies answer 400 or misread it.
"""

from __future__ import annotations

import os
import socket

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
path = os.environ.get("WIRELAB_PATH", "/")
request = f"GET {path} HTTP/1.1\nHost: {host}:{port}\nConnection: close\n\n"  # Python's newline
with socket.create_connection((host, port), timeout=5) as sock:
    sock.sendall(request.encode("ascii"))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
print(data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
