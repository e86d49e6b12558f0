"""Grade a folder of submissions: one subfolder per student, every exercise checked.

A student's file for exercise N is found by name: ``NN-*.py`` or ``NN.py`` in their folder
(what `lab exercise start N --to FOLDER` writes), or ``NN-*/`` holding one ``.py`` file.
A missing file fails that exercise; a crashing program fails it too, and the run goes on.
A program still running at the time limit is stopped and graded ``timeout``, apart from a
wrong answer (``fail``). `lab.exercise.grading_pool` runs the same grading in parallel.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from lab.exercise.catalog import Exercise
from lab.exercise.check_runner import run_check
from lab.exercise.outcome import CheckResult


@dataclass
class StudentGrade:
    student: str
    results: dict[int, CheckResult] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results.values() if r.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    def status(self, number: int) -> str:
        result = self.results.get(number)
        return "-" if result is None else verdict(result)


def verdict(result: CheckResult) -> str:
    """pass, fail, crash, timeout or missing: one word for a CSV cell."""
    if result.passed:
        return "pass"
    if result.error.startswith(MISSING_PREFIX):
        return "missing"
    if result.timed_out:
        return "timeout"
    return "crash" if result.crashed else "fail"


MISSING_PREFIX = "no file for exercise"


def missing_result(exercise: Exercise) -> CheckResult:
    result = CheckResult(exercise.number, "")
    result.error = f"{MISSING_PREFIX} {exercise.number} (expected {exercise.working_name})"
    return result


def grade_one(exercise: Exercise, program: Path, time_limit: float | None) -> CheckResult:
    """One submission's check; never raises (one submission must not stop the others)."""
    try:
        return run_check(exercise, program, time_limit)
    except Exception as exc:
        result = CheckResult(exercise.number, str(program))
        result.error = f"the check failed on this submission: {type(exc).__name__}: {exc}"
        return result


def find_submission(folder: Path, exercise: Exercise) -> Path | None:
    pattern = re.compile(rf"^0*{exercise.number}(?:[-_ .].*)?\.py$")
    files = sorted(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))
    if files:
        return files[0]
    for sub in sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and re.match(rf"^0*{exercise.number}(?:[-_ ].*)?$", p.name)
    ):
        inner = sorted(sub.glob("*.py"))
        if len(inner) == 1:
            return inner[0]
    return None


def student_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


OnResult = Callable[[str, Exercise, CheckResult], None]


def grade_all(
    root: Path,
    exercises: list[Exercise],
    on_result: OnResult | None = None,
    time_limit: float | None = None,
) -> list[StudentGrade]:
    """Every student's every exercise, one after the other, against the active lab."""
    grades = []
    for folder in student_folders(root):
        grade = StudentGrade(folder.name)
        for exercise in exercises:
            program = find_submission(folder, exercise)
            if program is None:
                result = missing_result(exercise)
            else:
                result = grade_one(exercise, program, time_limit)
            grade.results[exercise.number] = result
            if on_result is not None:
                on_result(folder.name, exercise, result)
        grades.append(grade)
    return grades


def write_csv(path: Path, grades: list[StudentGrade], exercises: list[Exercise]) -> None:
    """student, passed, failed, then one column per exercise (pass/fail/crash/timeout/missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "passed", "failed", *(f"ex{e.number:02d}" for e in exercises)])
        for grade in grades:
            writer.writerow(
                [
                    grade.student,
                    grade.passed,
                    grade.failed,
                    *(grade.status(e.number) for e in exercises),
                ]
            )


def write_junit(path: Path, grades: list[StudentGrade], exercises: list[Exercise]) -> None:
    """One testsuite per student, one testcase per exercise (CI systems read this)."""
    root = ET.Element("testsuites", name="wirelab exercises")
    for grade in grades:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=grade.student,
            tests=str(len(grade.results)),
            failures=str(sum(1 for r in grade.results.values() if not r.passed and not r.error)),
            errors=str(sum(1 for r in grade.results.values() if r.error)),
        )
        for exercise in exercises:
            result = grade.results.get(exercise.number)
            if result is None:
                continue
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{grade.student}",
                name=f"{exercise.number:02d}-{exercise.slug}",
                time=f"{result.duration:.3f}",
            )
            if result.passed:
                continue
            tag = "error" if result.error else "failure"
            node = ET.SubElement(case, tag, message=result.summary()[:500], type=verdict(result))
            node.text = (
                "\n".join(
                    f"{'PASS' if o.passed else 'FAIL'} {o.name}: {o.seen}"
                    + (f" (hint: {o.hint})" if o.hint else "")
                    for o in result.outcomes
                )
                or result.error
            )
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
