"""A plausible wrong answer to exercise 12: no sequence numbers; the receiver counts
arrivals and takes lost as count - arrivals (copies hide losses, and nothing says which)."""

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

    print(json.dumps({"received": arrivals, "duplicates": 0, "lost": COUNT - arrivals}))


if __name__ == "__main__":
    role = os.environ.get("WIRELAB_ROLE", "")
    if role == "sender":
        send()
    elif role == "receiver":
        receive()
    else:
        raise SystemExit("set WIRELAB_ROLE to sender or receiver")
