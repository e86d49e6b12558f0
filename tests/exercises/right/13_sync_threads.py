"""A correct answer to exercise 13 in another style: websockets' threaded server, a lock
around the members, and a failed send that drops that member instead of stopping."""

from __future__ import annotations

import json
import os
import threading
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

members: dict[ServerConnection, str] = {}
lock = threading.Lock()


def tell_everyone(message: dict) -> None:
    with lock:
        message["clients"] = len(members)
        targets = list(members)
    text = json.dumps(message)
    for ws in targets:
        try:
            ws.send(text)
        except ConnectionClosed:
            with lock:
                members.pop(ws, None)


def chat(ws: ServerConnection) -> None:
    name = parse_qs(urlsplit(ws.request.path).query).get("name", ["guest"])[0]
    with lock:
        members[ws] = name
    tell_everyone({"type": "join", "name": name})
    try:
        for text in ws:
            tell_everyone({"type": "message", "from": name, "text": text})
    except ConnectionClosed:
        pass
    finally:
        with lock:
            members.pop(ws, None)
        tell_everyone({"type": "leave", "name": name})


host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8765"))
with serve(chat, host, port) as server:
    server.serve_forever()
