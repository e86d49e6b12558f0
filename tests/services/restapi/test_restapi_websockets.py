"""WebSockets over real sockets with the `websockets` client: echo and a three-client chat."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from tests.services.restapi.conftest import RestApi


def ws_url(api: RestApi, path: str) -> str:
    return api.url.replace("http://", "ws://") + path


async def recv_json(ws) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=5))


def test_echo_text_and_binary(api: RestApi) -> None:
    async def run() -> None:
        async with connect(ws_url(api, "/ws/echo")) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            await ws.send(b"\x00\x01\xff")
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01\xff"

    asyncio.run(run())


def test_chat_broadcasts_to_three_clients_with_count(api: RestApi) -> None:
    async def run() -> None:
        url = ws_url(api, "/ws/chat")
        async with connect(url + "?name=ann") as ann:
            assert await recv_json(ann) == {"type": "join", "name": "ann", "clients": 1}
            async with connect(url + "?name=ben") as ben:
                assert await recv_json(ann) == {"type": "join", "name": "ben", "clients": 2}
                assert await recv_json(ben) == {"type": "join", "name": "ben", "clients": 2}
                async with connect(url + "?name=cat") as cat:
                    for ws in (ann, ben, cat):
                        assert await recv_json(ws) == {"type": "join", "name": "cat", "clients": 3}
                    await ben.send("hi all")
                    for ws in (ann, ben, cat):
                        assert await recv_json(ws) == {
                            "type": "message",
                            "from": "ben",
                            "text": "hi all",
                            "clients": 3,
                        }
                    await cat.send(b"\x00")  # binary is refused to the sender only
                    assert (await recv_json(cat))["type"] == "error"
                for ws in (ann, ben):
                    assert await recv_json(ws) == {"type": "leave", "name": "cat", "clients": 2}
            assert await recv_json(ann) == {"type": "leave", "name": "ben", "clients": 1}

    asyncio.run(run())
