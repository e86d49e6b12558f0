"""Who is in the class: ``--students N`` or a roster file (sans-I/O apart from reading it).

A roster is one name per line (``#`` starts a comment), or a CSV whose header has a
``name`` column (``student``, ``login`` and ``email`` are accepted too). A name becomes a
slug (lower case, ``a-z0-9-``): it names the lab's folder, its Kubernetes namespace and
its card, so it must be safe in all three (a namespace is a DNS label: at most 63 chars).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path

NAME_COLUMNS = ("name", "student", "login", "username", "email")
MAX_SLUG = 40  # leaves room for a "wirelab-" namespace prefix within a DNS label


class RosterError(ValueError):
    """A roster that cannot be read, or names that clash; the message says which line."""


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = ascii_name.split("@")[0]  # an email: its local part
    out = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_SLUG].strip("-")
    return out


def numbered(count: int) -> list[str]:
    if count < 1:
        raise RosterError(f"--students wants a positive number, got {count}")
    width = max(2, len(str(count)))
    return [f"student{i:0{width}d}" for i in range(1, count + 1)]


def parse_roster(text: str, source: str = "roster") -> list[str]:
    """Slugs in roster order; duplicates and names with no usable letter are errors."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise RosterError(f"{source} has no names")
    raw: list[tuple[int, str]] = []
    header = next(csv.reader([lines[0]]))
    column = next((i for i, h in enumerate(header) if h.strip().lower() in NAME_COLUMNS), None)
    if len(header) > 1 or column is not None:
        if column is None:
            raise RosterError(
                f"{source}: a CSV roster needs a column named one of {', '.join(NAME_COLUMNS)}; "
                f"the header is {', '.join(header)}"
            )
        for number, row in enumerate(csv.reader(io.StringIO("\n".join(lines[1:]))), start=2):
            if column < len(row) and row[column].strip():
                raw.append((number, row[column].strip()))
    else:
        raw = [(number, ln.strip()) for number, ln in enumerate(lines, start=1)]
    names: list[str] = []
    first_line: dict[str, int] = {}
    for number, name in raw:
        s = slug(name)
        if not s:
            raise RosterError(
                f"{source} line {number}: {name!r} has no letter or digit to name a lab"
            )
        if s in first_line:
            raise RosterError(
                f"{source} line {number}: {name!r} gives the lab name {s!r}, "
                f"already taken by line {first_line[s]}"
            )
        first_line[s] = number
        names.append(s)
    if not names:
        raise RosterError(f"{source} has a header but no names")
    return names


def read_roster(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RosterError(f"cannot read roster {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RosterError(f"roster {path} is not UTF-8 text") from None
    return parse_roster(text, str(path))
