"""The HTTP toxic types: their attributes, checks and registration (``protocols={"tcp"}``).

Every type takes ``match`` (see `matching`) and uses ``toxicity`` as the probability that a
matching request is faulted, rolled per request. The registry's runtime object for each is
an `HttpToxicRule`: the validated attributes with ``match`` already parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.faultproxy.core.toxic_types import Attr, ToxicType, register
from services.faultproxy.http.matching import MatchRule, match_problem, parse_match

TCP = frozenset({"tcp"})
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# The proxy frames the body itself; a configured framing header would contradict it.
FRAMING_HEADERS = {"content-length", "transfer-encoding"}
# Terminal toxics answer or end the request themselves: at most one applies per request.
TERMINAL = ("http_status", "http_reset", "http_malformed")


def header_items(value: Any) -> list[tuple[str, str]]:
    """``{"Retry-After": "30"}`` or ``[["Retry-After", "30"]]`` as (name, value) pairs."""
    items = value.items() if isinstance(value, dict) else value
    out = []
    for item in items:
        if isinstance(value, list) and (not isinstance(item, list | tuple) or len(item) != 2):
            raise ValueError(f"each header must be a [name, value] pair, got {item!r}")
        name, val = item
        out.append((name, val))
    return out


def headers_problem(value: Any) -> str | None:
    if not isinstance(value, dict | list):
        return f'must be an object like {{"Retry-After": "30"}}, got {value!r}'
    try:
        items = header_items(value)
    except ValueError as exc:
        return str(exc)
    for name, val in items:
        if not isinstance(name, str) or not TOKEN.match(name):
            return f"{name!r} is not a valid header name"
        if name.lower() in FRAMING_HEADERS:
            return f"{name} is set by the proxy from the body; leave it out"
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            return f"header {name} must have a string value, got {val!r}"
        if any(c in str(val) for c in "\r\n\x00"):
            return f"header {name} value must not contain CR, LF or NUL"
    return None


# "any" attributes are checked by `attributes_problem` (the registry's per-type rule): the
# core's Attr skips its ``check`` for kind "any".
MATCH = Attr("match", "any", None, doc="which requests: method, path, headers")

ATTRS: dict[str, tuple[Attr, ...]] = {
    "http_status": (
        Attr("status", "int", 503, minimum=200, maximum=599),
        Attr("headers", "any", None, doc='{"Retry-After": "30"} or [["Retry-After", "30"]]'),
        Attr("body", "str", ""),
        MATCH,
    ),
    # stream "upstream" delays the request on its way in; "downstream" the response headers.
    "http_delay": (Attr("latency", "int", 0, minimum=0, maximum=3_600_000, doc="ms"), MATCH),
    # "reset": a TCP RST (WireMock CONNECTION_RESET_BY_PEER); "empty": close, no bytes
    # (WireMock EMPTY_RESPONSE).
    "http_reset": (Attr("mode", "str", "reset", choices=("reset", "empty")), MATCH),
    # A valid status line, then garbage, then close (WireMock MALFORMED_RESPONSE_CHUNK).
    "http_malformed": (MATCH,),
    # Headers at once, then the body in ``chunks`` slices over ``duration`` ms.
    "http_drip": (
        Attr("chunks", "int", 10, minimum=1, maximum=100_000),
        Attr("duration", "int", 1000, minimum=0, maximum=3_600_000, doc="ms"),
        MATCH,
    ),
}


def attributes_problem(values: dict[str, Any]) -> str | None:
    if values.get("headers") is not None:
        problem = headers_problem(values["headers"])
        if problem:
            return f"headers: {problem}"
    return match_problem(values.get("match"))


@dataclass(frozen=True)
class HttpToxicRule:
    kind: str
    attributes: dict[str, Any]
    match: MatchRule

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL


def register_http_toxics() -> list[ToxicType]:
    registered = []
    for kind, attrs in ATTRS.items():

        def factory(values: dict[str, Any], kind: str = kind) -> HttpToxicRule:
            return HttpToxicRule(kind, dict(values), parse_match(values.get("match")))

        registered.append(
            register(
                ToxicType(
                    name=kind,
                    protocols=TCP,
                    attrs=attrs,
                    factory=factory,
                    kind="http",
                    validate=attributes_problem,
                )
            )
        )
    return registered


HTTP_TOXIC_TYPES = register_http_toxics()
