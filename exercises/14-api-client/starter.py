"""Exercise 14: an API client for restapi with requests.Session.

The environment says where and who (`lab exercise check 14` sets these for you):
    WIRELAB_TARGET_URL=http://127.0.0.1:8000 WIRELAB_TOKEN=carol-token WIRELAB_USER_ID=3 \
    WIRELAB_NEW_NAME=Ada WIRELAB_NEW_EMAIL=ada@example.test WIRELAB_SUFFIX=" (checked)" python starter.py
Print, as the last line: {"created": ID, "users": [every user id], "renamed": "new name"}
"""

from __future__ import annotations

import json
import os
import sys

import requests

BASE = os.environ.get("WIRELAB_TARGET_URL") or sys.exit("set WIRELAB_TARGET_URL")
PER_PAGE = int(os.environ.get("WIRELAB_PER_PAGE", "3"))


def main() -> None:
    s = requests.Session()
    # TODO: every request must carry "Authorization: Bearer $WIRELAB_TOKEN" (set it on the
    #       session, not on one request).
    created = s.post(
        f"{BASE}/api/users",
        # TODO: send a JSON body (json=...), not a form.
        data={"name": os.environ["WIRELAB_NEW_NAME"], "email": os.environ["WIRELAB_NEW_EMAIL"]},
        timeout=10,
    )
    print(created.status_code, created.text[:200])
    first = s.get(f"{BASE}/api/users?per_page={PER_PAGE}", timeout=10)
    users = first.json()
    # TODO: fetch the other pages by following the Link header's rel="next" (first.links).
    # TODO: append WIRELAB_SUFFIX to the name of user WIRELAB_USER_ID with a PATCH that
    #       sends If-Match: <its ETag>; on 412 Precondition Failed, GET it again and retry.
    print(json.dumps({"created": None, "users": [u["id"] for u in users], "renamed": None}))


if __name__ == "__main__":
    main()
