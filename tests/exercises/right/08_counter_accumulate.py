"""A correct answer to exercise 08 in another style: Counter and accumulate instead of a loop.

The first arrival of each number is what counts; a number is late when it is below the
running maximum of the first arrivals before it. The receiving part is the starter's.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections import Counter
from itertools import accumulate
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "starter", Path(__file__).resolve().parents[3] / "exercises" / "08-udp-loss" / "starter.py"
)
starter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(starter)

host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
port = int(os.environ["WIRELAB_TARGET_PORT"])
count = int(os.environ.get("WIRELAB_COUNT", "1000"))
rate = int(os.environ.get("WIRELAB_RATE", "500"))
arrivals, sent = starter.receive_stream(host, port, count, rate)

firsts = list(dict.fromkeys(arrivals))  # distinct numbers, in order of first arrival
highest_before = [-1, *accumulate(firsts, max)][:-1]
print(
    json.dumps(
        {
            "sent": sent,
            "received": len(firsts),
            "lost": max(0, sent - len(firsts)),
            "duplicates": sum(n - 1 for n in Counter(arrivals).values()),
            "out_of_order": sum(seq < top for seq, top in zip(firsts, highest_before, strict=True)),
        }
    )
)
