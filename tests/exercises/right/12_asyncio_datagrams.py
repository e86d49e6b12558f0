"""A correct answer to exercise 12 in another style: asyncio datagram endpoints (the
receiver keeps every arrival and decides at the end, once the stream has gone quiet)."""

from __future__ import annotations

import asyncio
import json
import os
import struct

SEQ = struct.Struct("!I")
COUNT = int(os.environ.get("WIRELAB_COUNT", "400"))
IDLE = float(os.environ.get("WIRELAB_IDLE", "1.0"))


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.arrivals: list[int] = []
        self.last = asyncio.get_running_loop().time()

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) >= SEQ.size:
            self.arrivals.append(SEQ.unpack_from(data)[0])
            self.last = asyncio.get_running_loop().time()


async def receive() -> None:
    loop = asyncio.get_running_loop()
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_LISTEN_PORT"])
    transport, proto = await loop.create_datagram_endpoint(Receiver, local_addr=(host, port))
    while not proto.arrivals or loop.time() - proto.last < IDLE:
        await asyncio.sleep(0.05)
    transport.close()
    distinct = set(proto.arrivals)
    print(
        json.dumps(
            {
                "received": len(distinct),
                "duplicates": len(proto.arrivals) - len(distinct),
                "lost": sorted(set(range(COUNT)) - distinct),
            }
        )
    )


async def send() -> None:
    loop = asyncio.get_running_loop()
    target = (
        os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1"),
        int(os.environ["WIRELAB_TARGET_PORT"]),
    )
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=target)
    for seq in range(COUNT):
        transport.sendto(SEQ.pack(seq) + b"x" * 32)
        await asyncio.sleep(1 / float(os.environ.get("WIRELAB_RATE", "400")))
    transport.close()


asyncio.run(send() if os.environ.get("WIRELAB_ROLE") == "sender" else receive())
