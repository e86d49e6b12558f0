"""A plausible wrong answer to exercise 06: retry after a fixed 0.1 s, ignoring Retry-After.

It does fetch all 30 in the end, so printed output alone would look fine.
"""

from __future__ import annotations

import json
import os
import time

import httpx

URL = os.environ["WIRELAB_TARGET_URL"]
TOKEN = os.environ.get("WIRELAB_TOKEN", "carol-token")
PREFIX = os.environ.get("WIRELAB_PREFIX", "/anything/exercise-06/")
COUNT = int(os.environ.get("WIRELAB_COUNT", "30"))
fetched = refused = 0
with httpx.Client(base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
    for n in range(1, COUNT + 1):
        while True:
            response = client.get(f"{PREFIX}{n}")
            if response.status_code != 429:
                break
            refused += 1
            time.sleep(0.1)  # "a short pause is enough"
        fetched += 1
print(json.dumps({"fetched": fetched, "refused": refused}))
