"""A correct answer to exercise 10 in another style: the synchronous websockets client.

recv(timeout=...) blocks for the next message; everything after the "please relay: "
prefix is the phrase, whatever it holds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import quote

from websockets.sync.client import connect

URL = os.environ["WIRELAB_TARGET_URL"]
NAME = os.environ.get("WIRELAB_NAME", "relay-bot")
ASK = "please relay: "
deadline = time.monotonic() + float(os.environ.get("WIRELAB_TIMEOUT", "15"))

with connect(f"{URL}?name={quote(NAME)}") as ws:
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        text = message.get("text", "")
        if (
            message.get("type") == "message"
            and message.get("from") != NAME
            and text.startswith(ASK)
        ):
            ws.send("relayed: " + text.removeprefix(ASK))
            sys.exit(0)
sys.exit("nothing to relay arrived in time")
