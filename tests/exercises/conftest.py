"""Fixtures for the exercise tests: the session lab, seen afresh by the exercise checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.context import forget_shared_backend
from lab.exercise.catalog import find_exercise
from lab.exercise.check_runner import run_check
from lab.exercise.outcome import CheckResult

WRONG = Path(__file__).parent / "wrong"

_checked: dict[tuple[int, Path], CheckResult] = {}


def checked_on_local_lab(number: int, program: Path) -> CheckResult:
    """Exercise ``number``'s check of ``program`` on the session's local lab, run once per
    session: several tests assert different things of the same run, and a run of
    exercise 04 takes 12 s (it waits out the timeouts it teaches)."""
    key = (number, program.resolve())
    if key not in _checked:
        _checked[key] = run_check(find_exercise(number), program)
    return _checked[key]


@pytest.fixture
def lab(local_lab) -> Iterator[object]:
    """The whole lab (tests/conftest.py's session fixture), with the checks' address cache
    cleared so they resolve this lab's ports, not those of a lab left running elsewhere."""
    forget_shared_backend()
    yield local_lab
    forget_shared_backend()
