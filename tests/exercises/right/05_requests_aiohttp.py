"""A correct answer to exercise 05 in the tutorials' style: requests for the sequential
five, aiohttp for the concurrent five (both installed with the lab)."""

from __future__ import annotations

import asyncio
import json
import os
import time

import aiohttp
import requests

URL = os.environ["WIRELAB_TARGET_URL"]
HEADERS = {"Authorization": f"Bearer {os.environ.get('WIRELAB_TOKEN', 'bob-token')}"}
PATHS = [f"/api/users/{n}" for n in range(1, 6)]


def sequential() -> float:
    started = time.perf_counter()
    with requests.Session() as session:
        session.trust_env = False
        for path in PATHS:
            session.get(URL + path, headers=HEADERS, timeout=10).raise_for_status()
    return time.perf_counter() - started


async def concurrent() -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def get(path: str) -> None:
            async with session.get(URL + path) as response:
                response.raise_for_status()
                await response.read()

        await asyncio.gather(*(get(path) for path in PATHS))
    return time.perf_counter() - started


seq = sequential()
conc = asyncio.run(concurrent())
print(json.dumps({"sequential_s": round(seq, 3), "concurrent_s": round(conc, 3)}))
