"""Read an exercise's ``check.yaml``.

The file is a scenario in the engine's format (``lab run`` accepts it). Its ``vars``
name the judge (a module in ``lab.exercise.checks``) and the judge's parameters (toxic
sizes, time bounds, counts), so the numbers a check uses live in one readable place.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import yaml

from lab.exercise.catalog import Exercise


class CheckFileError(ValueError):
    pass


@dataclass
class CheckSpec:
    judge: str
    params: dict[str, object] = field(default_factory=dict)
    lesson: str = ""


def load_check_file(exercise: Exercise) -> CheckSpec:
    path = exercise.check_file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CheckFileError(
            f"exercise {exercise.number} has no readable check.yaml ({exc.strerror})"
        ) from None
    except yaml.YAMLError as exc:
        raise CheckFileError(f"{path}: not valid YAML ({exc})") from None
    variables = data.get("vars") if isinstance(data, dict) else None
    if not isinstance(variables, dict) or not isinstance(variables.get("judge"), str):
        raise CheckFileError(f"{path}: `vars.judge` must name a module in lab.exercise.checks")
    judge = variables["judge"]
    if importlib.util.find_spec(f"lab.exercise.checks.{judge}") is None:
        raise CheckFileError(f"{path}: judge {judge!r} is not a module in lab/exercise/checks/")
    params = {k: v for k, v in variables.items() if k not in ("judge", "program")}
    return CheckSpec(judge=judge, params=params, lesson=str(data.get("lesson", "")))
