"""``python -m lab.exercise.grading_worker``: one parallel grader, with a lab of its own.

`lab.exercise.grading_pool` starts it with ``WIRELAB_PORT_OFFSET``, ``WIRELAB_STATE_DIR``
and ``WIRELAB_BACKEND=local`` naming a lab no one else uses (checks add toxics, change
rate limits and create orders, so two checks must never share a lab). It brings that lab
up and says ``{"ready": ...}``, then reads one task per line on stdin,
``{"exercise": N, "program": PATH, "time_limit": S}``, and writes one
``{"result": ...}`` line per task on stdout. At the end of its input, or on SIGTERM, it
takes its lab down.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TextIO

from lab.backends import BackendError
from lab.backends.local import LocalBackend
from lab.exercise.catalog import ExerciseNotFound, find_exercise
from lab.exercise.grading import grade_one
from lab.exercise.outcome import CheckResult


def _send(out: TextIO, message: dict) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _grade(task: dict) -> CheckResult:
    try:
        exercise = find_exercise(task["exercise"])
    except ExerciseNotFound as exc:
        result = CheckResult(int(task["exercise"]), str(task.get("program", "")))
        result.error = str(exc)
        return result
    return grade_one(exercise, Path(task["program"]), task.get("time_limit"))


def main() -> int:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # nothing but the protocol may reach the coordinator's pipe

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through `finally`: the lab goes down

    signal.signal(signal.SIGTERM, stop)
    backend = LocalBackend()
    try:
        try:
            backend.up(timeout=180)
        except BackendError as exc:
            _send(protocol, {"error": f"the grading lab did not start: {exc}"})
            return 2
        _send(protocol, {"ready": True, "state": str(backend.state)})
        for line in sys.stdin:
            if line.strip():
                _send(protocol, {"result": _grade(json.loads(line)).to_dict()})
        return 0
    finally:
        backend.down()


if __name__ == "__main__":
    sys.exit(main())
