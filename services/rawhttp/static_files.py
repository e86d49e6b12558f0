"""Static files from a document root: safe path resolution, Content-Type, ETag, Range.

No sockets here: ``StaticFiles.respond(path, headers)`` returns a ``Response``. Every way
out of the root (``..``, percent-encoded dots, absolute paths, backslashes, NUL bytes,
symlinks pointing outside) ends in ``None`` (the caller's 404) and never reads the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from services.rawhttp.responses import Response

MAX_FILE: Final = 64 << 20  # larger files are not served whole from memory
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/vnd.microsoft.icon",
    ".pdf": "application/pdf",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".bin": "application/octet-stream",
}
DEFAULT_TYPE: Final = "application/octet-stream"
_RANGE_RE: Final = re.compile(r"bytes=(\d*)-(\d*)")
_HEX: Final = "0123456789abcdefABCDEF"


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), DEFAULT_TYPE)


def percent_decode(text: str) -> bytes | None:
    """``%2e`` -> ``.``; None when an escape is malformed (``%zz``, a lone ``%``)."""
    raw = text.encode("latin-1")
    if b"%" not in raw:
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # '%'
            pair = raw[i + 1 : i + 3].decode("latin-1")
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def safe_relative_parts(url_path: str) -> list[str] | None:
    """The path segments under the root, or None if the path tries to leave it."""
    decoded = percent_decode(url_path)
    if decoded is None or b"\x00" in decoded or b"\\" in decoded:
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return parts


class StaticFiles:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def resolve(self, url_path: str) -> Path | None:
        """The file to serve for ``url_path``, or None (not found or outside the root)."""
        parts = safe_relative_parts(url_path)
        if parts is None:
            return None
        candidate = self.root.joinpath(*parts)
        try:
            # resolve() follows symlinks; the answer must still be inside the root.
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.root):
            return None
        if real.is_dir():
            real = real / "index.html"
            if not real.is_file():
                return None
        elif not real.is_file():
            return None
        return real

    def respond(self, url_path: str, headers: dict[str, str]) -> Response | None:
        """A 200/206/304/416 response for ``url_path``, or None for the caller's 404."""
        path = self.resolve(url_path)
        if path is None:
            return None
        try:
            st = path.stat()
            if st.st_size > MAX_FILE:
                return None
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            base = [
                ("Content-Type", content_type(path)),
                ("ETag", etag),
                ("Accept-Ranges", "bytes"),
            ]
            if _etag_matches(headers.get("if-none-match"), etag):
                return Response(304, [("ETag", etag)])
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        range_header = headers.get("range")
        if_range = headers.get("if-range")
        if range_header is not None and (if_range is None or if_range.strip() == etag):
            return _ranged(data, range_header, base)
        return Response(200, base, data)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """One byte range -> (first, last) inclusive; ``"ignore"`` for forms we answer with
    the whole file (several ranges, other units); None when unsatisfiable (416)."""
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        return "ignore"
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        return "ignore"
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            return None
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return "ignore"  # RFC 9110 §14.1.1: an invalid range is ignored
    if first >= size:
        return None
    return first, min(last, size - 1)


def _ranged(data: bytes, header: str, base: list[tuple[str, str]]) -> Response:
    size = len(data)
    parsed = parse_range(header, size)
    if parsed == "ignore":
        return Response(200, base, data)
    if parsed is None:
        return Response(
            416,
            [("Content-Range", f"bytes */{size}"), ("Content-Type", "text/plain; charset=utf-8")],
            f"416 Range Not Satisfiable: {header!r} is outside the {size} bytes of this file\n".encode(),
        )
    assert isinstance(parsed, tuple)
    first, last = parsed
    return Response(
        206, [*base, ("Content-Range", f"bytes {first}-{last}/{size}")], data[first : last + 1]
    )


def default_docroot() -> Path:
    return Path(__file__).resolve().parent / "docroot"


def check_docroot(path: str | os.PathLike[str]) -> Path:
    """The docroot as a resolved directory, or ValueError naming what is wrong."""
    root = Path(path)
    if not root.exists():
        raise ValueError(f"document root {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"document root {str(root)!r} is not a directory")
    return root.resolve()
