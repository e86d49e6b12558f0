"""Grading a room through the real CLI: parallel labs, a time limit, and the `timeout` verdict.

A class of four: one passes, one fails, one crashes, one hangs for ever. With `--jobs 2`
each worker brings up a lab of its own, so no session lab is needed here.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from lab.exercise.catalog import find_exercise
from services.common.paths import REPO_ROOT
from tests.exercises.test_grading import CRASHING, lab_cli

HANGING = "import time\ntime.sleep(3600)\n"


def make_class(root: Path) -> Path:
    ex1 = find_exercise(1)
    for name in ("ada", "bob", "cyd", "dan"):
        (root / name).mkdir(parents=True)
    shutil.copy(ex1.solution, root / "ada" / "01-raw-requests.py")
    shutil.copy(ex1.starter, root / "bob" / "01.py")
    (root / "cyd" / "01-raw-requests.py").write_text(CRASHING)
    (root / "dan" / "01-raw-requests.py").write_text(HANGING)
    return root


def test_a_parallel_grading_run_tells_a_hang_from_a_fail(tmp_path: Path) -> None:
    root = make_class(tmp_path / "class")
    grades, junit = tmp_path / "grades.csv", tmp_path / "grades.xml"
    started = time.monotonic()
    done = lab_cli(
        "exercise", "check", "--all", str(root), "--only", "1", "--jobs", "2",
        "--time-limit", "4", "--csv", str(grades), "--junit", str(junit),
        cwd=tmp_path,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert grades.read_text().splitlines() == [
        "student,passed,failed,ex01",
        "ada,1,0,pass",
        "bob,0,1,fail",
        "cyd,0,1,crash",
        "dan,0,1,timeout",
    ]
    # Bounded: two labs start (slow on a loaded machine), then the hang costs its 4 s
    # limit, not the check's own 10 s; nothing waits for the 3600 s sleep.
    assert elapsed < 200, elapsed
    dan = next(s for s in ET.parse(junit).getroot().iter("testsuite") if s.get("name") == "dan")
    failure = dan.find("testcase/failure")
    assert failure is not None and failure.get("type") == "timeout"
    assert "still running" in (failure.text or "")


def test_a_hang_in_a_sequential_run_is_a_timeout_too(lab, tmp_path: Path) -> None:
    root = tmp_path / "class"
    (root / "dan").mkdir(parents=True)
    (root / "dan" / "01.py").write_text(HANGING)
    grades = tmp_path / "grades.csv"
    started = time.monotonic()
    done = lab_cli(
        "exercise", "check", "--all", str(root), "--only", "1", "--time-limit", "3",
        "--csv", str(grades), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert list(csv.reader(grades.open()))[1] == ["dan", "0", "1", "timeout"]
    assert time.monotonic() - started < 60


def test_detail_lines_are_never_cut_mid_word(tmp_path: Path, lab) -> None:
    root = tmp_path / "class"
    (root / "bob").mkdir(parents=True)
    shutil.copy(find_exercise(1).starter, root / "bob" / "01.py")
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "exercise", "check", "--all", str(root), "--only", "1"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1
    # At 80 columns the detail (a hint of 200+ characters) is folded at spaces, never cut:
    # joined again, every word of it is there, whole.
    lines = done.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    words = " ".join(done.stdout.split())
    assert (
        "a Host header, and an empty line (every line ends in \\r\\n), with sock.sendall())"
        in words
    ), done.stdout


def test_jobs_goes_with_all_only(tmp_path: Path) -> None:
    done = lab_cli("exercise", "check", "1", "x.py", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 2 and "go with --all" in done.stderr
