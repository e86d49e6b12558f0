"""Exercise 12, reference answer: a UDP sender that numbers its datagrams, and a receiver
that reports which never arrived.

One file, two roles (`lab exercise check 12` runs both for you):
    WIRELAB_ROLE=receiver WIRELAB_LISTEN_PORT=9999 WIRELAB_COUNT=400 python solution.py
    WIRELAB_ROLE=sender WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=9999 WIRELAB_COUNT=400 python solution.py
"""

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
    seen: set[int] = set()
    duplicates = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        sock.settimeout(None)  # wait as long as it takes for the first datagram
        while True:
            try:
                datagram = sock.recv(65535)
            except TimeoutError:
                break  # quiet for `idle` seconds: the sender has finished
            sock.settimeout(idle)
            if len(datagram) < SEQ.size:
                continue
            seq = SEQ.unpack_from(datagram)[0]
            if seq in seen:
                duplicates += 1  # the same datagram again: not a new arrival
            else:
                seen.add(seq)  # a late one is simply added: order does not matter here
    # Lost is decided at the end, from the numbers that should have come: a datagram that
    # arrived late is not lost, and the last ones lost leave no gap below the highest seen.
    lost = sorted(set(range(COUNT)) - seen)
    print(json.dumps({"received": len(seen), "duplicates": duplicates, "lost": lost}))


if __name__ == "__main__":
    role = os.environ.get("WIRELAB_ROLE", "")
    if role == "sender":
        send()
    elif role == "receiver":
        receive()
    else:
        raise SystemExit("set WIRELAB_ROLE to sender or receiver")
