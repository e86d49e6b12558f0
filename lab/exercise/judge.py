"""``python -m lab.exercise.judge N PROGRAM``: run exercise N's check against PROGRAM.

This is what an exercise's ``check.yaml`` runs through the engine's ``exec`` probe; it
prints every expectation and exits 0 (passed), 1 (failed) or 2 (the check could not run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from lab.exercise.catalog import ExerciseNotFound, find_exercise
from lab.exercise.check_runner import run_check
from lab.exercise.report import print_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.exercise.judge", description=__doc__)
    parser.add_argument("exercise", help="exercise number or slug")
    parser.add_argument("program", type=Path, help="the Python file to check")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        exercise = find_exercise(args.exercise)
    except ExerciseNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_check(exercise, args.program)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_result(result, Console(), exercise.title)
    if result.error and not result.crashed:
        return 2
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
