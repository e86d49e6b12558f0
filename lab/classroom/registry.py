"""The class on disk: ``<class dir>/class.json`` lists each lab; each lab's state folder
(``<class dir>/<name>/``) holds its PIDs, logs, restapi database and CA, as any lab's does.

The class dir defaults to ``<state dir>/class`` (``.lab/class`` in a checkout), or
``$WIRELAB_CLASS_DIR``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.classroom.port_plan import lab_ports, offsets_for
from services.common.paths import state_dir

CLASS_FILE = "class.json"

# faultproxy's token variable (lab.faultproxy_client.TOKEN_ENV; that module pulls in
# httpx, which every `lab` command would then load at start-up).
TOKEN_ENV = "WIRELAB_FAULTPROXY_TOKEN"
PROJECT_PREFIX = "wirelab-cls-"  # a docker lab's compose project: wirelab-cls-<name>
# Class labs idle most of the time: the engine's own healthchecks (every 2 s for one lab)
# would cost more CPU than the labs; `lab up` and `lab status` probe from the host instead.
CLASS_HEALTH_INTERVAL = "300s"


class ClassError(Exception):
    """No class here, an unknown student, a class already up; the message says which."""


@dataclass(frozen=True)
class ClassLab:
    name: str
    slot: int
    offset: int
    state_dir: str
    token: str
    host: str = "127.0.0.1"  # where its services listen and its card points
    backend: str = "local"

    def ports(self) -> dict[str, int]:
        return lab_ports(self.offset)

    @property
    def project(self) -> str | None:
        """The lab's compose project on the docker backend (names are slugs: a-z0-9-)."""
        return PROJECT_PREFIX + self.name if self.backend == "docker" else None

    def env(self) -> dict[str, str]:
        """What a `lab` command needs in its environment to talk to this lab, and only it."""
        env = {
            "WIRELAB_STATE_DIR": self.state_dir,
            "WIRELAB_PORT_OFFSET": str(self.offset),
            "WIRELAB_BACKEND": self.backend,
            TOKEN_ENV: self.token,
        }
        if self.project:
            env["WIRELAB_COMPOSE_PROJECT"] = self.project
            env["WIRELAB_HEALTH_INTERVAL"] = CLASS_HEALTH_INTERVAL
        return env


def default_class_dir() -> Path:
    explicit = os.environ.get("WIRELAB_CLASS_DIR")
    return Path(explicit) if explicit else state_dir() / "class"


def plan_class(
    names: list[str], class_dir: Path, first_slot: int = 0, host: str = "127.0.0.1",
    backend: str = "local",
) -> list[ClassLab]:  # fmt: skip
    """One lab per name: a slot of the port plan, a state folder, a fresh token."""
    offsets = offsets_for(len(names), first_slot)
    return [
        ClassLab(
            name=name,
            slot=first_slot + i,
            offset=offset,
            state_dir=str((class_dir / name).resolve()),
            token=secrets.token_urlsafe(18),
            host=host,
            backend=backend,
        )  # fmt: skip
        for i, (name, offset) in enumerate(zip(names, offsets, strict=True))
    ]


def save_class(class_dir: Path, labs: list[ClassLab]) -> None:
    class_dir.mkdir(parents=True, exist_ok=True)
    path = class_dir / CLASS_FILE
    tmp = path.with_suffix(".tmp")
    # The file holds every lab's token: readable by the instructor alone.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"labs": [asdict(lab) for lab in labs]}, fh, indent=2)
    tmp.replace(path)


def load_class(class_dir: Path) -> list[ClassLab]:
    path = class_dir / CLASS_FILE
    try:
        data = json.loads(path.read_text())
        return [ClassLab(**entry) for entry in data["labs"]]
    except FileNotFoundError:
        raise ClassError(f"no class in {class_dir} (start one with `lab class up`)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClassError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None


def find_lab(labs: list[ClassLab], name: str) -> ClassLab:
    for lab in labs:
        if lab.name == name:
            return lab
    from lab.text import did_you_mean

    names = [lab.name for lab in labs]
    raise ClassError(f"no student {name!r} in this class{did_you_mean(name, names)}")
