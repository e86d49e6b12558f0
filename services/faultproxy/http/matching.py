"""Which requests an HTTP toxic applies to: the ``match`` attribute (sans-I/O).

``match`` is a JSON object; every key given must hold for the request, and an empty object
(the default) matches every request::

    {"method": "GET"}                      one method, or a list: ["GET", "HEAD"]
    {"path": "/api/"}                      a path prefix, or a list of prefixes
    {"headers": {"X-Lab": "slow"}}         header value equals (name case-insensitive);
                                           null means "the header is present"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

MATCH_KEYS = ("method", "path", "headers")


# One header field of a head already checked as a whole (see `http.framing`).
HEADER_FIELD = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r]*)\r\n")


class RequestHead:
    """The parts of a request a toxic can match on (decoded as latin-1, as HTTP bytes are).

    ``headers``: (name lower-cased, value) pairs in order. The screen (`http.screen`) makes
    one per request and most toxics never look at the headers, so it may pass the raw
    field lines instead (``raw_fields``), split only when first asked for.
    """

    __slots__ = ("method", "target", "http_version", "_headers", "_raw_fields")

    def __init__(
        self,
        method: str,
        target: str,
        headers: tuple[tuple[str, str], ...] = (),
        http_version: str = "1.1",
        *,
        raw_fields: str | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self._headers = headers if raw_fields is None else None
        self._raw_fields = raw_fields

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        if self._headers is None:
            fields = HEADER_FIELD.findall(self._raw_fields or "")
            self._headers = tuple((n.lower(), v.rstrip(" \t")) for n, v in fields)
        return self._headers

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestHead):
            return NotImplemented
        mine = (self.method, self.target, self.headers, self.http_version)
        return mine == (other.method, other.target, other.headers, other.http_version)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like the dataclass was not

    def __repr__(self) -> str:
        return (
            f"RequestHead(method={self.method!r}, target={self.target!r}, "
            f"headers={self.headers!r}, http_version={self.http_version!r})"
        )

    @classmethod
    def from_h11(cls, event: h11.Request) -> RequestHead:
        return cls(
            method=event.method.decode("latin-1"),
            target=event.target.decode("latin-1"),
            headers=tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers),
            http_version=event.http_version.decode("latin-1"),
        )

    @property
    def path(self) -> str:
        """The path of origin-form (``/a?b``) and absolute-form (``http://h/a``) targets."""
        target = self.target
        if not target.startswith("/"):
            target = urlsplit(target).path or "/"
        return target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def wants_upgrade(self) -> bool:
        """An Upgrade (websocket) or CONNECT request: after it, the bytes may stop being HTTP."""
        return self.method == "CONNECT" or self.header("upgrade") is not None


@dataclass(frozen=True)
class MatchRule:
    methods: frozenset[str] | None = None
    path_prefixes: tuple[str, ...] | None = None
    headers: tuple[tuple[str, str | None], ...] = ()

    def matches(self, head: RequestHead) -> bool:
        if self.methods is not None and head.method.upper() not in self.methods:
            return False
        if self.path_prefixes is not None and not head.path.startswith(self.path_prefixes):
            return False
        for name, wanted in self.headers:
            value = head.header(name)
            if value is None or (wanted is not None and value.strip() != wanted):
                return False
        return True


class MatchError(ValueError):
    pass


def _strings(key: str, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise MatchError(f"match.{key} must be a non-empty string or a list of them, got {value!r}")
    return items


def parse_match(value: Any) -> MatchRule:
    """The rule for a ``match`` attribute, or a MatchError naming the bad part."""
    if value is None:
        return MatchRule()
    if not isinstance(value, Mapping):
        raise MatchError(f'match must be an object like {{"path": "/api/"}}, got {value!r}')
    given = {str(k).lower(): v for k, v in value.items()}
    if "header" in given and "headers" not in given:
        given["headers"] = given.pop("header")
    unknown = sorted(set(given) - set(MATCH_KEYS))
    if unknown:
        raise MatchError(
            f"match has unknown key(s) {', '.join(unknown)}; known: {', '.join(MATCH_KEYS)}"
        )
    methods = paths = None
    if "method" in given:
        methods = frozenset(m.upper() for m in _strings("method", given["method"]))
    if "path" in given:
        paths = tuple(_strings("path", given["path"]))
        if not all(p.startswith("/") for p in paths):
            raise MatchError(f"match.path prefixes start with '/', got {given['path']!r}")
    headers: list[tuple[str, str | None]] = []
    if "headers" in given:
        raw = given["headers"]
        if not isinstance(raw, Mapping):
            raise MatchError(f'match.headers must be an object like {{"X-Lab": "1"}}, got {raw!r}')
        for name, wanted in raw.items():
            if not isinstance(name, str) or not name or any(c in name for c in " :\r\n"):
                raise MatchError(f"match.headers has a bad header name {name!r}")
            if wanted is not None and not isinstance(wanted, str | int | float):
                raise MatchError(
                    f"match.headers[{name!r}] must be a string or null, got {wanted!r}"
                )
            headers.append((name.lower(), None if wanted is None else str(wanted)))
    return MatchRule(methods, paths, tuple(headers))


def match_problem(value: Any) -> str | None:
    """For the registry's Attr.check: the problem with a ``match`` value, or None."""
    try:
        parse_match(value)
    except MatchError as exc:
        return str(exc)
    return None
