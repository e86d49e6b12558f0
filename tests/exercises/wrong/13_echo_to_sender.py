"""A plausible wrong answer to exercise 13: every message goes back to its sender only
(the echo server every tutorial starts with), so no one else hears it."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

members: dict[ServerConnection, str] = {}


async def chat(ws: ServerConnection) -> None:
    query = parse_qs(urlsplit(ws.request.path).query)
    name = query.get("name", ["guest"])[0]
    members[ws] = name
    async for text in ws:
        await ws.send(
            json.dumps({"type": "message", "from": name, "text": text, "clients": len(members)})
        )


async def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8765"))
    async with serve(chat, host, port) as server:
        print(f"chat on ws://{host}:{port}/ws/chat", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
