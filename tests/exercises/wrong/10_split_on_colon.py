"""A plausible wrong answer to exercise 10: the phrase taken as what follows the colon.

"please relay: the magic number is 4711".split(":")[1] is the phrase, as long as the
phrase has no colon of its own; and "relay" in text is a request, as long as nobody else
mentions relaying.
"""

from __future__ import annotations

import asyncio
import json
import os

import websockets

URL = os.environ["WIRELAB_TARGET_URL"]
NAME = os.environ.get("WIRELAB_NAME", "relay-bot")


async def main() -> None:
    async with websockets.connect(f"{URL}?name={NAME}") as ws:
        async for raw in ws:
            message = json.loads(raw)
            text = str(message.get("text", ""))
            if message.get("from") != NAME and "please relay" in text:
                await ws.send("relayed: " + text.split(":")[1].strip())
                return


asyncio.run(asyncio.wait_for(main(), 15))
