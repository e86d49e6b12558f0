"""A correct answer to exercise 09 in another style: asyncio streams with an SSL context.

open_connection(ssl=..., server_hostname=...) verifies the chain and the name exactly as
wrap_socket does; the context comes from create_default_context, which checks both.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys


async def status_line(host: str, port: int, name: str, context: ssl.SSLContext) -> str:
    reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=name)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return (await reader.readuntil(b"\r\n")).decode("iso-8859-1").strip()
    finally:
        writer.close()


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    name = os.environ.get("WIRELAB_SERVER_NAME", host)
    context = ssl.create_default_context(cafile=os.environ["WIRELAB_CA_FILE"])
    try:
        print(asyncio.run(asyncio.wait_for(status_line(host, port, name, context), 10)))
    except ssl.SSLCertVerificationError as exc:
        print(f"not trusted: {exc.verify_message}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        print(f"failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
