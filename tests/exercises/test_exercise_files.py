"""The exercise folders, their check files and the machinery around them, without a lab."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lab.cli_exercise import exercise_app
from lab.exercise import status
from lab.exercise.catalog import ExerciseNotFound, all_exercises, find_exercise
from lab.exercise.check_runner import run_check
from lab.exercise.checkfile import load_check_file
from lab.exercise.grading import find_submission
from lab.exercise.program import run_program
from tests.exercises.conftest import WRONG

EXERCISES = all_exercises()


def test_there_are_fourteen_exercises_each_with_every_file() -> None:
    assert [e.number for e in EXERCISES] == list(range(1, 15))
    for ex in EXERCISES:
        for path in (ex.readme, ex.starter, ex.solution, ex.check_file):
            assert path.is_file(), path
        assert list(WRONG.glob(f"{ex.number:02d}_*.py")), (
            f"no wrong answer for exercise {ex.number}"
        )
        assert ex.title and not ex.title.startswith(f"{ex.number:02d}")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.path.name)
def test_check_file_is_a_valid_scenario_naming_a_judge(exercise) -> None:
    from lab.scenario.model import load_scenario

    scenario = load_scenario(exercise.check_file)
    assert scenario.steps[0].kind == "exec"
    spec = load_check_file(exercise)
    assert spec.judge.startswith(f"ex{exercise.number:02d}_")
    __import__(f"lab.exercise.checks.{spec.judge}")


@pytest.mark.parametrize(
    "path", sorted({*Path("exercises").glob("*/*.py"), *WRONG.glob("*.py")}) or [None]
)
def test_every_program_compiles(path) -> None:
    if path is None:
        pytest.skip("run from the repository root")
    compile(path.read_text(), str(path), "exec")


def test_find_exercise_by_number_slug_or_folder() -> None:
    assert find_exercise("3").slug == "framing"
    assert find_exercise("03").number == 3
    assert find_exercise("framing").number == 3
    with pytest.raises(ExerciseNotFound, match="the exercises are 1, 2"):
        find_exercise("42")


def test_a_hanging_program_is_stopped_with_its_children(tmp_path: Path) -> None:
    program = tmp_path / "hang.py"
    child = tmp_path / "child.py"
    marker = tmp_path / "child-alive"
    child.write_text(f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').close()\n")
    program.write_text(
        f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, {str(child)!r}])\ntime.sleep(60)\n"
    )
    started = time.monotonic()
    run = run_program(program, {}, timeout=1.0)
    assert run.timed_out and run.exit_code is None
    assert time.monotonic() - started < 5
    time.sleep(3.5)
    assert not marker.exists(), "the program's child outlived the check"


def test_a_crash_is_reported_with_its_exception(tmp_path: Path) -> None:
    program = tmp_path / "crash.py"
    program.write_text("def f():\n    raise ValueError('bad port')\nf()\n")
    run = run_program(program, {}, timeout=10)
    assert run.crashed and run.crash_line() == "ValueError: bad port"
    assert "crashed: ValueError: bad port" in run.describe()


def test_bad_files_get_one_clear_error_and_no_check_runs(tmp_path: Path) -> None:
    ex = find_exercise(1)
    missing = run_check(ex, tmp_path / "nope.py")
    assert not missing.passed and missing.error.startswith("no such file")
    assert "is a folder" in run_check(ex, tmp_path).error
    broken = tmp_path / "broken.py"
    broken.write_text("def main(:\n    pass\n")
    result = run_check(ex, broken)
    assert (
        result.crashed
        and "broken.py line 1" in result.error
        and "Python cannot even start it" in result.error
    )
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\x00\x01\x02")
    assert "not a Python source file" in run_check(ex, binary).error


def test_lab_down_is_an_error_not_a_traceback(tmp_path: Path, monkeypatch) -> None:
    import socket

    from lab.context import forget_shared_backend

    with socket.socket() as s:  # a port with nothing behind it
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("WIRELAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("WIRELAB_BACKEND", "local")
    monkeypatch.setenv("WIRELAB_RAWHTTP_PORT", str(dead))
    forget_shared_backend()
    try:
        ex = find_exercise(1)
        result = run_check(ex, ex.solution)
    finally:
        forget_shared_backend()
    assert not result.passed
    assert result.error.startswith("the check could not run") and "lab up" in result.error


def test_submissions_are_found_by_number(tmp_path: Path) -> None:
    ex = find_exercise(3)
    (tmp_path / "03-framing.py").write_text("")
    assert find_submission(tmp_path, ex) == tmp_path / "03-framing.py"
    other = tmp_path / "other"
    other.mkdir()
    (other / "3.py").write_text("")
    assert find_submission(other, ex) == other / "3.py"
    nested = tmp_path / "nested"
    (nested / "03-framing").mkdir(parents=True)
    (nested / "03-framing" / "client.py").write_text("")
    assert find_submission(nested, ex) == nested / "03-framing" / "client.py"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "30.py").write_text("")
    assert find_submission(tmp_path / "empty", ex) is None


def test_status_survives_and_start_again_keeps_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WIRELAB_STATE_DIR", str(tmp_path))
    assert status.state_of(4)["state"] == status.NOT_STARTED
    status.record(4, status.STARTED, "/x/04.py")
    status.record(4, status.PASSED, "/x/04.py", "all expectations passed")
    status.record(4, status.STARTED, "/x/04.py")
    assert status.state_of(4)["state"] == status.PASSED
    (tmp_path / "exercises" / "status.json").write_text("{not json")
    assert status.load() == {}  # a damaged file starts afresh instead of failing


def test_cli_start_list_show_and_bad_input(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WIRELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    work = tmp_path / "work"
    done = runner.invoke(exercise_app, ["start", "2", "--to", str(work) + "/"])
    assert done.exit_code == 0, done.output
    written = work / "02-your-own-404.py"
    assert written.read_text() == find_exercise(2).starter.read_text()
    again = runner.invoke(exercise_app, ["start", "2", "--to", str(written)])
    assert again.exit_code == 2 and "already exists" in again.output
    listing = runner.invoke(exercise_app, ["list"])
    assert (
        listing.exit_code == 0 and "started" in listing.output and "not started" in listing.output
    )
    shown = runner.invoke(exercise_app, ["show", "2"])
    assert shown.exit_code == 0 and "Your own 404" in shown.output
    unknown = runner.invoke(exercise_app, ["check", "42"])
    assert unknown.exit_code == 2 and "no exercise '42'" in unknown.output
    missing = runner.invoke(exercise_app, ["check", "1", str(tmp_path / "nope.py")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    mixed = runner.invoke(exercise_app, ["check", "1", "--csv", "x.csv"])
    assert mixed.exit_code == 2 and "go with --all" in mixed.output
    assert "Traceback" not in "".join(r.output for r in (again, unknown, missing, mixed))


def test_judge_module_runs_as_a_program(tmp_path: Path) -> None:
    """What check.yaml's exec step runs; a bad exercise number exits 2 with one line."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "lab.exercise.judge", "99", str(tmp_path / "x.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        done.returncode == 2
        and "no exercise '99'" in done.stderr
        and "Traceback" not in done.stderr
    )
