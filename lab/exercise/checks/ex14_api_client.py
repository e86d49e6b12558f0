"""Exercise 14: a requests.Session client for restapi. The program goes through an HTTP
relay (lab/exercise/http_relay.py) that records every request with its headers and hands
out pagination links with cursors only a client that follows them can send. It is judged
from that record, restapi's own request log, and restapi's data afterwards:

- every request carried the token (a read without it is logged as anonymous);
- the POST was JSON and created exactly one user;
- every page after the first was fetched through a Link URL (not ``?page=N`` built by
  hand), and all were fetched;
- the conditional update: the relay lets a second client (alice) rename the user just
  before the program's first write arrives. With If-Match that write gets 412 and must be
  redone from a fresh read; without it, alice's change is silently overwritten.
"""

from __future__ import annotations

import json
import time

import httpx

from lab.exercise import evidence
from lab.exercise.context import CheckContext
from lab.exercise.http_relay import HttpRelay, Seen

USERS = "/api/users"
AUTH_HINT = (
    "set the header once on the session, session.headers['Authorization'] = "
    "f'Bearer {token}', so every request carries it, reads included"
)
LINK_HINT = (
    "you built ?page=N yourself: follow the URL the server gives in the Link header's "
    "rel=\"next\" (response.links['next']['url'] in requests) until there is none; the "
    "server decides what the next page is"
)
IF_MATCH_HINT = (
    "send the update with If-Match: <the ETag of your GET>; without it your write silently "
    "replaced another client's change (a lost update)"
)
RETRY_HINT = (
    "412 Precondition Failed means someone changed the user since your GET: GET it again "
    "(new ETag, new name), apply your change to that, and send it with the new If-Match"
)


def check(ctx: CheckContext) -> None:
    evidence.require("restapi")
    base = evidence.url("restapi")
    tag = ctx.nonce()
    token, per_page = ctx.param("token", "carol-token"), ctx.param("per_page", 3)
    other = {"Authorization": f"Bearer {ctx.param('other_token', 'alice-token')}"}
    client_name = token.removesuffix("-token")
    api = httpx.Client(base_url=base, timeout=10, trust_env=False)
    with api:
        since = time.time() - 0.05
        made = api.post(
            USERS,
            json={"name": f"Grace Hopper {tag}", "email": f"grace-{tag}@wirelab.test"},
            headers=other,
        )
        if made.status_code != 201:
            raise evidence.LabUnavailable(f"restapi refused to create a user ({made.status_code})")
        target = made.json()["id"]
        interfered: dict[str, str] = {}

        def second_client(seen: Seen) -> None:
            """Alice renames the user just before the program's first write reaches it."""
            if interfered or seen.method not in ("PATCH", "PUT"):
                return
            if seen.path != f"{USERS}/{target}":
                return
            name = f"Grace renamed by alice {ctx.nonce()[:6]}"
            api.patch(f"{USERS}/{target}", json={"name": name}, headers=other)
            interfered["name"] = name

        suffix = f" ✓ {tag[:6]}"
        new_email = f"ada-{tag}@wirelab.test"
        with HttpRelay(base, interfere=second_client) as relay:
            env = {
                "WIRELAB_TARGET_URL": relay.url,
                "WIRELAB_TOKEN": token,
                "WIRELAB_PER_PAGE": str(per_page),
                "WIRELAB_NEW_NAME": f"Ada Lovelace {tag}",
                "WIRELAB_NEW_EMAIL": new_email,
                "WIRELAB_USER_ID": str(target),
                "WIRELAB_SUFFIX": suffix,
            }
            run = ctx.run(env, timeout=ctx.param("timeout", 30.0))
        ctx.expect_clean_exit(run)
        log = [e for e in evidence.request_log("restapi", since) if e.get("client") != "alice"]
        users = all_users(api)
        final = api.get(f"{USERS}/{target}").json()
    seen = relay.seen
    if not ctx.expect(
        "the program's requests went to WIRELAB_TARGET_URL",
        bool(seen),
        f"{len(seen)} requests reached the lab's relay",
        "send every request to WIRELAB_TARGET_URL + the path",
    ):
        return
    judge_auth(ctx, seen, log, token, client_name)
    judge_post(ctx, seen, users, new_email)
    judge_pages(ctx, seen, users, per_page, run.stdout)
    judge_update(ctx, seen, log, target, interfered.get("name"), final, suffix)


def all_users(api: httpx.Client) -> list[dict]:
    users, page = [], 1
    while batch := api.get(USERS, params={"page": page, "per_page": 100}).json():
        users += batch
        page += 1
    return users


