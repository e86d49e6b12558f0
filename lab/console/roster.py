"""An instructor's roster: one row per student, one column per exercise, a verdict per cell.

Read from what `lab exercise check --all DIR` writes (``--csv``: verdicts only; a JSON
file: verdicts with each expectation) or built from the grades of a run (the ``--html``
report). Bad input is a ``RosterError`` naming the cause, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("pass", "fail", "crash", "timeout", "missing", "-")


class RosterError(ValueError):
    """The file is not a grading CSV or JSON; the message says what is wrong."""


@dataclass
class Cell:
    verdict: str
    summary: str = ""
    outcomes: list[dict] = field(default_factory=list)  # name, passed, seen, hint


@dataclass
class StudentRow:
    student: str
    cells: dict[str, Cell] = field(default_factory=dict)  # column ("ex01") -> cell

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cells.values() if c.verdict == "pass")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "-", self.student) or "student"


@dataclass
class Roster:
    columns: list[str]
    students: list[StudentRow]
    source: str = ""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.students:
            for c in s.cells.values():
                out[c.verdict] = out.get(c.verdict, 0) + 1
        return out


def _verdict(word: str, where: str) -> str:
    word = (word or "-").strip().lower()
    if word not in VERDICTS:
        raise RosterError(
            f"{where}: unknown verdict {word!r} (expected one of {', '.join(VERDICTS)})"
        )
    return word


def from_csv(text: str, source: str = "") -> Roster:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0].strip().lower() != "student":
        raise RosterError(
            "not a grading CSV: the first line must start with 'student' "
            "(write one with `lab exercise check --all DIR --csv FILE`)"
        )
    header = [h.strip() for h in rows[0]]
    columns = [h for h in header if re.fullmatch(r"ex\d+", h)]
    if not columns:
        raise RosterError("not a grading CSV: no exercise columns (ex01, ex02, ...) in the header")
    students = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RosterError(f"line {line_no}: {len(row)} cells, the header has {len(header)}")
        values = dict(zip(header, row, strict=True))
        cells = {c: Cell(_verdict(values[c], f"line {line_no}, {c}")) for c in columns}
        students.append(StudentRow(values["student"], cells))
    return Roster(columns, students, source)


def _result_cell(result: dict[str, Any], where: str) -> Cell:
    if "verdict" in result:
        verdict = _verdict(str(result["verdict"]), where)
    elif result.get("passed"):
        verdict = "pass"
    elif str(result.get("error", "")).startswith("no file"):
        verdict = "missing"
    elif result.get("timed_out"):
        verdict = "timeout"
    else:
        verdict = "crash" if result.get("crashed") else "fail"
    outcomes = [o for o in result.get("outcomes") or [] if isinstance(o, dict)]
    summary = str(result.get("summary") or result.get("error") or "")
    if not summary:
        failed = next((o for o in outcomes if not o.get("passed")), None)
        summary = f"{failed.get('name')}: {failed.get('seen')}" if failed else ""
    return Cell(verdict, summary, outcomes)


def from_json(text: str, source: str = "") -> Roster:
    """``{"students": [{"student": ..., "results": {"1": CheckResult.to_dict(), ...}}]}``,
    or that list alone."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RosterError(f"not valid JSON: {exc}") from None
    students_data = data.get("students") if isinstance(data, dict) else data
    if not isinstance(students_data, list):
        raise RosterError('a grading JSON holds a list of students (or {"students": [...]})')
    columns: set[str] = set()
    students = []
    for i, entry in enumerate(students_data):
        if not isinstance(entry, dict) or "student" not in entry:
            raise RosterError(f"students[{i}]: an object with a 'student' name is expected")
        results = entry.get("results") or entry.get("exercises") or {}
        if isinstance(results, list):
            results = {str(r.get("exercise")): r for r in results if isinstance(r, dict)}
        if not isinstance(results, dict):
            raise RosterError(f"students[{i}].results: an object keyed by exercise is expected")
        row = StudentRow(str(entry["student"]))
        for key, result in results.items():
            column = key if str(key).startswith("ex") else f"ex{int(key):02d}"
            where = f"students[{i}] ({row.student}), {column}"
            if isinstance(result, str):
                row.cells[column] = Cell(_verdict(result, where))
            elif isinstance(result, dict):
                row.cells[column] = _result_cell(result, where)
            else:
                raise RosterError(f"{where}: a verdict or a check result is expected")
            columns.add(column)
        students.append(row)
    return Roster(sorted(columns), students, source)


def load(text: str, filename: str = "") -> Roster:
    """CSV or JSON, by the file's first character (names lie more often than contents)."""
    stripped = text.lstrip()
    if not stripped:
        raise RosterError(f"{filename or 'the file'} is empty")
    if stripped[0] in "[{":
        return from_json(text, filename)
    return from_csv(text, filename)


def from_grades(grades: list, exercises: list) -> Roster:
    """A roster from `lab.exercise.grading` results (with every expectation)."""
    columns = [f"ex{e.number:02d}" for e in exercises]
    students = []
    for grade in grades:
        row = StudentRow(grade.student)
        for e in exercises:
            result = grade.results.get(e.number)
            if result is None:
                row.cells[f"ex{e.number:02d}"] = Cell("-")
                continue
            row.cells[f"ex{e.number:02d}"] = Cell(
                grade.status(e.number),
                "" if result.passed else result.summary(),
                [o.to_dict() for o in result.outcomes],
            )
        students.append(row)
    return Roster(columns, students)
