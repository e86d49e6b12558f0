"""An upstream for the load tests, run as its own process: ``python fp_hash_server.py PORT``.

Per connection the client sends a 24-byte header ``!QQQ`` (bytes up, bytes down, seed),
then ``up`` bytes of `stream(seed, 0)`. The server concurrently sends ``down`` bytes of
`stream(seed, 1)`, and once all ``up`` bytes are in, the SHA-256 of what it received
(32 bytes), then closes. So both ends check a SHA-256 of the other's bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import struct
import sys

HEADER = struct.Struct("!QQQ")
BLOCK = 65536


def stream_blocks(seed: int, which: int, total: int):
    """Deterministic pseudo-random bytes: a seeded block, stamped with its index."""
    base = random.Random(seed * 2 + which).randbytes(BLOCK)
    index = 0
    while total > 0:
        block = struct.pack("!Q", index) + base[8:]
        yield block[: min(BLOCK, total)]
        total -= BLOCK
        index += 1


def stream_digest(seed: int, which: int, total: int) -> bytes:
    h = hashlib.sha256()
    for block in stream_blocks(seed, which, total):
        h.update(block)
    return h.digest()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        up, down, seed = HEADER.unpack(await reader.readexactly(HEADER.size))

        async def send() -> None:
            for block in stream_blocks(seed, 1, down):
                writer.write(block)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        h = hashlib.sha256()
        left = up
        while left:
            data = await reader.read(min(left, 1 << 18))
            if not data:
                break
            h.update(data)
            left -= len(data)
        await sender
        writer.write(h.digest())
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
