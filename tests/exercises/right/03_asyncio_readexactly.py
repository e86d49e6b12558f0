"""A correct answer to exercise 03 in another style: asyncio streams.

StreamReader keeps its own buffer: readuntil(b"\\n") and readexactly(n) return whole
frames however the bytes were sliced, and n counts bytes.
"""

from __future__ import annotations

import asyncio
import json
import os


async def main() -> None:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    keys = [k for k in os.environ.get("WIRELAB_KEYS", "fragments").split(",") if k]
    reader, writer = await asyncio.open_connection(host, port)
    stories: dict[str, str | None] = {}
    for key in keys:
        writer.write(f"GIMME {key}\n".encode())
        header = (await reader.readuntil(b"\n")).decode("ascii").strip()
        if header == "MISSING":
            stories[key] = None
        else:
            stories[key] = (await reader.readexactly(int(header.split()[1]))).decode("utf-8")
    writer.write(b"QUIT\n")
    writer.close()
    print(json.dumps(stories))


asyncio.run(asyncio.wait_for(main(), 15))
