"""A correct answer to exercise 11 in another style: asyncio streams, a task per client."""

from __future__ import annotations

import asyncio
import os


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()  # wait while the client is slow: the data stays queued
    except ConnectionError:
        pass
    finally:
        writer.close()
        await writer.wait_closed()


async def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8089"))
    server = await asyncio.start_server(serve, host, port, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
