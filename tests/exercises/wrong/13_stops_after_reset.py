"""A plausible wrong answer to exercise 13: it broadcasts, but a client that vanishes
without a close frame stays in the list (no try/finally), and the first send to it raises
ConnectionClosed in the sender's handler: that message reaches no one after it, and the
sender is thrown out."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

members: list[tuple[ServerConnection, str]] = []


async def tell_everyone(message: dict) -> None:
    message["clients"] = len(members)
    for ws, _ in members:
        await ws.send(json.dumps(message))


async def chat(ws: ServerConnection) -> None:
    name = parse_qs(urlsplit(ws.request.path).query).get("name", ["guest"])[0]
    members.append((ws, name))
    await tell_everyone({"type": "join", "name": name})
    async for text in ws:
        await tell_everyone({"type": "message", "from": name, "text": text})
    members.remove((ws, name))  # only reached when the client said goodbye properly
    await tell_everyone({"type": "leave", "name": name})


async def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8765"))
    async with serve(chat, host, port) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
