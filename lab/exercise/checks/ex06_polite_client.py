"""Exercise 06: a polite client under a tight rate limit, judged by restapi's request log.

The server's own timestamps show whether each retry after a 429 waited as long as
Retry-After said. Under the policy the check sets (refill of at least one token a second),
restapi's Retry-After is always ceil((1 - tokens) / refill) = 1 s (see
services/restapi/ratelimit.py), so the expected wait is known for every 429.
"""

from __future__ import annotations

import json
import math
import time

from lab.exercise import evidence
from lab.exercise.context import CheckContext


def set_limit(group: str, capacity: int, refill: float) -> None:
    response = evidence.post(
        "restapi", "/_lab/ratelimit", {"group": group, "capacity": capacity, "refill_per_s": refill}
    )
    if response.status_code != 200:
        raise evidence.LabUnavailable(
            f"restapi refused the rate limit ({response.status_code}): {response.text[:200]}"
        )


def check(ctx: CheckContext) -> None:
    evidence.require("restapi")
    count = ctx.param("count", 30)
    capacity = ctx.param("capacity", 5)
    refill = ctx.param("refill_per_s", 5.0)
    max_refused = ctx.param("max_429s", 10)
    tolerance = ctx.param("tolerance_s", 0.05)
    token, client = ctx.param("token", "carol-token"), ctx.param("client", "carol")
    # Retry-After = ceil((1 - tokens) / refill) with 0 <= tokens < 1: exactly 1 s when refill >= 1.
    retry_after = math.ceil(1 / refill) if refill >= 1 else None
    if retry_after is None:
        raise ValueError("check.yaml: refill_per_s must be at least 1 so Retry-After is known")

    prefix = f"/anything/exercise-06/{ctx.nonce()}/"
    env = {
        "WIRELAB_TARGET_URL": evidence.url("restapi"),
        "WIRELAB_TOKEN": token,
        "WIRELAB_PREFIX": prefix,
        "WIRELAB_COUNT": str(count),
    }
    set_limit("practice", capacity, refill)
    try:
        since = time.time()
        run = ctx.run(env, timeout=ctx.param("timeout", 60.0))
        log = [
            e
            for e in evidence.request_log("restapi", since, client=client)
            if str(e.get("path", "")).startswith(prefix)
        ]
    finally:
        evidence.post("restapi", "/_lab/ratelimit", {"restore_defaults": True})
    ctx.expect_clean_exit(run)

    fetched = {e["path"] for e in log if e.get("status") == 200}
    wanted = {f"{prefix}{n}" for n in range(1, count + 1)}
    ctx.expect(
        f"all {count} resources were fetched (200)",
        wanted <= fetched,
        f"restapi served {len(fetched & wanted)} of {count}; it logged {len(log)} requests from {client}",
        "a 429 is not a failure: wait, then ask for the same resource again"
        if log
        else f"send 'Authorization: Bearer {token}' (WIRELAB_TOKEN) so restapi can tell your requests apart",
    )

    refused = [i for i, e in enumerate(log) if e.get("status") == 429]
    impatient = []
    for i in refused:
        if i + 1 < len(log):
            waited = float(log[i + 1]["time"]) - float(log[i]["time"])
            if waited < retry_after - tolerance:
                impatient.append(waited)
    ctx.expect(
        f"every request after a 429 waited at least Retry-After ({retry_after} s), by the server's clock",
        bool(log) and not impatient,
        f"{len(impatient)} of {len(refused)} retries came too soon"
        + (f" (after {min(impatient):.2f} s at the quickest)" if impatient else ""),
        "read the Retry-After header of the 429 and sleep that many seconds before the next request",
    )
    ctx.expect(
        f"no more than {max_refused} requests were refused (429)",
        len(refused) <= max_refused,
        f"{len(refused)} were refused",
        "honour Retry-After; the RateLimit headers also say when no request remains, so you "
        "can slow down before you are refused",
    )
    try:
        reported = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
    except (ValueError, IndexError):
        reported = {}
    ctx.expect(
        "the program reported the 429s it got",
        isinstance(reported, dict) and reported.get("refused") == len(refused),
        f"printed {run.stdout.strip()[-120:] or 'nothing'}; restapi refused {len(refused)}",
        'print {"fetched": N, "refused": M} as the last line',
    )
