"""Exercise 07, reference answer: retry every POST, with one Idempotency-Key per order.

When a connection breaks after the request went out, the client cannot know whether the
server created the order. Retrying blindly may create it twice; not retrying may lose it.
The same Idempotency-Key on every attempt lets the server answer a retry with the first
result instead of creating a second order.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import httpx

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 7 prints it)"
)
TOKEN = os.environ.get("WIRELAB_TOKEN", "alice-token")
ITEM = os.environ.get("WIRELAB_ITEM", "exercise-07")
COUNT = int(os.environ.get("WIRELAB_COUNT", "10"))
MAX_TRIES = 15


def create_order(client: httpx.Client, order: dict) -> int:
    key = str(uuid.uuid4())  # one key per order, reused by every retry of that order
    for attempt in range(1, MAX_TRIES + 1):
        try:
            response = client.post("/api/orders", json=order, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            print(
                f"attempt {attempt} for {order['item']!r} broke ({exc!r}); retrying",
                file=sys.stderr,
            )
            time.sleep(min(0.05 * 2**attempt, 1.0))  # back off a little, and a little more
            continue
        if response.status_code >= 500:
            time.sleep(0.2)
            continue
        response.raise_for_status()
        return int(response.json()["id"])
    raise RuntimeError(f"could not create {order['item']!r} in {MAX_TRIES} tries")


def main() -> None:
    ids = []
    with httpx.Client(
        base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        for n in range(1, COUNT + 1):
            ids.append(create_order(client, {"user_id": 1, "item": f"{ITEM} #{n}", "quantity": 1}))
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
