"""A plausible wrong answer to exercise 09: TLS without verification (CERT_NONE).

It reads the response, but it would talk just as happily to an impostor.
"""

from __future__ import annotations

import os
import socket
import ssl

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE  # "the certificate error went away"
with socket.create_connection((host, port), timeout=5) as raw:
    with context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
print(data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
