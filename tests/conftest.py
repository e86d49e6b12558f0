"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.backends.local import LocalBackend, isolated_lab  # noqa: E402


@pytest.fixture(scope="session")
def local_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """The whole lab, started once per session as real processes on a free port offset
    (see lab.backends.local.isolated_lab)."""
    with isolated_lab(tmp_path_factory.mktemp("lab-state")) as backend:
        yield backend
