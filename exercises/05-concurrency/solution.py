"""Exercise 05, reference answer: the requests overlap, so the waits overlap too.

Five sequential requests cost five round trips; five concurrent ones cost about one,
because the time is spent waiting on the network, not computing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import httpx

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 5 prints it)"
)
HEADERS = {"Authorization": f"Bearer {os.environ.get('WIRELAB_TOKEN', 'bob-token')}"}
PATHS = [f"/api/users/{n}" for n in range(1, 6)]


def sequential() -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=URL, headers=HEADERS, timeout=10) as client:
        for path in PATHS:
            client.get(path).raise_for_status()
    return time.perf_counter() - started


async def concurrent() -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=URL, headers=HEADERS, timeout=10) as client:
        responses = await asyncio.gather(*(client.get(path) for path in PATHS))
    for response in responses:
        response.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    seq = sequential()
    conc = asyncio.run(concurrent())
    print(json.dumps({"sequential_s": round(seq, 3), "concurrent_s": round(conc, 3)}))


if __name__ == "__main__":
    main()
