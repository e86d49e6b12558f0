"""`lab use CARD`: which lab later `lab` commands of this user talk to.

The pointer is a small JSON file in the user's config folder
(``$XDG_CONFIG_HOME/wirelab/lab.json``, else ``~/.config/wirelab/lab.json``). When the CLI
starts, ``apply()`` copies it into this process's environment: ``WIRELAB_STATE_DIR``,
``WIRELAB_PORT_OFFSET``, ``WIRELAB_BACKEND`` and ``WIRELAB_FAULTPROXY_TOKEN`` are what
`lab/context.py`, `services.ports` and the fault-proxy client already read, so every
command and every child process (services, scenario `exec` steps, a student's checked
program) sees the same lab. When the shell itself sets the state folder, the port offset
or the backend, the pointer is not applied at all (half of one lab and half of another
would be no lab).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from lab.classroom.registry import CLASS_HEALTH_INTERVAL, TOKEN_ENV

POINTER_ENV = "WIRELAB_USE_FILE"  # tests (and odd setups) move the pointer file
_CHOOSERS = ("WIRELAB_STATE_DIR", "WIRELAB_PORT_OFFSET", "WIRELAB_BACKEND")


def pointer_path() -> Path:
    explicit = os.environ.get(POINTER_ENV)
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "wirelab" / "lab.json"


def env_from_card(card: dict) -> dict[str, str]:
    env = {
        "WIRELAB_STATE_DIR": str(card["state_dir"]),
        "WIRELAB_PORT_OFFSET": str(card["port_offset"]),
        "WIRELAB_BACKEND": str(card.get("backend", "local")),
        TOKEN_ENV: str(card["faultproxy_token"]),
    }
    if card.get("compose_project"):  # a docker lab: its compose project, its idle healthchecks
        env["WIRELAB_COMPOSE_PROJECT"] = str(card["compose_project"])
        env["WIRELAB_HEALTH_INTERVAL"] = CLASS_HEALTH_INTERVAL
    return env


def write_pointer(card: dict, source: str) -> Path:
    path = pointer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:  # holds the token: the user's alone
        json.dump({"name": card.get("name", "?"), "card": source, "env": env_from_card(card)}, fh)
    path.with_suffix(".tmp").replace(path)
    return path


def read_pointer() -> dict | None:
    try:
        data = json.loads(pointer_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("env"), dict):
        return None
    return data


def clear_pointer() -> bool:
    path = pointer_path()
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def apply() -> str | None:
    """Put the pointed-at lab into os.environ; the lab's name, or None when none applies."""
    if any(os.environ.get(k) for k in _CHOOSERS):
        return None  # this shell chose a lab itself: mixing the two would name no lab
    data = read_pointer()
    if data is None:
        return None
    for key, value in data["env"].items():
        if key.startswith("WIRELAB_") and key not in os.environ:
            os.environ[key] = str(value)
    return str(data.get("name"))


def export_lines(card: dict) -> str:
    """The same settings for one shell: ``eval "$(lab use CARD --print)"``."""
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in env_from_card(card).items())
