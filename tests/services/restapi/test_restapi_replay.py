"""An idempotent replay is the first response again, byte for byte, with the same ETag."""

from __future__ import annotations

import httpx

from services.restapi.conditional import etag_for
from tests.services.restapi.conftest import WRITER


def test_replay_is_byte_identical_with_the_same_strong_etag(http: httpx.Client) -> None:
    headers = {**WRITER, "Idempotency-Key": "replay-bytes-1"}
    # Non-ASCII too: an escaped "\u00e9" on replay would be another byte string.
    body = {"name": "Ren\u00e9e Descartes", "email": "renee@example.org"}
    first = http.post("/api/users", json=body, headers=headers)
    replay = http.post("/api/users", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert b", " not in first.content and "Ren\u00e9e".encode() in first.content  # compact UTF-8
    assert replay.headers["etag"] == first.headers["etag"] == etag_for(first.content)
    assert not replay.headers["etag"].startswith("W/")
    assert replay.headers["content-length"] == str(len(first.content))
