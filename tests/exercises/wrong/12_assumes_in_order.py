"""A plausible wrong answer to exercise 12: numbered datagrams, but the receiver assumes
they arrive in order: when a gap opens, the numbers skipped are counted lost at once, and
a late one that fills the gap afterwards is taken for a copy."""

from __future__ import annotations

import json
import os
import socket
import struct
import time

SEQ = struct.Struct("!I")  # the sequence number, 4 bytes big-endian, first in each datagram
COUNT = int(os.environ.get("WIRELAB_COUNT", "400"))


def send() -> None:
    target = (
        os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1"),
        int(os.environ["WIRELAB_TARGET_PORT"]),
    )
    rate = float(os.environ.get("WIRELAB_RATE", "400"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        started = time.monotonic()
        for seq in range(COUNT):
            sock.sendto(SEQ.pack(seq) + b"wirelab datagram " + str(seq).encode(), target)
            # Paced, not blasted: a burst overflows receive buffers, which is loss too.
            pause = started + (seq + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    print(f"sent {COUNT} datagrams to {target[0]}:{target[1]}")


def receive() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "9999"))
    idle = float(os.environ.get("WIRELAB_IDLE", "1.0"))
    expected = 0
    received = duplicates = 0
    lost: list[int] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        while True:
            try:
                datagram = sock.recv(65535)
            except TimeoutError:
                break
            sock.settimeout(idle)
            seq = SEQ.unpack_from(datagram)[0]
            if seq < expected:
                duplicates += 1  # the mistake: a late datagram is not a copy
                continue
            lost.extend(range(expected, seq))  # the mistake: a gap is not (yet) a loss
            received += 1
            expected = seq + 1
    lost.extend(range(expected, COUNT))
    print(json.dumps({"received": received, "duplicates": duplicates, "lost": lost}))


if __name__ == "__main__":
    role = os.environ.get("WIRELAB_ROLE", "")
    if role == "sender":
        send()
    elif role == "receiver":
        receive()
    else:
        raise SystemExit("set WIRELAB_ROLE to sender or receiver")
