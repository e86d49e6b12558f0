"""Exercise 12: a UDP sender and receiver. Number the datagrams and report which were lost.

One file, two roles (`lab exercise check 12` runs both for you):
    WIRELAB_ROLE=receiver WIRELAB_LISTEN_PORT=9999 WIRELAB_COUNT=400 python starter.py
    WIRELAB_ROLE=sender WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=9999 WIRELAB_COUNT=400 python starter.py
The receiver prints, as its last line: {"received": .., "duplicates": .., "lost": [..]}
"""

from __future__ import annotations

import json
import os
import socket
import time

COUNT = int(os.environ.get("WIRELAB_COUNT", "400"))


def send() -> None:
    target = (
        os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1"),
        int(os.environ["WIRELAB_TARGET_PORT"]),
    )
    rate = float(os.environ.get("WIRELAB_RATE", "400"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(COUNT):
            # TODO: start each datagram with its sequence number, struct.pack("!I", seq),
            #       so the receiver can tell which one is missing, late or a copy.
            sock.sendto(b"wirelab datagram", target)
            time.sleep(1 / rate)


def receive() -> None:
    host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
    port = int(os.environ.get("WIRELAB_LISTEN_PORT", "9999"))
    idle = float(os.environ.get("WIRELAB_IDLE", "1.0"))
    arrivals = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        while True:
            try:
                sock.recv(65535)
            except TimeoutError:
                break  # quiet for `idle` seconds: the sender has finished
            sock.settimeout(idle)
            arrivals += 1
    # TODO: a copy is not a new datagram, and a late one is not lost: read the number in
    #       each datagram, and list the numbers in range(COUNT) that never arrived.
    print(json.dumps({"received": arrivals, "duplicates": 0, "lost": []}))


if __name__ == "__main__":
    role = os.environ.get("WIRELAB_ROLE", "")
    if role == "sender":
        send()
    elif role == "receiver":
        receive()
    else:
        raise SystemExit("set WIRELAB_ROLE to sender or receiver")
