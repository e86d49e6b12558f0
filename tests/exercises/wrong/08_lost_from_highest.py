"""A plausible wrong answer to exercise 08: lost = highest number seen + 1 - received.

"The numbers start at 0, so the highest one tells how many were sent." Not when the last
datagrams are the ones lost: the end message says how many the server sent.

The receiving part is the starter's, as a student would keep it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "starter", Path(__file__).resolve().parents[3] / "exercises" / "08-udp-loss" / "starter.py"
)
starter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(starter)


def measure(arrivals: list[int], sent: int) -> dict[str, int]:
    seen: set[int] = set()
    duplicates = out_of_order = 0
    highest = -1
    for seq in arrivals:
        if seq in seen:
            duplicates += 1
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
        "lost": highest + 1 - received,  # the mistake: the tail that never came is not counted
        "duplicates": duplicates,
        "out_of_order": out_of_order,
    }


host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
count = int(os.environ.get("WIRELAB_COUNT", "1000"))
rate = int(os.environ.get("WIRELAB_RATE", "500"))
print(json.dumps(measure(*starter.receive_stream(host, port, count, rate))))
