"""A student's progress, kept in the state folder so `lab exercise list` works from any shell."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from services.common.paths import state_dir

NOT_STARTED, STARTED, FAILING, PASSED = "not started", "started", "failing", "passed"


def _file() -> Path:
    folder = state_dir() / "exercises"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "status.json"


def load() -> dict[str, dict]:
    try:
        data = json.loads(_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no file yet, or a damaged one: start afresh rather than fail
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, dict]) -> None:
    path = _file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a Ctrl-C never leaves half a file


def state_of(number: int) -> dict:
    return load().get(str(number), {"state": NOT_STARTED})


def record(number: int, state: str, file: str, summary: str = "") -> None:
    data = load()
    entry = data.get(str(number), {})
    if state == STARTED and entry.get("state") in (FAILING, PASSED):
        state = entry["state"]  # starting again keeps what the last check said
    entry.update(
        {
            "state": state,
            "file": file,
            "summary": summary,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    data[str(number)] = entry
    _save(data)
