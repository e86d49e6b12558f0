"""A small JSON path: enough to point at a field in an API answer or a request log.

Grammar: ``$`` then any of ``.name``, ``["name"]``, ``[3]``, ``[-1]``, ``[*]`` and
filters ``[?field==value]`` / ``[?field!=value]`` / ``[?field>=value]`` (also ``<``, ``>``,
``<=``; ``field`` may be dotted). A wildcard or filter turns the result into a list, and
later segments apply to each element. ``$.items[?status==429]`` with a ``length``
matcher counts the 429s in a request log.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

import yaml

MISSING = object()

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_FILTER = re.compile(r"\?\s*@?\.?([A-Za-z0-9_.\-]+)\s*(==|!=|>=|<=|>|<)\s*(.+)")
_NAME = re.compile(r"[A-Za-z0-9_\-]+")


class JsonPathError(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    kind: str  # key | index | all | filter
    key: Any = None
    op: str = ""
    value: Any = None


def parse(path: str) -> list[Segment]:
    text = path.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"a JSON path starts with '$', got {path!r}")
    i, segments = 1, []
    while i < len(text):
        ch = text[i]
        if ch == ".":
            match = _NAME.match(text, i + 1)
            if not match:
                raise JsonPathError(
                    f"expected a field name after '.' at column {i + 2} of {path!r}"
                )
            segments.append(Segment("key", match.group(0)))
            i = match.end()
        elif ch == "[":
            end = _closing_bracket(text, i, path)
            inner = text[i + 1 : end].strip()
            segments.append(_bracket(inner, path))
            i = end + 1
        else:
            raise JsonPathError(
                f"unexpected {ch!r} at column {i + 1} of {path!r}: use .name or [..]"
            )
    return segments


def _closing_bracket(text: str, start: int, path: str) -> int:
    quote = None
    for j in range(start + 1, len(text)):
        c = text[j]
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "]":
            return j
    raise JsonPathError(f"unclosed '[' in {path!r}")


def _bracket(inner: str, path: str) -> Segment:
    if inner == "*":
        return Segment("all")
    if re.fullmatch(r"-?\d+", inner):
        return Segment("index", int(inner))
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
        return Segment("key", inner[1:-1])
    match = _FILTER.fullmatch(inner)
    if match:
        field, op, raw = match.groups()
        raw = raw.strip()
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        return Segment("filter", field, op, value)
    raise JsonPathError(
        f"cannot read [{inner}] in {path!r}: use [N], [*], ['name'] or [?field==value]"
    )


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, MISSING)
    if isinstance(obj, list) and isinstance(key, int):
        return obj[key] if -len(obj) <= key < len(obj) else MISSING
    return MISSING


def _dotted(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = _get(obj, int(part) if part.lstrip("-").isdigit() and isinstance(obj, list) else part)
        if obj is MISSING:
            return MISSING
    return obj


def _matches(item: Any, seg: Segment) -> bool:
    actual = _dotted(item, seg.key)
    if actual is MISSING:
        return seg.op == "!="
    try:
        return bool(_OPS[seg.op](actual, seg.value))
    except TypeError:
        return str(actual) == str(seg.value) if seg.op == "==" else seg.op == "!="


def evaluate(path: str | list[Segment], document: Any) -> Any:
    """The value at ``path``, a list after a wildcard or filter, or MISSING."""
    segments = parse(path) if isinstance(path, str) else path
    current, projected = document, False
    for seg in segments:
        if projected:
            current = [v for v in (_step(item, seg) for item in current) if v is not MISSING]
            if seg.kind in ("all", "filter"):
                current = [x for sub in current for x in sub]
            continue
        current = _step(current, seg)
        if current is MISSING:
            return MISSING
        if seg.kind in ("all", "filter"):
            projected = True
    return current


def _step(current: Any, seg: Segment) -> Any:
    if seg.kind in ("key", "index"):
        return _get(current, seg.key)
    items = list(current.values()) if isinstance(current, dict) else current
    if not isinstance(items, list):
        return MISSING
    if seg.kind == "all":
        return items
    return [item for item in items if _matches(item, seg)]
