"""A plausible wrong answer to exercise 09: it refuses an impostor, then exits 0.

The verification is right, but the error is printed and swallowed: a script calling this
program cannot tell "talked to the server" from "refused to".
"""

from __future__ import annotations

import os
import socket
import ssl

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
name = os.environ.get("WIRELAB_SERVER_NAME", host)
context = ssl.create_default_context(cafile=os.environ["WIRELAB_CA_FILE"])
try:
    with socket.create_connection((host, port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
    print(data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
except ssl.SSLCertVerificationError as exc:
    print(f"not talking to that server: {exc.verify_message}")  # ... and exit 0
