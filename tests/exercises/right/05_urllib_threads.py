"""A correct answer to exercise 05 without asyncio: urllib from the standard library, and
five threads for the concurrent five (each thread waits on its own socket)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

URL = os.environ["WIRELAB_TARGET_URL"]
HEADERS = {"Authorization": f"Bearer {os.environ.get('WIRELAB_TOKEN', 'bob-token')}"}
PATHS = [f"/api/users/{n}" for n in range(1, 6)]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(path: str) -> bytes:
    request = urllib.request.Request(URL + path, headers=HEADERS)
    with NO_PROXY.open(request, timeout=10) as response:
        return response.read()


started = time.perf_counter()
for path in PATHS:
    get(path)
seq = time.perf_counter() - started

started = time.perf_counter()
with ThreadPoolExecutor(max_workers=len(PATHS)) as pool:
    list(pool.map(get, PATHS))
conc = time.perf_counter() - started
print(json.dumps({"sequential_s": round(seq, 3), "concurrent_s": round(conc, 3)}))
