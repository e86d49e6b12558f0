"""`lab exercise ...`: workshop exercises for students (list, show, start, check) and for
instructors (check --all over a folder of submissions, with CSV and JUnit reports)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from lab.exercise import status
from lab.exercise.catalog import Exercise, ExerciseNotFound, all_exercises, find_exercise
from lab.exercise.outcome import CheckResult
from lab.exercise.report import print_result

exercise_app = typer.Typer(
    help="Workshop exercises: `lab exercise list`, `show N`, `start N`, `check N`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

# Which lab endpoint each exercise's program talks to, for the "run it by hand" lines.
HAND_RUN_TARGETS = {
    1: ("rawhttp", "host_port"),
    3: ("rawhttp.line.via_proxy", "host_port"),
    4: ("rawhttp.via_proxy", "host_port"),
    5: ("restapi.via_proxy", "url"),
    6: ("restapi", "url"),
    7: ("restapi.via_proxy", "url"),
    8: ("udpstream", "host_port"),
    9: ("rawhttp.https", "host_port"),
    10: ("restapi", "ws"),
    14: ("restapi", "url"),
}


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _exercise(number: str) -> Exercise:
    try:
        return find_exercise(number)
    except ExerciseNotFound as exc:
        raise fail(str(exc)) from None


@exercise_app.command("list")
def list_exercises() -> None:
    """Every exercise, with your status: not started, started, failing or passed."""
    exercises = all_exercises()
    if not exercises:
        raise fail(
            "no exercises found (looked in exercises/ of the checkout, or $WIRELAB_EXERCISES_DIR)"
        )
    saved = status.load()
    table = Table(title="wirelab exercises")
    for col in ("#", "exercise", "status", "file", "last check"):
        table.add_column(col, overflow="fold")
    colours = {status.PASSED: "green", status.FAILING: "red", status.STARTED: "yellow"}
    for ex in exercises:
        entry = saved.get(str(ex.number), {})
        state = entry.get("state", status.NOT_STARTED)
        colour = colours.get(state, "dim")
        table.add_row(
            str(ex.number),
            escape(ex.title),
            f"[{colour}]{state}[/]",
            escape(entry.get("file", "")),
            escape(entry.get("when", "")),
        )
    console.print(table)
    console.print(
        "Start one with [bold]lab exercise start N[/], read it with [bold]lab exercise show N[/]."
    )


def hand_run_env(number: int) -> str:
    """The environment for running exercise N's program by hand against the running lab."""
    target = HAND_RUN_TARGETS.get(number)
    if target is None:
        return ""
    try:
        from lab.exercise import evidence

        host, port = evidence.address(target[0])
    except Exception:
        return ""  # the lab is not configured yet; the README's own lines still apply
    if target[1] == "url":
        return f"WIRELAB_TARGET_URL=http://{host}:{port}"
    if target[1] == "ws":
        return f"WIRELAB_TARGET_URL=ws://{host}:{port}/ws/chat"
    return f"WIRELAB_TARGET_HOST={host} WIRELAB_TARGET_PORT={port}"


@exercise_app.command("show")
def show(number: Annotated[str, typer.Argument(help="exercise number")]) -> None:
    """Print an exercise's task in the terminal."""
    ex = _exercise(number)
    try:
        text = ex.readme.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {ex.readme}: {exc.strerror}") from None
    console.print(Markdown(text))
    env = hand_run_env(ex.number)
    if env:
        console.print(
            f"\n[bold]With this lab, run your program by hand as:[/]\n  {escape(env)} python {ex.working_name}",
            highlight=False,
        )


