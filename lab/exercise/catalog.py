"""The exercises on disk: ``exercises/NN-slug/`` folders with a README, a starter,
a solution and a check."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from services.common.paths import REPO_ROOT

FOLDER = re.compile(r"^(\d{2})-([a-z0-9-]+)$")


class ExerciseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str
    path: Path

    @property
    def readme(self) -> Path:
        return self.path / "README.md"

    @property
    def starter(self) -> Path:
        return self.path / "starter.py"

    @property
    def solution(self) -> Path:
        return self.path / "solution.py"

    @property
    def check_file(self) -> Path:
        return self.path / "check.yaml"

    @property
    def working_name(self) -> str:
        """The file name `lab exercise start` writes and a grading run looks for."""
        return f"{self.number:02d}-{self.slug}.py"

    @property
    def title(self) -> str:
        try:
            for line in self.readme.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        except OSError:
            pass
        return self.slug.replace("-", " ")


def exercises_root() -> Path:
    """``$WIRELAB_EXERCISES_DIR`` (an instructor's own set) or the checkout's ``exercises/``."""
    return Path(os.environ.get("WIRELAB_EXERCISES_DIR") or REPO_ROOT / "exercises")


def all_exercises(root: Path | None = None) -> list[Exercise]:
    root = root or exercises_root()
    found = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            match = FOLDER.match(child.name)
            if match and child.is_dir():
                found.append(Exercise(int(match.group(1)), match.group(2), child))
    return found


def find_exercise(number: int | str, root: Path | None = None) -> Exercise:
    exercises = all_exercises(root)
    text = str(number).strip()
    for ex in exercises:
        if text.isdigit() and int(text) == ex.number or text in (ex.slug, ex.path.name):
            return ex
    known = ", ".join(str(e.number) for e in exercises) or "none"
    raise ExerciseNotFound(f"no exercise {text!r}: the exercises are {known} (lab exercise list)")
