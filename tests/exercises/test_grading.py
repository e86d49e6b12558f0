"""A grading run over a folder of three fake students: one passes, one fails, one crashes.
The run must finish, and its CSV and JUnit must say exactly that."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from lab.exercise.catalog import find_exercise
from services.common.paths import REPO_ROOT

CRASHING = 'import socket\nraise RuntimeError("my client blew up before it sent anything")\n'


def lab_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    ex1 = find_exercise(1)
    root = tmp_path / "submissions"
    (root / "ada").mkdir(parents=True)
    shutil.copy(ex1.solution, root / "ada" / "01-raw-requests.py")
    (root / "bob").mkdir()
    shutil.copy(ex1.starter, root / "bob" / "01.py")
    (root / "cyd").mkdir()
    (root / "cyd" / "01-raw-requests.py").write_text(CRASHING)
    return root


def test_grading_a_folder_gives_the_right_csv_and_junit(
    lab, submissions: Path, tmp_path: Path
) -> None:
    grades, junit = tmp_path / "grades.csv", tmp_path / "grades.xml"
    done = lab_cli(
        "exercise",
        "check",
        "--all",
        str(submissions),
        "--only",
        "1",
        "--csv",
        str(grades),
        "--junit",
        str(junit),
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # not everyone passed
    # The crashing student's traceback may be quoted; the lab's own code must not appear in one.
    assert (
        "lab/exercise/" not in done.stdout + done.stderr
        and "lab/cli" not in done.stdout + done.stderr
    )
    rows = list(csv.DictReader(grades.open()))
    assert [(r["student"], r["passed"], r["failed"], r["ex01"]) for r in rows] == [
        ("ada", "1", "0", "pass"),
        ("bob", "0", "1", "fail"),
        ("cyd", "0", "1", "crash"),
    ]
    suites = {s.get("name"): s for s in ET.parse(junit).getroot().iter("testsuite")}
    assert set(suites) == {"ada", "bob", "cyd"}
    assert suites["ada"].find("testcase/failure") is None
    assert suites["bob"].find("testcase/failure") is not None
    crash = suites["cyd"].find("testcase/failure")
    assert crash is not None and "my client blew up" in (crash.text or "")


def test_a_missing_submission_is_a_failed_exercise_not_a_stopped_run(lab, tmp_path: Path) -> None:
    root = tmp_path / "subs"
    (root / "dee").mkdir(parents=True)
    (root / "dee" / "notes.txt").write_text("I did not do it")
    grades = tmp_path / "g.csv"
    done = lab_cli(
        "exercise", "check", "--all", str(root), "--only", "1", "--csv", str(grades), cwd=tmp_path
    )
    assert done.returncode == 1
    rows = list(csv.DictReader(grades.open()))
    assert [(r["student"], r["passed"], r["failed"], r["ex01"]) for r in rows] == [
        ("dee", "0", "1", "missing")
    ]


def test_instructor_ci_mode_checks_the_reference_solutions(lab, tmp_path: Path) -> None:
    junit = tmp_path / "solutions.xml"
    done = lab_cli(
        "exercise",
        "check",
        "--all",
        "--only",
        "1",
        "--only",
        "9",
        "--junit",
        str(junit),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cases = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert cases == ["01-raw-requests", "09-tls-by-hand"]
    assert ET.parse(junit).getroot().find(".//failure") is None


@pytest.mark.parametrize(("program", "code"), [("solution.py", 0), ("starter.py", 1)])
def test_the_engine_runs_a_check_file(lab, program: str, code: int, tmp_path: Path) -> None:
    """check.yaml is a scenario: `lab run` runs it, and its verdict is the judge's."""
    ex = find_exercise(1)
    done = lab_cli("run", str(ex.check_file), "--set", f"program={ex.path / program}", cwd=tmp_path)
    assert done.returncode == code, done.stdout + done.stderr


def test_a_students_check_is_remembered_by_list(lab, tmp_path: Path) -> None:
    started = lab_cli("exercise", "start", "1", cwd=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    assert (tmp_path / "01-raw-requests.py").is_file()
    failing = lab_cli("exercise", "check", "1", cwd=tmp_path)  # the starter, as written
    assert failing.returncode == 1 and "FAIL" in failing.stdout and "hint:" in failing.stdout
    shutil.copy(find_exercise(1).solution, tmp_path / "01-raw-requests.py")
    passing = lab_cli("exercise", "check", "1", cwd=tmp_path)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    listing = lab_cli("exercise", "list", cwd=tmp_path)
    row = next(line for line in listing.stdout.splitlines() if "Raw requests" in line)
    assert "passed" in row
