"""Exercise 08: receive a UDP stream and measure what the network did to it.

The receiving part is written for you (`receive_stream` returns the sequence numbers in
the order they arrived, and how many the server sent). Your job is the statistics:
- received:     distinct sequence numbers that arrived;
- duplicates:   arrivals of a sequence number that had already arrived;
- lost:         sent - received (a late datagram is not lost);
- out_of_order: distinct arrivals whose number is below the highest one seen before them.
Print them as one JSON object: {"sent": .., "received": .., "lost": .., "duplicates": ..,
"out_of_order": ..}.

Run it with the target in the environment (`lab exercise check 8` does this for you):
    WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=<udpstream> python starter.py
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import time
import uuid

PREFIX = b"WU\x01"  # magic "WU", version 1; the 4th byte says the kind of datagram
DATA = struct.Struct("!2sBBIQQH")  # magic, version, kind, stream, seq, sent_ns, payload length


def control(sock: socket.socket, message: dict, pad: int = 0) -> None:
    body = PREFIX + b"C" + json.dumps(message).encode()
    sock.send(body.ljust(pad, b" "))  # padding lets the server answer before we are validated


def receive_stream(host: str, port: int, count: int, rate: int) -> tuple[list[int], int]:
    """Ask for ``count`` datagrams at ``rate``/s; return (arrival order of seqs, sent)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.connect((host, port))
    request = {"op": "start", "rate": rate, "size": 64, "count": count, "id": uuid.uuid4().hex[:16]}
    arrivals: list[int] = []
    stream = None
    sent = count
    last_control = last_data = 0.0
    end_at = None
    started = time.monotonic()
    while time.monotonic() - started < count / rate + 10:
        now = time.monotonic()
        if stream is None and now - last_control > 0.3:
            control(sock, request, pad=512)  # repeated until accepted: UDP may lose it
            last_control = now
        elif stream is not None and now - last_control > 0.5:
            control(sock, {"op": "keepalive", "stream": stream})
            last_control = now
        if end_at is not None and now > end_at:
            break
        if stream is not None and last_data and now - last_data > 3:
            break  # the end message was lost
        if not select.select([sock], [], [], 0.05)[0]:
            continue
        data = sock.recv(65535)
        if data[:4] == PREFIX + b"D" and len(data) >= DATA.size:
            _, _, _, sid, seq, _, _ = DATA.unpack_from(data)
            if stream is None or sid == stream:
                arrivals.append(seq)
                last_data = now
        elif data[:4] == PREFIX + b"R":
            reply = json.loads(data[4:])
            if reply.get("type") == "accept" and reply.get("id") == request["id"]:
                stream = reply["stream"]
                if reply.get("token") and not reply.get("validated"):
                    control(sock, {"op": "validate", "token": reply["token"]})
            elif reply.get("type") == "end" and reply.get("stream") == stream:
                sent = int(reply.get("sent", count))
                end_at = now + 0.3  # stragglers that were overtaken may still arrive
            elif reply.get("type") == "error":
                raise SystemExit(f"udpstream refused: {reply.get('error')}")
    sock.close()
    return arrivals, sent


def main() -> None:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    count = int(os.environ.get("WIRELAB_COUNT", "1000"))
    rate = int(os.environ.get("WIRELAB_RATE", "500"))
    arrivals, sent = receive_stream(host, port, count, rate)
    # TODO: compute the four figures from `arrivals` (see the definitions above).
    print(json.dumps({"sent": sent, "received": 0, "lost": 0, "duplicates": 0, "out_of_order": 0}))


if __name__ == "__main__":
    main()
