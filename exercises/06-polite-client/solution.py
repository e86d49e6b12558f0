"""Exercise 06, reference answer: honour Retry-After, and slow down before being refused.

A 429 with Retry-After is the server saying exactly when to come back. Retrying sooner
only earns another 429 (and, on real APIs, a longer ban). The RateLimit header tells a
client how many requests remain, so it can pause before it is refused at all.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import httpx

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 6 prints it)"
)
TOKEN = os.environ.get("WIRELAB_TOKEN", "carol-token")
PREFIX = os.environ.get("WIRELAB_PREFIX", "/anything/exercise-06/")
COUNT = int(os.environ.get("WIRELAB_COUNT", "30"))
MAX_TRIES = 20


def retry_after(response: httpx.Response) -> float:
    """Retry-After in delay-seconds (the form this API sends); 1 s if it is missing."""
    value = response.headers.get("Retry-After", "1")
    return float(value) if value.strip().isdigit() else 1.0


def pause_before_next(response: httpx.Response) -> float:
    """Seconds to wait when no request remains: the policy refills q requests per w s,
    so one more request is allowed after w/q s (RateLimit and RateLimit-Policy headers)."""
    remaining = re.search(r"r=(\d+)", response.headers.get("RateLimit", ""))
    policy = re.search(r"q=(\d+);w=(\d+)", response.headers.get("RateLimit-Policy", ""))
    if remaining and policy and int(remaining.group(1)) == 0:
        return int(policy.group(2)) / int(policy.group(1))
    return 0.0


def fetch(client: httpx.Client, path: str) -> tuple[httpx.Response, int]:
    refused = 0
    for _ in range(MAX_TRIES):
        response = client.get(path)
        if response.status_code != 429:
            return response, refused
        refused += 1
        time.sleep(retry_after(response))
    raise RuntimeError(f"{path}: still refused after {MAX_TRIES} polite tries")


def main() -> None:
    fetched = refused = 0
    with httpx.Client(
        base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        for n in range(1, COUNT + 1):
            response, refusals = fetch(client, f"{PREFIX}{n}")
            response.raise_for_status()
            fetched += 1
            refused += refusals
            # The bucket is empty: waiting one token's worth now avoids a 429 next time.
            time.sleep(pause_before_next(response))
    print(json.dumps({"fetched": fetched, "refused": refused}))


if __name__ == "__main__":
    main()
