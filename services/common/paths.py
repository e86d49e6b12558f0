"""Where state lives: the lab CA, restapi's database, PID and log files."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--state-dir`` > ``$WIRELAB_STATE_DIR`` > ``<checkout>/.lab`` > ``~/.local/state/wirelab``.

    A source checkout keeps its state beside the code, so `lab status` finds it from any
    shell opened in the repo, and `git clean` removes it.
    """
    if explicit:
        path = Path(explicit)
    elif os.environ.get("WIRELAB_STATE_DIR"):
        path = Path(os.environ["WIRELAB_STATE_DIR"])
    elif (REPO_ROOT / "pyproject.toml").exists():
        path = REPO_ROOT / ".lab"
    else:
        path = Path.home() / ".local" / "state" / "wirelab"
    path.mkdir(parents=True, exist_ok=True)
    return path
