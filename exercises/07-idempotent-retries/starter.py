"""Exercise 07: create orders through an unstable connection, with no duplicates.

The proxy drops about 30% of the connections after the request went out: the order may
or may not have been created, and the client cannot tell which. Create WIRELAB_COUNT
orders with items WIRELAB_ITEM + " #1" ... " #N", each exactly once.
Print a JSON list of the created order ids.

Run it with the target in the environment (`lab exercise check 7` does this for you):
    WIRELAB_TARGET_URL=http://127.0.0.1:<restapi via the proxy> WIRELAB_TOKEN=alice-token \
    WIRELAB_ITEM="exercise-07 test" WIRELAB_COUNT=10 python starter.py
"""

from __future__ import annotations

import json
import os
import sys

import httpx

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 7 prints it)"
)
TOKEN = os.environ.get("WIRELAB_TOKEN", "alice-token")
ITEM = os.environ.get("WIRELAB_ITEM", "exercise-07")
COUNT = int(os.environ.get("WIRELAB_COUNT", "10"))


def main() -> None:
    ids = []
    with httpx.Client(
        base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        for n in range(1, COUNT + 1):
            order = {"user_id": 1, "item": f"{ITEM} #{n}", "quantity": 1}
            # TODO: the connection may break (httpx.TransportError) after the server got
            #       the order. Retry, but make the retry safe: the Idempotency-Key header.
            try:
                response = client.post("/api/orders", json=order)
                ids.append(response.json()["id"])
            except httpx.TransportError as exc:
                print(f"order #{n} failed: {exc!r}", file=sys.stderr)
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
