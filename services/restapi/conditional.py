"""ETags and the If-None-Match / If-Match rules of RFC 9110 section 13."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_bytes(obj: Any) -> bytes:
    """The one serialization of a resource: its ETag is the hash of exactly these bytes."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def none_match(if_none_match: str | None, etag: str) -> bool:
    """True when a GET may answer 304: weak comparison, ``*`` matches any current version."""
    if not if_none_match:
        return False
    tags = _tags(if_none_match)
    return "*" in tags or _opaque(etag) in {_opaque(t) for t in tags}


def match_fails(if_match: str | None, etag: str | None) -> bool:
    """True when a write must answer 412: strong comparison, ``*`` needs the resource to exist."""
    if if_match is None:
        return False
    tags = _tags(if_match)
    if "*" in tags:
        return etag is None
    return etag is None or etag not in [t for t in tags if not t.startswith("W/")]
