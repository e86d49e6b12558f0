"""A plausible wrong answer to exercise 08: out-of-order compared with the previous arrival.

Everything else is by the definitions. But "below the one just before it" counts only the
first datagram of a late run that arrives in order (7, 8, 9 after 12): the definition
compares with the highest number seen so far, and all three are late.

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
    previous = -1
    for seq in arrivals:
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < previous:  # the mistake: the previous arrival, not the highest seen
            out_of_order += 1
        previous = seq
    received = len(seen)
    return {
        "sent": sent,
        "received": received,
        "lost": max(0, sent - received),
        "duplicates": duplicates,
        "out_of_order": out_of_order,
    }


host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
count = int(os.environ.get("WIRELAB_COUNT", "1000"))
rate = int(os.environ.get("WIRELAB_RATE", "500"))
print(json.dumps(measure(*starter.receive_stream(host, port, count, rate))))
