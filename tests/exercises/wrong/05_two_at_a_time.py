"""A plausible wrong answer to exercise 05: concurrent, but a semaphore of 2 (a habit
from polite crawlers) lets only two requests be in flight, so five take three round trips.
The README asks for all five at once."""

from __future__ import annotations

import asyncio
import json
import os
import time

import httpx

URL = os.environ["WIRELAB_TARGET_URL"]
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
    limit = asyncio.Semaphore(2)
    async with httpx.AsyncClient(base_url=URL, headers=HEADERS, timeout=10) as client:

        async def get(path: str) -> None:
            async with limit:
                (await client.get(path)).raise_for_status()

        await asyncio.gather(*(get(path) for path in PATHS))
    return time.perf_counter() - started


seq = sequential()
conc = asyncio.run(concurrent())
print(json.dumps({"sequential_s": round(seq, 3), "concurrent_s": round(conc, 3)}))
