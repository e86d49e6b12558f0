"""The arithmetic behind the practice endpoints, free of HTTP: weighted status codes,
Range headers (RFC 9110 section 14), deterministic bytes and drip schedules."""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

MAX_CHOICES = 20


# The /status/{codes} grammar, also published as the path's pattern in /openapi.json so
# a generated client and the server agree on it exactly: CODE or CODE:WEIGHT, comma
# separated, spaces around items allowed, weights positive decimals.
_CODE = "[2-5][0-9]{2}"
_WEIGHT = r"(?:[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|[0-9]*\.[0-9]*[1-9][0-9]*)"
_ITEM = f" *{_CODE}(?::{_WEIGHT})? *"
CODES_PATTERN = f"^{_ITEM}(?:,{_ITEM}){{0,{MAX_CHOICES - 1}}}$"
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")


def parse_weighted_codes(spec: str) -> list[tuple[int, float]]:
    """``"200"`` or ``"200:3,500:1"`` -> [(200, 3.0), (500, 1.0)]; ValueError names the bad part.

    Accepts exactly the strings CODES_PATTERN matches."""
    choices: list[tuple[int, float]] = []
    parts = [p.strip(" ") for p in spec.split(",")]
    if len(parts) > MAX_CHOICES:
        raise ValueError(f"at most {MAX_CHOICES} codes, got {len(parts)}")
    for part in parts:
        code_text, sep, weight_text = part.partition(":")
        if not (len(code_text) == 3 and code_text.isascii() and code_text.isdigit()):
            raise ValueError(f"{part!r} is not CODE or CODE:WEIGHT (e.g. 200:3,500:1)")
        code = int(code_text)
        if not 200 <= code <= 599:
            raise ValueError(f"status {code} is outside 200-599 (1xx cannot be a final response)")
        weight = 1.0
        if sep:
            if not _DECIMAL.fullmatch(weight_text):
                raise ValueError(
                    f"weight of {code} must be a decimal number like 3 or 0.5, got {weight_text!r}"
                )
            weight = float(weight_text)
            if weight <= 0:
                raise ValueError(f"weight of {code} must be more than 0, got {weight_text}")
        choices.append((code, weight))
    return choices


def choose_code(choices: list[tuple[int, float]], rng: random.Random) -> int:
    codes, weights = zip(*choices, strict=True)
    return rng.choices(codes, weights=weights)[0]


def seeded_bytes(n: int, seed: int | None) -> bytes:
    rng = random.Random(seed) if seed is not None else random.Random()
    return rng.randbytes(n)


PATTERN = string.ascii_lowercase.encode()


def range_body(n: int) -> bytes:
    """abc...zabc... so any slice shows where it came from."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


class RangeNotSatisfiable(Exception):
    pass


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.first}-{self.last}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One byte range from a Range header, or None to send the whole representation.

    Syntax errors, other units and multiple ranges are ignored (RFC 9110 lets a server
    answer 200 instead); a well-formed range wholly past the end raises RangeNotSatisfiable.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_text == "":  # suffix: the last N bytes
            suffix = int(last_text)
            if suffix < 0 or not last_text.isdigit():
                return None
            if suffix == 0 or size == 0:
                raise RangeNotSatisfiable(header)
            return ByteRange(max(0, size - suffix), size - 1)
        if not first_text.isdigit() or (last_text and not last_text.isdigit()):
            return None
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if last_text and last < first:
        return None  # invalid range: ignore the header
    if first >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(first, min(last, size - 1))


def drip_chunks(numbytes: int, duration: float, max_chunks: int = 100) -> list[tuple[float, int]]:
    """(pause before, bytes) pairs spreading ``numbytes`` evenly over ``duration`` seconds."""
    if numbytes <= 0:
        return []
    chunks = min(numbytes, max_chunks)
    base, extra = divmod(numbytes, chunks)
    pause = duration / chunks
    return [(pause, base + (1 if i < extra else 0)) for i in range(chunks)]
