"""`lab class grade DIR`: each student's submissions checked against their own lab.

DIR holds one folder per student (``DIR/<name>/NN*.py``, as `lab exercise check --all`
expects). Each student is graded by a `lab exercise check --all` process running with
that student's lab environment, several students at once: the verdicts (pass, fail,
crash, missing...) are the exercise grader's own, read back from the CSV it writes.
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lab.classroom.hosting import backend_for, lab_command, lab_env
from lab.classroom.registry import ClassLab
from services.common.paths import REPO_ROOT


@dataclass
class ClassGrade:
    student: str
    verdicts: dict[str, str] = field(default_factory=dict)  # "ex01" -> "pass"
    error: str = ""  # the grading itself could not run (no lab, a crash of the grader)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for v in self.verdicts.values() if v == "pass")

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.verdicts) and self.passed == len(self.verdicts)


def _grade_one(lab: ClassLab, folder: Path, only: list[int], timeout: float) -> ClassGrade:
    t0 = time.monotonic()
    grade = ClassGrade(lab.name)
    # A lab that is down would fail every check: that is the lab's fault, not the student's.
    unwell = [f"{s.service} {s.state}" for s in backend_for(lab).status() if s.state != "healthy"]
    if unwell:
        grade.error = f"this student's lab is not healthy ({', '.join(unwell)}): `lab class up`"
        return grade
    with tempfile.TemporaryDirectory(prefix=f"wirelab-grade-{lab.name}-") as tmp:
        root = Path(tmp) / "room"
        root.mkdir()
        (root / lab.name).symlink_to(folder.resolve(), target_is_directory=True)
        out = Path(tmp) / "grades.csv"
        args = ["exercise", "check", "--all", str(root), "--csv", str(out)]
        for number in only:
            args += ["--only", str(number)]
        log = Path(lab.state_dir) / "class-grade.log"
        with open(log, "wb") as fh:
            try:
                proc = subprocess.run(
                    lab_command(*args), env=lab_env(lab), stdout=fh, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), timeout=timeout,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                grade.error = f"grading took over {timeout:.0f} s (log: {log})"
                return grade
        if not out.exists():
            tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            grade.error = f"exit {proc.returncode}: {' '.join(tail[-2:])} (log: {log})"
            return grade
        with out.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                grade.verdicts = {k: v for k, v in row.items() if k.startswith("ex")}
    grade.seconds = time.monotonic() - t0
    return grade


def grade_class(
    labs: list[ClassLab],
    submissions: Path,
    only: list[int] | None = None,
    jobs: int = 4,
    timeout: float = 900.0,
    on_grade: Callable[[ClassGrade], None] | None = None,
) -> list[ClassGrade]:
    """One grade per student folder in ``submissions``; a folder with no lab is an error row."""
    by_name = {lab.name: lab for lab in labs}
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))

    def one(folder: Path) -> ClassGrade:
        lab = by_name.get(folder.name)
        if lab is None:
            grade = ClassGrade(folder.name, error="no lab of that name in this class")
        else:
            grade = _grade_one(lab, folder, list(only or []), timeout)
        if on_grade is not None:
            on_grade(grade)
        return grade

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, folders))


def write_class_csv(path: Path, grades: list[ClassGrade]) -> None:
    columns = sorted({k for g in grades for k in g.verdicts})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "passed", "total", *columns, "error"])
        for g in grades:
            writer.writerow(
                [g.student, g.passed, len(g.verdicts), *(g.verdicts.get(c, "-") for c in columns),
                 g.error]
            )  # fmt: skip
