"""/ws/echo and /ws/chat: the classic WebSocket echo and broadcast-chat examples.

Chat messages are JSON objects; every one carries ``clients``, the number connected,
so a student can see joins and leaves from any client.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

router = APIRouter()
MAX_NAME = 40
MAX_TEXT = 4096


@dataclass
class ChatRoom:
    members: dict[WebSocket, str] = field(default_factory=dict)
    _guest_numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def guest_name(self) -> str:
        return f"guest-{next(self._guest_numbers)}"

    async def broadcast(self, message: dict[str, Any]) -> None:
        message = {**message, "clients": len(self.members)}
        text = json.dumps(message)
        gone = []
        for ws in list(self.members):
            try:
                await ws.send_text(text)
            except Exception:  # a peer that vanished mid-send is simply dropped
                gone.append(ws)
        for ws in gone:
            self.members.pop(ws, None)


@router.websocket("/ws/echo")
async def ws_echo(ws: WebSocket) -> None:
    """Send back every message, text as text and binary as binary."""
    await ws.accept()
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            elif message.get("bytes") is not None:
                await ws.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


@router.websocket("/ws/chat")
async def ws_chat(ws: WebSocket) -> None:
    """Join with ``?name=``; text frames are broadcast to everyone (sender included)."""
    room: ChatRoom = ws.app.state.chat
    name = (ws.query_params.get("name") or "").strip()[:MAX_NAME] or room.guest_name()
    await ws.accept()
    room.members[ws] = name
    await room.broadcast({"type": "join", "name": name})
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await ws.send_text(
                    json.dumps({"type": "error", "detail": "chat takes text frames, not binary"})
                )
                continue
            if len(text) > MAX_TEXT:
                await ws.send_text(
                    json.dumps({"type": "error", "detail": f"message over {MAX_TEXT} characters"})
                )
                continue
            await room.broadcast({"type": "message", "from": name, "text": text})
    except WebSocketDisconnect:
        pass
    finally:
        if room.members.pop(ws, None) is not None:
            await room.broadcast({"type": "leave", "name": name})
