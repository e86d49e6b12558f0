"""A plausible wrong answer to exercise 07: retry every failed POST, without a key.

Every order is there in the end, but the ones whose first attempt broke after the server
created them now exist twice.
"""

from __future__ import annotations

import json
import os

import httpx

URL = os.environ["WIRELAB_TARGET_URL"]
TOKEN = os.environ.get("WIRELAB_TOKEN", "alice-token")
ITEM = os.environ.get("WIRELAB_ITEM", "exercise-07")
COUNT = int(os.environ.get("WIRELAB_COUNT", "10"))
ids = []
with httpx.Client(base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
    for n in range(1, COUNT + 1):
        for _attempt in range(15):
            try:
                response = client.post("/api/orders", json={"user_id": 1, "item": f"{ITEM} #{n}"})
                ids.append(response.json()["id"])
                break
            except httpx.TransportError:
                continue  # "it failed, so send it again"
print(json.dumps(ids))