def judge_auth(ctx: CheckContext, seen: list[Seen], log: list[dict], token: str, who: str) -> None:
    without = [s for s in seen if s.headers.get("authorization") != f"Bearer {token}"]
    anonymous = [e for e in log if e.get("client") != who]
    example = f" (e.g. {without[0].method} {without[0].path})" if without else ""
    ctx.expect(
        "every request carried Authorization: Bearer WIRELAB_TOKEN",
        not without and not anonymous,
        f"{len(seen) - len(without)} of {len(seen)} carried it{example}; restapi logged "
        f"{len(log) - len(anonymous)} requests as {who}, {len(anonymous)} as someone else",
        AUTH_HINT,
    )


def judge_post(ctx: CheckContext, seen: list[Seen], users: list[dict], email: str) -> None:
    posts = [s for s in seen if s.method == "POST" and s.path == USERS]
    json_posts = [
        s for s in posts if s.headers.get("content-type", "").startswith("application/json")
    ]
    mine = [u for u in users if u.get("email") == email]
    kinds = sorted({s.headers.get("content-type", "no Content-Type") for s in posts})
    ctx.expect(
        "the new user was created with a JSON POST, exactly once",
        bool(json_posts) and any(s.status == 201 for s in json_posts) and len(mine) == 1,
        f"{len(posts)} POST {USERS} ({', '.join(kinds) or 'none'}), statuses "
        f"{[s.status for s in posts]}; users with that email now: {len(mine)}",
        "POST the user with json={...} (requests then sends Content-Type: application/json "
        "and a JSON body); data={...} sends a form, which the API refuses with 415",
    )


def judge_pages(
    ctx: CheckContext, seen: list[Seen], users: list[dict], per_page: int, out: str
) -> None:
    lists = [s for s in seen if s.method == "GET" and s.path == USERS]
    guessed = [s for s in lists[1:] if not s.followed]
    ctx.expect(
        "every page after the first was fetched through a Link URL",
        len(lists) > 1 and not guessed,
        f"{len(lists)} list requests, {len(guessed)} not from a Link header"
        + (
            f" (e.g. ?{'&'.join(f'{k}={v}' for k, v in guessed[0].query.items())})"
            if guessed
            else ""
        ),
        LINK_HINT if guessed else 'fetch the first page, then follow rel="next"',
    )
    try:
        printed = json.loads(out.strip().splitlines()[-1]).get("users")
    except (ValueError, IndexError, AttributeError):
        printed = None
    ids = sorted(u["id"] for u in users)
    ctx.expect(
        "the program listed every user, each once",
        isinstance(printed, list) and sorted(printed) == ids,
        f"printed {len(printed) if isinstance(printed, list) else 'no'} ids; there are {len(ids)} users "
        f"({-(-len(ids) // per_page)} pages of {per_page})",
        'print {"created": .., "users": [every user id], "renamed": ..} as the last line, '
        "with the users of every page",
    )


def judge_update(
    ctx: CheckContext,
    seen: list[Seen],
    log: list[dict],
    target: int,
    alice_name: str | None,
    final: dict,
    suffix: str,
) -> None:
    path = f"{USERS}/{target}"
    writes = [s for s in seen if s.method in ("PATCH", "PUT") and s.path == path]
    if not ctx.expect(
        f"the program updated user {target}",
        bool(writes),
        f"{len(writes)} PATCH/PUT {path}",
        "PATCH the user's name: its current name + WIRELAB_SUFFIX",
    ):
        return
    if not ctx.expect(
        "the update carried If-Match with the ETag it read",
        "if-match" in writes[0].headers,
        f"If-Match: {writes[0].headers.get('if-match', 'missing')}",
        IF_MATCH_HINT,
    ):
        return
    logged = [
        e for e in log if e.get("path") == path and e.get("method") in ("PATCH", "PUT", "GET")
    ]
    statuses = [f"{e['method']} {e['status']}" for e in logged]
    refused = next((i for i, e in enumerate(logged) if e["status"] == 412), None)
    redone = (
        refused is not None
        and any(e["method"] == "GET" and e["status"] == 200 for e in logged[refused + 1 :])
        and any(
            e["method"] in ("PATCH", "PUT") and 200 <= e["status"] < 300
            for e in logged[refused + 1 :]
        )
    )
    ctx.expect(
        "after the 412, it read the user again and the retried update succeeded",
        redone,
        f"restapi logged for {path}: {', '.join(statuses)}",
        RETRY_HINT,
    )
    wanted = f"{alice_name}{suffix}"
    ctx.expect(
        "the final name keeps the other client's change and adds yours",
        final.get("name") == wanted,
        f"the name is {final.get('name')!r}, expected {wanted!r}",
        RETRY_HINT if final.get("name") == alice_name else IF_MATCH_HINT,
    )
