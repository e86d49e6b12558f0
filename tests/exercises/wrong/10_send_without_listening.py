"""A plausible wrong answer to exercise 10: send at once, without reading the chat.

It never learns what it was asked to relay, so it relays the wrong words.
"""

from __future__ import annotations

import asyncio
import os

import websockets

URL = os.environ["WIRELAB_TARGET_URL"]
NAME = os.environ.get("WIRELAB_NAME", "relay-bot")


async def main() -> None:
    async with websockets.connect(f"{URL}?name={NAME}") as ws:
        await ws.send("relayed: hello everyone")
        await asyncio.sleep(1)


asyncio.run(main())
