"""Exercise 13: a WebSocket chat server. Make it broadcast, and survive clients that vanish.

It listens where the environment says (`lab exercise check 13` sets these for you):
    WIRELAB_LISTEN_HOST=127.0.0.1 WIRELAB_LISTEN_PORT=8765 python starter.py
Try it: python -m websockets ws://127.0.0.1:8765/ws/chat?name=ann  (in two terminals)

The protocol is restapi's /ws/chat (exercise 10's bot talks to it): every message the
server sends is JSON with "clients", the number connected:
    {"type": "join", "name": "ann", "clients": 2}
    {"type": "message", "from": "ann", "text": "hi", "clients": 2}
    {"type": "leave", "name": "ann", "clients": 1}
"""

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
        # TODO: send every message to every member (the sender too), not just back to
        #       the sender; announce joins and leaves the same way.
        # TODO: a client may vanish without a goodbye (a reset): make sure it leaves
        #       `members` however its connection ends, and that sending to it can never
        #       stop the others from hearing.
        await ws.send(json.dumps({"type": "message", "from": name, "text": text, "clients": 1}))


async def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8765"))
    async with serve(chat, host, port) as server:
        print(f"chat on ws://{host}:{port}/ws/chat", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
