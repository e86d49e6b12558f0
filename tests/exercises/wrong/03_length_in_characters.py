"""A plausible wrong answer to exercise 03: the length read as characters.

A text-mode file over the socket hides the slicing (readline and read loop for us), so it
looks right, and every story of plain English arrives exactly. But read(n) on a text file
reads n *characters*; OKAY <n> counts *bytes*. With "é" or "—" in a story it reads past
its end into the next answer.
"""

from __future__ import annotations

import json
import os
import socket

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
keys = [k for k in os.environ.get("WIRELAB_KEYS", "fragments").split(",") if k]
stories: dict[str, str | None] = {}
with socket.create_connection((host, port), timeout=5) as sock:
    stream = sock.makefile("rw", encoding="utf-8", newline="")
    for key in keys:
        stream.write(f"GIMME {key}\n")
        stream.flush()
        header = stream.readline().strip()
        if header.startswith("OKAY "):
            stories[key] = stream.read(int(header.split()[1]))  # the mistake: characters
        else:
            stories[key] = None
print(json.dumps(stories))
