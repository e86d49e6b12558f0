"""Exercise 10: a WebSocket chat bot that relays a message.

Join the chat at WIRELAB_TARGET_URL (ws://.../ws/chat) under the name WIRELAB_NAME. Every
chat message arrives as JSON: {"type": "message", "from": "...", "text": "...", "clients": 3}
(joins and leaves have "type": "join" / "leave"). When someone writes
"please relay: <words>", send "relayed: <words>" to the chat, then exit.

Run it with the target in the environment (`lab exercise check 10` does this for you):
    WIRELAB_TARGET_URL=ws://127.0.0.1:<restapi>/ws/chat WIRELAB_NAME=me python starter.py
Try it with a second client: python -m websockets ws://127.0.0.1:<restapi>/ws/chat
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import websockets

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 10 prints it)"
)
NAME = os.environ.get("WIRELAB_NAME", "relay-bot")
GIVE_UP_AFTER = float(os.environ.get("WIRELAB_TIMEOUT", "15"))


async def main() -> None:
    async with websockets.connect(f"{URL}?name={NAME}") as ws:
        async for raw in ws:
            message = json.loads(raw)
            print(message, flush=True)
            # TODO: when a message's text starts with "please relay: ", send
            #       "relayed: " + the rest of it back to the chat (await ws.send(...)), then stop.


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), GIVE_UP_AFTER))
    except TimeoutError:
        sys.exit("nothing to relay arrived in time")
