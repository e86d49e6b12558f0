"""A plausible wrong answer to exercise 14: If-Match is sent, but a 412 is taken as
the end of the story: the change is never redone."""

from __future__ import annotations

import json
import os
import sys

import requests

BASE = os.environ.get("WIRELAB_TARGET_URL") or sys.exit("set WIRELAB_TARGET_URL")
PER_PAGE = int(os.environ.get("WIRELAB_PER_PAGE", "3"))


def session() -> requests.Session:
    s = requests.Session()
    # Set once on the session: every request carries it, reads included.
    s.headers["Authorization"] = f"Bearer {os.environ['WIRELAB_TOKEN']}"
    s.headers["Accept"] = "application/json"
    return s


def create_user(s: requests.Session) -> int:
    body = {
        "name": os.environ["WIRELAB_NEW_NAME"],
        "email": os.environ["WIRELAB_NEW_EMAIL"],
        "active": True,
    }
    answer = s.post(f"{BASE}/api/users", json=body, timeout=10)  # json= sets Content-Type
    answer.raise_for_status()
    return answer.json()["id"]


def all_users(s: requests.Session) -> list[dict]:
    """Follow the Link header's rel="next" until there is none: the server says where the
    next page is (requests parses the header into answer.links)."""
    users: list[dict] = []
    url: str | None = f"{BASE}/api/users?per_page={PER_PAGE}"
    while url:
        answer = s.get(url, timeout=10)
        answer.raise_for_status()
        users += answer.json()
        url = answer.links.get("next", {}).get("url")
    return users


def append_to_name(s: requests.Session, user_id: int, suffix: str, attempts: int = 5) -> str:
    """Read, change, write only if nobody changed it meanwhile (If-Match); on 412, again."""
    url = f"{BASE}/api/users/{user_id}"
    for _ in range(attempts):
        current = s.get(url, timeout=10)
        current.raise_for_status()
        name = current.json()["name"] + suffix
        answer = s.patch(
            url, json={"name": name}, headers={"If-Match": current.headers["ETag"]}, timeout=10
        )
        if answer.status_code == 412:
            return name  # the mistake: the write was refused, and nothing is retried
        return answer.json()["name"]
    raise SystemExit(f"user {user_id} kept changing: gave up after {attempts} attempts")


def main() -> None:
    with session() as s:
        created = create_user(s)
        users = all_users(s)
        renamed = append_to_name(
            s, int(os.environ["WIRELAB_USER_ID"]), os.environ["WIRELAB_SUFFIX"]
        )
    print(json.dumps({"created": created, "users": [u["id"] for u in users], "renamed": renamed}))


if __name__ == "__main__":
    main()
