"""Exercise 07: retries without duplicates. The program creates N orders through a proxy
that breaks connections; afterwards restapi's own order list must hold each exactly once.

Two faults on the restapi proxy: `http_reset` (30% of requests are dropped before they
reach the API: a retry is needed) and `limit_data` (every connection is cut after a
couple of responses, in the middle of a response, *after* the API created the order: a
blind retry creates a duplicate). Only a retry with the same Idempotency-Key gets both right.
"""

from __future__ import annotations

import json
import time

import httpx

from lab.exercise import evidence
from lab.exercise.context import CheckContext


def orders_with_prefix(prefix: str) -> list[dict]:
    """Every order whose item starts with ``prefix``, read from restapi directly."""
    found, page = [], 1
    with httpx.Client(base_url=evidence.url("restapi"), timeout=10, trust_env=False) as client:
        while True:
            response = client.get("/api/orders", params={"page": page, "per_page": 100})
            if response.status_code != 200:
                raise evidence.LabUnavailable(
                    f"restapi would not list orders ({response.status_code})"
                )
            batch = response.json()
            batch = batch.get("items", batch) if isinstance(batch, dict) else batch
            found += [o for o in batch if str(o.get("item", "")).startswith(prefix)]
            if len(batch) < 100:
                return found
            page += 1


def delete_orders(orders: list[dict], token: str) -> None:
    """Leave the database as we found it (best effort: a leftover order harms nothing)."""
    with httpx.Client(base_url=evidence.url("restapi"), timeout=10, trust_env=False) as client:
        for order in orders:
            try:
                client.delete(
                    f"/api/orders/{order['id']}", headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError:
                pass


def check(ctx: CheckContext) -> None:
    evidence.require("restapi", "faultproxy")
    count = ctx.param("count", 10)
    token, client = ctx.param("token", "alice-token"), ctx.param("client", "alice")
    proxy = ctx.param("proxy", "restapi")
    item = f"exercise-07 {ctx.nonce()}"
    env = {
        "WIRELAB_TARGET_URL": evidence.url("restapi.via_proxy"),
        "WIRELAB_TOKEN": token,
        "WIRELAB_ITEM": item,
        "WIRELAB_COUNT": str(count),
    }
    since = time.time()
    with (
        evidence.toxic(
            proxy,
            "exercise_reset",
            "http_reset",
            "upstream",
            toxicity=ctx.param("reset_toxicity", 0.3),
        ),
        evidence.toxic(
            proxy,
            "exercise_cut",
            "limit_data",
            "downstream",
            bytes=ctx.param("cut_after_bytes", 1250),
        ),
    ):
        run = ctx.run(env, timeout=ctx.param("timeout", 60.0))
    ctx.expect_clean_exit(run)
    orders = orders_with_prefix(item)
    posts = [
        e
        for e in evidence.request_log("restapi", since, client=client)
        if e.get("method") == "POST"
    ]
    try:
        by_item: dict[str, list[int]] = {}
        for order in orders:
            by_item.setdefault(order["item"], []).append(int(order["id"]))
        wanted = [f"{item} #{n}" for n in range(1, count + 1)]
        missing = [w for w in wanted if w not in by_item]
        doubled = {k: v for k, v in by_item.items() if len(v) > 1}
        extra = [k for k in by_item if k not in wanted]
        ctx.expect(
            f"every one of the {count} orders exists",
            not missing,
            f"{len(wanted) - len(missing)} of {count} exist"
            + (
                f"; missing: {', '.join(m.rsplit(' ', 1)[1] for m in missing[:10])}"
                if missing
                else ""
            ),
            "a broken connection is not a refusal: retry the POST until it gets an answer",
        )
        ctx.expect(
            "no order exists twice",
            not doubled and not extra,
            f"{len(orders)} orders for {count} intended; restapi received {len(posts)} POSTs"
            + (
                f"; twice or more: {', '.join(k.rsplit(' ', 1)[1] for k in doubled)}"
                if doubled
                else ""
            ),
            "the connection may break after the order was created: send the same "
            "Idempotency-Key header on every retry of one order (a fresh key per order)",
        )
        try:
            printed = json.loads(run.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            printed = None
        real_ids = sorted(i for ids in by_item.values() for i in ids)
        ctx.expect(
            "the program printed the ids restapi really gave the orders",
            isinstance(printed, list) and sorted(map(str, printed)) == sorted(map(str, real_ids)),
            f"printed {str(printed)[:80]}, restapi has {real_ids[:12]}",
            "print the JSON list of the ids from the 201 answers (a retried POST answers with the first id)",
        )
    finally:
        delete_orders(orders, token)
