"""Validating API request bodies (sans-I/O).

Toxiproxy is written in Go, whose JSON decoder matches keys case-insensitively and
ignores unknown keys; real clients rely on both, so we do the same. Everything a client
can get wrong becomes an `ApiError` with a 4xx status and a message naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from services.faultproxy.core.addresses import AddressError, split_host_port
from services.faultproxy.core.toxic_types import DEFAULT_STREAM, STREAMS

MAX_NAME = 200


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError("bad request body: empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            f"bad request body: not UTF-8 (byte {exc.start}: {body[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        # Go rejects NaN/Infinity; so do we (they would poison toxic maths).
        return json.loads(text, parse_constant=_reject_constant)
    except ApiError:
        raise
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = (
            f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else "nested too deeply"
        )
        raise ApiError(f"bad request body: invalid JSON: {detail}") from None


def _reject_constant(name: str) -> Any:
    raise ApiError(f"bad request body: {name} is not valid JSON")


def lower_keys(obj: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ApiError(f"bad request body: {what} must be a JSON object, got {type_name(obj)}")
    return {str(k).lower(): v for k, v in obj.items()}


def type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ApiError(f"{what} must be a string, got {type_name(value)}")
    if not value:
        raise ApiError(f"missing required field: {what.split()[-1]}")
    if len(value) > MAX_NAME:
        raise ApiError(f"{what} is longer than {MAX_NAME} characters")
    bad = [c for c in value if c == "/" or ord(c) < 32 or ord(c) == 127 or c in "\u2028\u2029"]
    if bad:
        raise ApiError(f"{what} {value[:40]!r} contains {bad[0]!r}; names are used in URL paths")
    return value


def check_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ApiError(f"{what} must be true or false, got {type_name(value)}")
    return value


def check_address(value: Any, what: str) -> str:
    try:
        split_host_port(value, what)
    except AddressError as exc:
        raise ApiError(str(exc)) from None
    return value


def check_toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(f"toxicity must be a number between 0 and 1, got {type_name(value)}")
    if not 0 <= value <= 1:
        raise ApiError(f"toxicity must be between 0 and 1, got {value}")
    return float(value)


@dataclass
class ToxicInput:
    name: str | None
    type: Any
    stream: str
    toxicity: float
    attributes: Any


def parse_toxic_create(body: Any) -> ToxicInput:
    data = lower_keys(body, "a toxic")
    stream = data.get("stream", DEFAULT_STREAM)
    if stream is None or stream == "":
        stream = DEFAULT_STREAM
    if not isinstance(stream, str) or stream.lower() not in STREAMS:
        raise ApiError("stream was invalid, can be either upstream or downstream")
    if "type" not in data or data["type"] in (None, ""):
        raise ApiError("missing required field: type")
    name = data.get("name")
    name = None if name in (None, "") else check_name(name, "toxic name")
    toxicity = check_toxicity(data["toxicity"]) if data.get("toxicity") is not None else 1.0
    return ToxicInput(name, data["type"], stream.lower(), toxicity, data.get("attributes"))


def parse_toxic_update(body: Any) -> tuple[float | None, Any, dict[str, Any]]:
    """(toxicity or None to keep it, attributes or None, the other given fields)."""
    data = lower_keys(body, "a toxic")
    toxicity = check_toxicity(data["toxicity"]) if data.get("toxicity") is not None else None
    return toxicity, data.get("attributes"), data
