"""Exercise 13, reference answer: the WebSocket broadcast chat server (asyncio websockets).

It listens where the environment says (`lab exercise check 13` sets these for you):
    WIRELAB_LISTEN_HOST=127.0.0.1 WIRELAB_LISTEN_PORT=8765 python solution.py
and speaks the protocol of restapi's /ws/chat, so exercise 10's bot works against it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

members: dict[ServerConnection, str] = {}
guests = itertools.count(1)


def tell_everyone(message: dict) -> None:
    message["clients"] = len(members)
    # broadcast() sends to each connection without waiting for it, and skips the ones
    # that are closing: one vanished client never stops the others from hearing.
    broadcast(list(members), json.dumps(message))


async def chat(ws: ServerConnection) -> None:
    query = parse_qs(urlsplit(ws.request.path).query)
    name = (query.get("name", [""])[0].strip()[:40]) or f"guest-{next(guests)}"
    members[ws] = name
    tell_everyone({"type": "join", "name": name})
    try:
        async for text in ws:
            if isinstance(text, str):
                tell_everyone({"type": "message", "from": name, "text": text})
    except ConnectionClosed:
        pass  # a client that vanished without a close frame (a reset): just a leave
    finally:
        # Always, however the connection ended: a dead member must leave the room.
        del members[ws]
        tell_everyone({"type": "leave", "name": name})


async def main() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8765"))
    async with serve(chat, host, port) as server:
        print(f"chat on ws://{host}:{port}/ws/chat", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
