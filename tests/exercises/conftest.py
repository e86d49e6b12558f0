"""Fixtures for the exercise tests: the session lab, seen afresh by the exercise checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.context import forget_shared_backend

WRONG = Path(__file__).parent / "wrong"


@pytest.fixture
def lab(local_lab) -> Iterator[object]:
    """The whole lab (tests/conftest.py's session fixture), with the checks' address cache
    cleared so they resolve this lab's ports, not those of a lab left running elsewhere."""
    forget_shared_backend()
    yield local_lab
    forget_shared_backend()
