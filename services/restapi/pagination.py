"""Page arithmetic and the RFC 8288 ``Link`` header, with no framework in sight."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def last_page(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def link_header(base_url: str, query: list[tuple[str, str]], req: PageRequest, total: int) -> str:
    """``<url>; rel="next", ...`` keeping the caller's other query parameters."""
    others = [(k, v) for k, v in query if k not in ("page", "per_page")]
    last = last_page(total, req.per_page)

    def url(page: int) -> str:
        return base_url + "?" + urlencode([*others, ("page", page), ("per_page", req.per_page)])

    rels: list[tuple[str, int]] = []
    if req.page < last:
        rels.append(("next", req.page + 1))
    if req.page > 1:
        rels.append(("prev", min(req.page - 1, last)))
    rels += [("first", 1), ("last", last)]
    return ", ".join(f'<{url(p)}>; rel="{rel}"' for rel, p in rels)
