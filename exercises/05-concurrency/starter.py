"""Exercise 05: the same 5 requests, one after another and then all at once.

Each request crosses a proxy that adds 500 ms. Print one JSON line with both wall times:
    {"sequential_s": 2.6, "concurrent_s": 0.6}

Run it with the target in the environment (`lab exercise check 5` does this for you):
    WIRELAB_TARGET_URL=http://127.0.0.1:<restapi via the proxy> WIRELAB_TOKEN=bob-token \
    python starter.py
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
        # TODO: this still sends one request at a time. Start all five, then wait for
        #       all of them together (asyncio.gather).
        for path in PATHS:
            (await client.get(path)).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    seq = sequential()
    conc = asyncio.run(concurrent())
    print(json.dumps({"sequential_s": round(seq, 3), "concurrent_s": round(conc, 3)}))


if __name__ == "__main__":
    main()
