"""Who may change the lab through the console (sans-I/O: headers in, a refusal or None out).

The console listens on 127.0.0.1, but any web page the user opens can still make their
browser send requests there. So:
- every request must name the console itself in ``Host`` (a DNS-rebinding page names its
  own domain, and must not read a console page, which carries the token);
- a state-changing request must come from the console's own origin (``Origin`` and
  ``Sec-Fetch-Site``, which browsers set and pages cannot forge) and carry the per-lab
  token in the ``X-Lab-Token`` header, which a cross-site form cannot set at all and a
  cross-origin fetch cannot set without a CORS preflight the console never grants.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

TOKEN_HEADER = "x-lab-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def load_token(folder: Path) -> str:
    """The lab's console token, created once (owner-only file) in the state folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "token"
    try:
        token = path.read_text().strip()
        if len(token) >= 32:
            return token
    except OSError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def refusal(
    method: str, headers: Mapping[str, str], token: str, hosts: frozenset[str]
) -> str | None:
    """Why this request is refused, or None. ``headers`` keys are lower-case."""
    host = headers.get("host", "")
    if host not in hosts:
        return f"Host {host!r} is not this console (open it at http://{min(hosts)})"
    if method.upper() in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is not None and origin.removeprefix("http://") not in hosts:
        return f"request from another origin refused (Origin: {origin})"
    given = headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return "missing or wrong console token (X-Lab-Token): reload the console page"
    return None
