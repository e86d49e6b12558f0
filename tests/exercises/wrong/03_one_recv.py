"""A plausible wrong answer to exercise 03: one recv() per answer.

On loopback an answer usually arrives in one piece, so this "works" at home; through a
slicer it gets a few bytes of each story, and the answers drift out of step.
"""

from __future__ import annotations

import json
import os
import socket

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
keys = [k for k in os.environ.get("WIRELAB_KEYS", "fragments").split(",") if k]
stories = {}
with socket.create_connection((host, port), timeout=10) as sock:
    for key in keys:
        sock.sendall(f"GIMME {key}\n".encode())
        answer = sock.recv(4096).decode("utf-8", errors="replace")
        if answer.startswith("MISSING"):
            stories[key] = None
        else:
            stories[key] = answer.split("\n", 1)[1] if "\n" in answer else ""
print(json.dumps(stories))
