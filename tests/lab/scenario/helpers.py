"""Small helpers for the scenario engine's tests: write a scenario file, load it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from lab.scenario.model import Scenario, load_scenario


def write(tmp_path: Path, text: str, name: str = "scenario.yaml", theme: str = "tests") -> Path:
    folder = tmp_path / theme
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, overrides: dict | None = None) -> Scenario:
    return load_scenario(write(tmp_path, text), overrides)


def load_named(tmp_path: Path, name: str, body: str) -> Scenario:
    """A scenario ``name`` with a placeholder summary and lesson; ``body`` is the rest of its
    YAML (steps, teardown, faults)."""
    return load(tmp_path, f"name: {name}\nsummary: s\nlesson: l\n" + textwrap.dedent(body).lstrip())
