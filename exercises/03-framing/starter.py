"""Exercise 03: a GIMME client that survives any fragmentation.

The line protocol: send ``GIMME <key>\n``; the answer is ``OKAY <length>\n`` followed by
exactly <length> bytes of story, or ``MISSING\n``. Print one JSON object mapping each key
to its story (null when MISSING).

Run it with the target in the environment (`lab exercise check 3` does this for you):
    WIRELAB_TARGET_HOST=127.0.0.1 WIRELAB_TARGET_PORT=<rawhttp.line via the proxy> \
    WIRELAB_KEYS=fragments,nagle python starter.py
"""

from __future__ import annotations

import json
import os
import socket
import sys


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    port = int(os.environ["WIRELAB_TARGET_PORT"])
    keys = [k for k in os.environ.get("WIRELAB_KEYS", "fragments").split(",") if k]
    stories: dict[str, str | None] = {}
    with socket.create_connection((host, port), timeout=10) as sock:
        for key in keys:
            sock.sendall(f"GIMME {key}\n".encode())
            # TODO: read the answer line (up to b"\n"), then, for OKAY, exactly <length>
            #       more bytes. recv() returns whatever has arrived: 1 byte, or 3, or 4096.
            stories[key] = None
    print(json.dumps(stories))
    return 0


if __name__ == "__main__":
    sys.exit(main())
