"""A correct answer to exercise 04 in another style: httpx's async client under one
asyncio deadline.

httpx's own timeout=2 is per operation (each read may wait 2 s), so on its own it would
follow a trickle for ever; asyncio.timeout() bounds the whole exchange instead.
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

GIVE_UP_AFTER = 2.0


async def fetch(url: str) -> str:
    async with asyncio.timeout(GIVE_UP_AFTER):  # one deadline for everything inside
        async with httpx.AsyncClient(trust_env=False, timeout=None) as client:
            response = await client.get(url)
            return f"HTTP/1.1 {response.status_code} {response.reason_phrase}"


def main() -> int:
    host = os.environ.get("WIRELAB_TARGET_HOST", "127.0.0.1")
    url = f"http://{host}:{os.environ['WIRELAB_TARGET_PORT']}/"
    try:
        print(asyncio.run(fetch(url)))
    except TimeoutError:
        print(f"gave up after {GIVE_UP_AFTER:g} s", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
