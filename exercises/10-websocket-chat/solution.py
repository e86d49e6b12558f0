"""Exercise 10, reference answer: join, listen, relay one message, leave.

A WebSocket is one long-lived, two-way connection: the same socket receives what others
say and carries what we say, in frames, with no request/response pairing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from urllib.parse import quote

import websockets

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 10 prints it)"
)
NAME = os.environ.get("WIRELAB_NAME", "relay-bot")
GIVE_UP_AFTER = float(os.environ.get("WIRELAB_TIMEOUT", "15"))
ASK = "please relay: "


async def main() -> None:
    async with websockets.connect(f"{URL}?name={quote(NAME)}") as ws:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") != "message" or message.get("from") == NAME:
                continue  # joins, leaves and our own words are not requests
            text = str(message.get("text", ""))
            if text.startswith(ASK):
                await ws.send("relayed: " + text[len(ASK) :])
                print(
                    f"relayed a message from {message.get('from')} to {message.get('clients')} clients"
                )
                return


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), GIVE_UP_AFTER))
    except TimeoutError:
        sys.exit("nothing to relay arrived in time")
