"""A plausible wrong answer to exercise 09: the chain is verified, the name is not.

"certificate verify failed: Hostname mismatch" went away with check_hostname = False, and
the lab CA is still trusted, so it feels safe. But any server holding *any* certificate
from that CA (for any name) can now pretend to be the one we asked for.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
name = os.environ.get("WIRELAB_SERVER_NAME", host)
context = ssl.create_default_context(cafile=os.environ["WIRELAB_CA_FILE"])
context.check_hostname = False  # verify_mode stays CERT_REQUIRED: the chain is checked
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
except (ssl.SSLError, OSError) as exc:
    sys.exit(f"TLS failed: {exc}")
print(data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
