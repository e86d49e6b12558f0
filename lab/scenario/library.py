"""Find scenario files and pick the ones a command line names.

``scenarios/<theme>/<file>.yaml``: a selector is a scenario name, a file stem, a theme
(folder), a tag, ``all``, or a path as ``ls scenarios/`` shows it: ``THEME/NAME`` with or
without ``.yaml`` (``scenarios/THEME/NAME.yaml`` from the repository too). A selector that matches nothing is an error with a
"did you mean", so a typo never runs zero scenarios and reports success.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.scenario.model import Scenario, load_scenario
from lab.scenario.schema import ScenarioFileError
from lab.text import did_you_mean
from services.common.paths import REPO_ROOT


class SelectionError(ValueError):
    pass


def scenarios_root() -> Path:
    """``$WIRELAB_SCENARIOS`` or the repository's ``scenarios/`` folder."""
    return Path(os.environ.get("WIRELAB_SCENARIOS") or REPO_ROOT / "scenarios")


YAML_SUFFIXES = (".yaml", ".yml")


def scenario_files(root: Path | None = None) -> list[Path]:
    root = root or scenarios_root()
    return sorted(p for p in root.glob("**/*.y*ml") if p.suffix in YAML_SUFFIXES and p.is_file())


@dataclass
class Loaded:
    scenarios: list[Scenario]
    errors: list[ScenarioFileError]


def load_all(root: Path | None = None, overrides: dict[str, Any] | None = None) -> Loaded:
    root = root or scenarios_root()
    loaded = Loaded([], [])
    for path in scenario_files(root):
        theme = path.parent.name if path.parent != root else "misc"
        try:
            loaded.scenarios.append(load_scenario(path, overrides, theme=theme))
        except ScenarioFileError as exc:
            loaded.errors.append(exc)
    names: dict[str, Path] = {}
    for scenario in loaded.scenarios:
        if scenario.name in names:
            from lab.scenario.schema import Position, Problem

            loaded.errors.append(
                ScenarioFileError(
                    [
                        Problem(
                            Position(str(scenario.path), 1, 1),
                            f"scenario name {scenario.name!r} is also used by {names[scenario.name]}",
                        )
                    ]
                )
            )
        names[scenario.name] = scenario.path
    return loaded


def load_paths(paths: list[Path], overrides: dict[str, Any] | None = None) -> Loaded:
    loaded = Loaded([], [])
    for path in paths:
        try:
            loaded.scenarios.append(load_scenario(path, overrides))
        except ScenarioFileError as exc:
            loaded.errors.append(exc)
    return loaded


def select(scenarios: list[Scenario], selectors: list[str]) -> list[Scenario]:
    """Scenarios matching any selector, in library order, each once."""
    if not selectors or "all" in selectors:
        return list(scenarios)
    chosen: list[Scenario] = []
    for selector in selectors:
        if is_path_form(selector):
            chosen += [s for s in _by_path(scenarios, selector) if s not in chosen]
            continue
        matched = [
            s for s in scenarios if selector in (s.name, s.path.stem, s.theme) or selector in s.tags
        ]
        if not matched:
            vocabulary = sorted(
                {s.name for s in scenarios}
                | {s.theme for s in scenarios}
                | {t for s in scenarios for t in s.tags}
            )
            raise SelectionError(
                f"no scenario, theme or tag named {selector!r}"
                + did_you_mean(selector, vocabulary)
                + " (see `lab scenarios`)"
            )
        chosen += [s for s in matched if s not in chosen]
    order = {id(s): i for i, s in enumerate(scenarios)}
    return sorted(chosen, key=lambda s: order[id(s)])


def is_path_form(selector: str) -> bool:
    """``timeouts/read-timeout-latency``, ``x.yaml``: a file rather than a name or a tag."""
    return "/" in selector or selector.endswith(YAML_SUFFIXES)


def _library_path(scenario: Scenario) -> str:
    return f"{scenario.theme}/{scenario.path.stem}"


def _by_path(scenarios: list[Scenario], selector: str) -> list[Scenario]:
    """The scenario a path names: its file (relative to here or absolute), or THEME/NAME
    relative to the library, ``.yaml`` optional (NAME is the file stem or the scenario's name)."""
    bare = selector
    for suffix in YAML_SUFFIXES:
        bare = bare.removesuffix(suffix)
    wanted = Path(bare)
    matched = [
        s
        for s in scenarios
        if wanted.resolve() == s.path.with_suffix("").resolve()
        or wanted.parts in ((s.theme, s.path.stem), (s.theme, s.name), (s.path.stem,))
    ]
    if not matched:
        known = sorted(_library_path(s) for s in scenarios)
        raise SelectionError(
            f"no such scenario file: {selector}"
            + did_you_mean(bare, known)
            + " (a file, or THEME/NAME as `ls scenarios/` shows it; see `lab scenarios`)"
        )
    return matched
