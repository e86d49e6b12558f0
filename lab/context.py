"""Which backend the lab was brought up with, so every command and scenario agrees.

`lab up` records the backend name in the state folder; later commands (from any shell)
read it back. With nothing recorded, the local backend is assumed. ``shared_backend()``
resolves it once per process for code that asks many times (the exercise checks).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.backends import Backend, get_backend
from services.common.paths import state_dir

_STATE_FILE = "backend.json"
_shared: Backend | None = None


def _file() -> Path:
    return state_dir() / _STATE_FILE


def record_backend(name: str, options: dict | None = None) -> None:
    _file().write_text(json.dumps({"backend": name, "options": options or {}}))


def forget_recorded_backend() -> None:
    _file().unlink(missing_ok=True)


def recorded_backend_name() -> str | None:
    try:
        return json.loads(_file().read_text())["backend"]
    except (OSError, ValueError, KeyError):
        return None


def current_backend(default: str | None = None) -> Backend:
    """The backend named by $WIRELAB_BACKEND, else the one `lab up` recorded, else local."""
    name = os.environ.get("WIRELAB_BACKEND") or recorded_backend_name() or default or "local"
    options = {}
    try:
        options = json.loads(_file().read_text()).get("options", {})
    except (OSError, ValueError):
        pass
    return get_backend(name, **options)


def shared_backend() -> Backend:
    """``current_backend()``, resolved once per process and then reused."""
    global _shared
    if _shared is None:
        _shared = current_backend()
    return _shared


def forget_shared_backend() -> None:
    """Resolve afresh on the next call (tests start labs on other port offsets)."""
    global _shared
    _shared = None