@exercise_app.command("start")
def start(
    number: Annotated[str, typer.Argument(help="exercise number")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="a .py file, or a folder to put the file in (default: here)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Copy the exercise's starter code to a working file you can edit."""
    ex = _exercise(number)
    target = Path(to) if to else Path.cwd()
    if target.is_dir() or target.suffix != ".py":  # a folder, existing or to be made
        target = target / ex.working_name
    if target.exists() and not force:
        raise fail(f"{target} already exists; edit it, or pass --force to start over")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ex.starter, target)
    except OSError as exc:
        raise fail(f"cannot write {target}: {exc.strerror or exc}") from None
    status.record(ex.number, status.STARTED, str(target.resolve()))
    console.print(
        f"Wrote [bold]{escape(str(target))}[/]: the starter for exercise {ex.number} ({escape(ex.title)})."
    )
    console.print(f"Read the task: lab exercise show {ex.number}")
    console.print(f"Check your work: lab exercise check {ex.number} {escape(str(target))}")


def _default_file(ex: Exercise) -> Path:
    recorded = status.state_of(ex.number).get("file")
    if recorded and Path(recorded).exists():
        return Path(recorded)
    return Path.cwd() / ex.working_name


def _check_one(ex: Exercise, file: Path | None) -> CheckResult:
    from lab.exercise.check_runner import run_check

    program = file or _default_file(ex)
    if not program.exists():
        raise fail(
            f"no file to check: {program} does not exist. Start with `lab exercise start {ex.number}` "
            f"or name your file: lab exercise check {ex.number} FILE"
        )
    with console.status(f"checking exercise {ex.number} ({ex.title})..."):
        result = run_check(ex, program)
    print_result(result, console, f"exercise {ex.number}: {ex.title}")
    if not (result.error and not result.crashed):
        status.record(
            ex.number,
            status.PASSED if result.passed else status.FAILING,
            str(program.resolve()),
            result.summary(),
        )
    return result


def _check_all(
    folder: Path | None, only: list[int], junit: Path | None, csv_file: Path | None
) -> bool:
    from lab.exercise import grading
    from lab.exercise.check_runner import run_check

    exercises = [e for e in all_exercises() if not only or e.number in only]
    if not exercises:
        raise fail(f"no exercises match --only {only}")
    if folder is None:
        # An instructor's CI: every reference solution must pass against this lab.
        grade = grading.StudentGrade("solutions")
        for ex in exercises:
            result = run_check(ex, ex.solution)
            grade.results[ex.number] = result
            _line("solutions", ex, result)
        grades = [grade]
    else:
        if not folder.is_dir():
            raise fail(f"{folder} is not a folder (it should hold one subfolder per student)")
        if not grading.student_folders(folder):
            raise fail(f"{folder} has no student subfolders")
        grades = grading.grade_all(folder, exercises, _line)
    table = Table(title="grades")
    for col in ("student", "passed", "failed"):
        table.add_column(col)
    for grade in grades:
        table.add_row(escape(grade.student), str(grade.passed), str(grade.failed))
    console.print(table)
    if csv_file is not None:
        grading.write_csv(csv_file, grades, exercises)
        console.print(f"CSV written to {escape(str(csv_file))}")
    if junit is not None:
        grading.write_junit(junit, grades, exercises)
        console.print(f"JUnit XML written to {escape(str(junit))}")
    return all(g.failed == 0 for g in grades)


def _line(student: str, ex: Exercise, result: CheckResult) -> None:
    mark = (
        "[green]pass[/]"
        if result.passed
        else ("[red]crash[/]" if result.crashed else "[red]fail[/]")
    )
    first_line = (result.summary().splitlines() or [""])[0]
    detail = "" if result.passed else f": {escape(first_line[:160])}"
    console.print(f"  {escape(student)} / {ex.number:02d} {mark}{detail}", highlight=False)


@contextlib.contextmanager
def _interrupts_end_programs() -> Iterator[None]:
    """Ctrl-C: the student's program tree is stopped on the way out (program.py), then the
    lab is restored; one line says both, and the exit code is 130."""
    try:
        yield
    except KeyboardInterrupt:
        from lab.exercise.check_runner import interrupted_message, restore_lab
        from lab.scenario.rollback import signals_deferred

        line = "interrupted"
        try:
            with signals_deferred():  # a second Ctrl-C waits for the restore
                line = interrupted_message(restore_lab())
        except KeyboardInterrupt:
            pass
        err.print(escape(line), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None


@exercise_app.command("check")
def check(
    number: Annotated[
        str | None, typer.Argument(help="exercise number (with --all: the submissions folder)")
    ] = None,
    file: Annotated[
        Path | None, typer.Argument(help="your program (default: the file `start` wrote)")
    ] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="grade every exercise: of each student subfolder of a folder, or the reference solutions",
        ),
    ] = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="write JUnit XML here (with --all)")
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="write the grade table as CSV here (with --all)")
    ] = None,
    only: Annotated[
        list[int], typer.Option("--only", help="with --all: just these exercises (repeatable)")
    ] = [],  # noqa: B006
) -> None:
    """Run an exercise's check against your program: every expectation, what was seen, a hint.

    Exit code 0: passed; 1: not yet; 2: the check could not run (lab down, no such file).
    """
    if all_:
        if file is not None:
            raise fail("with --all, give only the submissions folder")
        with _interrupts_end_programs():
            ok = _check_all(Path(number) if number else None, only, junit, csv_file)
        raise typer.Exit(0 if ok else 1)
    if junit or csv_file or only:
        raise fail("--junit, --csv and --only go with --all")
    if number is None:
        raise fail("which exercise? lab exercise check N [FILE] (lab exercise list shows them)")
    with _interrupts_end_programs():
        result = _check_one(_exercise(number), file)
    if result.error and not result.crashed:
        raise typer.Exit(2)
    raise typer.Exit(0 if result.passed else 1)
