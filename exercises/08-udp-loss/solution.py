"""Exercise 08, reference answer: loss, duplicates and reordering, by definition.

A set of the numbers seen answers "is this a duplicate?"; the highest number seen so far
answers "is this one late?". Loss is counted once, at the end, so a late datagram is
never counted as lost, and loss can never go negative.
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


def measure(arrivals: list[int], sent: int) -> dict[str, int]:
    seen: set[int] = set()
    duplicates = out_of_order = 0
    highest = -1
    for seq in arrivals:
        if seq in seen:
            duplicates += 1  # counted here only: not received again, not reordered
            continue
        seen.add(seq)
        if seq < highest:
            out_of_order += 1
        else:
            highest = seq
    received = len(seen)
    return {
        "sent": sent,
        "received": received,
        "lost": max(0, sent - received),
        "duplicates": duplicates,
        "out_of_order": out_of_order,
    }


def main() -> None:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    count = int(os.environ.get("WIRELAB_COUNT", "1000"))
    rate = int(os.environ.get("WIRELAB_RATE", "500"))
    arrivals, sent = receive_stream(host, port, count, rate)
    print(json.dumps(measure(arrivals, sent)))


if __name__ == "__main__":
    main()
