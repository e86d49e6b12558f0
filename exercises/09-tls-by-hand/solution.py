"""Exercise 09, reference answer: TLS on a raw socket, verified against the lab CA.

ssl.create_default_context() verifies the certificate chain (CERT_REQUIRED) and the
host name; we only swap the system's trust store for the lab's CA.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    cafile = os.environ.get("WIRELAB_CA_FILE")
    server_name = os.environ.get("WIRELAB_SERVER_NAME", host)
    if not cafile:
        sys.exit("set WIRELAB_CA_FILE to the lab CA (the `lab ca` command prints its path)")
    context = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((host, port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                print(f"# {tls.version()}, verified: {tls.getpeercert()['subject']}")
                request = f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
                tls.sendall(request.encode("ascii"))
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
    except ssl.SSLCertVerificationError as exc:
        print(f"refusing to talk: {exc.verify_message}", file=sys.stderr)
        return 1
    except (ssl.SSLError, OSError) as exc:
        print(f"TLS failed: {exc}", file=sys.stderr)
        return 1
    print(data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
