"""A plausible wrong answer to exercise 05: async code that still awaits one at a time,
and reports a concurrent time it computed rather than measured."""

from __future__ import annotations

import asyncio
import json
import os
import time

import httpx

URL = os.environ["WIRELAB_TARGET_URL"]
HEADERS = {"Authorization": f"Bearer {os.environ.get('WIRELAB_TOKEN', 'bob-token')}"}
PATHS = [f"/api/users/{n}" for n in range(1, 6)]


async def run() -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=URL, headers=HEADERS, timeout=10) as client:
        for path in PATHS:
            await client.get(path)  # `await` in a loop: still sequential
    return time.perf_counter() - started


seq = asyncio.run(run())
conc = asyncio.run(run())
# "concurrent should be about one request", so divide: a number that looks right.
print(json.dumps({"sequential_s": round(seq, 3), "concurrent_s": round(conc / 5, 3)}))
