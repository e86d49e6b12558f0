"""Exercise 06: fetch 30 resources through a tight rate limit, politely.

The API allows a short burst, then answers 429 Too Many Requests with a Retry-After
header (seconds). Fetch every resource WIRELAB_PREFIX + "1" ... + "30" and print a JSON
summary: {"fetched": 30, "refused": <how many 429s you got>}.

Run it with the target in the environment (`lab exercise check 6` does this for you):
    WIRELAB_TARGET_URL=http://127.0.0.1:<restapi> WIRELAB_TOKEN=carol-token \
    WIRELAB_PREFIX=/anything/exercise-06/ WIRELAB_COUNT=30 python starter.py
"""

from __future__ import annotations

import json
import os
import sys

import httpx

URL = os.environ.get("WIRELAB_TARGET_URL") or sys.exit(
    "set WIRELAB_TARGET_URL (lab exercise show 6 prints it)"
)
TOKEN = os.environ.get("WIRELAB_TOKEN", "carol-token")
PREFIX = os.environ.get("WIRELAB_PREFIX", "/anything/exercise-06/")
COUNT = int(os.environ.get("WIRELAB_COUNT", "30"))


def main() -> None:
    fetched = refused = 0
    with httpx.Client(
        base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        for n in range(1, COUNT + 1):
            response = client.get(f"{PREFIX}{n}")
            # TODO: a 429 means "not now": wait as long as Retry-After says, then try the
            #       same resource again. Right now a refused resource is simply skipped.
            if response.status_code == 429:
                refused += 1
            else:
                fetched += 1
    print(json.dumps({"fetched": fetched, "refused": refused}))


if __name__ == "__main__":
    main()
