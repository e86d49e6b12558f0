"""A correct answer to exercise 14 in another style: httpx.Client, its Link header parsed
by httpx (response.links), and a conditional update that retries on 412."""

from __future__ import annotations

import json
import os

import httpx

BASE = os.environ["WIRELAB_TARGET_URL"]
headers = {"Authorization": f"Bearer {os.environ['WIRELAB_TOKEN']}"}

with httpx.Client(base_url=BASE, headers=headers, timeout=10) as client:
    created = client.post(
        "/api/users",
        json={"name": os.environ["WIRELAB_NEW_NAME"], "email": os.environ["WIRELAB_NEW_EMAIL"]},
    )
    created.raise_for_status()
    ids: list[int] = []
    url: str | None = f"/api/users?per_page={os.environ.get('WIRELAB_PER_PAGE', '3')}"
    while url:
        page = client.get(url)
        page.raise_for_status()
        ids += [u["id"] for u in page.json()]
        url = page.links.get("next", {}).get("url")
    user = f"/api/users/{os.environ['WIRELAB_USER_ID']}"
    for _ in range(5):
        current = client.get(user)
        name = current.json()["name"] + os.environ["WIRELAB_SUFFIX"]
        done = client.put(
            user,
            json={k: current.json()[k] for k in ("email", "active")} | {"name": name},
            headers={"If-Match": current.headers["etag"]},
        )
        if done.status_code != 412:
            done.raise_for_status()
            break
    print(json.dumps({"created": created.json()["id"], "users": ids, "renamed": name}))
