"""`lab exercise ...`: workshop exercises for students (list, show, start, check) and for
instructors (check --all over a folder of submissions, with CSV and JUnit reports)."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from lab.backends import BackendError
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


def _hand_env(ex: Exercise) -> tuple[dict[str, str], str]:
    """The check's environment for this lab, or why there is none."""
    from lab.exercise import evidence, hand_run

    try:
        return hand_run.hand_env(ex), ""
    except evidence.LabUnavailable as exc:
        return {}, str(exc)


def _plain(text: str, style: str = "") -> None:
    """A command line: never wrapped by rich, so copy and paste gets it whole."""
    console.print(text, style=style or None, soft_wrap=True, markup=False, highlight=False)


@exercise_app.command("show")
def show(number: Annotated[str, typer.Argument(help="exercise number")]) -> None:
    """Print an exercise's task, with this lab's addresses and how to run your file by hand."""
    from lab.exercise import hand_run

    ex = _exercise(number)
    try:
        text = ex.readme.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {ex.readme}: {exc.strerror}") from None
    for is_code, piece in hand_run.split_code_blocks(hand_run.fill_placeholders(text)):
        if is_code:
            console.print()
            for line in textwrap.dedent(piece).splitlines():
                _plain(f"    {line}", "cyan")
            console.print()
        else:
            console.print(Markdown(piece))
    env, problem = _hand_env(ex)
    console.print("\n[bold]Run your program by hand against this lab:[/]", highlight=False)
    _plain(f"  lab exercise run {ex.number} {ex.working_name}", "cyan")
    if env:
        console.print("[bold]or set the same environment yourself:[/]", highlight=False)
        _plain(f"  {hand_run.command_line(env, ex.working_name)}", "cyan")
    elif problem:
        console.print(f"[dim](the lab's addresses are unknown: {escape(problem)})[/]")


@exercise_app.command("run")
def run(
    number: Annotated[str, typer.Argument(help="exercise number")],
    file: Annotated[
        Path | None, typer.Argument(help="your program (default: the file `start` wrote)")
    ] = None,
) -> None:
    """Run your program once against this lab, with the environment its check gives it."""
    from lab.exercise import hand_run

    ex = _exercise(number)
    program = file or _default_file(ex)
    if not program.is_file():
        raise fail(f"no file to run: {program} does not exist (lab exercise start {ex.number})")
    env, problem = _hand_env(ex)
    if problem:
        raise fail(problem)
    err.print(
        f"running {hand_run.command_line(env, str(program))}",
        soft_wrap=True,
        markup=False,
        highlight=False,
        style="dim",
    )
    if "WIRELAB_LISTEN_PORT" in env:
        where = f"{env['WIRELAB_LISTEN_HOST']}:{env['WIRELAB_LISTEN_PORT']}"
        err.print(
            f"it should listen on {where}: try curl -i http://{where}/nope (Ctrl-C stops it)",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    raise typer.Exit(hand_run.run_by_hand(program, env))


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
    folder: Path | None,
    only: list[int],
    junit: Path | None,
    csv_file: Path | None,
    jobs: int,
    time_limit: float | None,
    html: Path | None = None,
) -> bool:
    from lab.exercise import grading, grading_pool

    exercises = [e for e in all_exercises() if not only or e.number in only]
    if not exercises:
        raise fail(f"no exercises match --only {only}")
    if folder is None:
        # An instructor's CI: every reference solution must pass against this lab.
        folders, items = ["solutions"], [("solutions", ex, ex.solution) for ex in exercises]
    else:
        if not folder.is_dir():
            raise fail(f"{folder} is not a folder (it should hold one subfolder per student)")
        students = grading.student_folders(folder)
        if not students:
            raise fail(f"{folder} has no student subfolders")
        folders = [s.name for s in students]
        items = [(s.name, ex, grading.find_submission(s, ex)) for s in students for ex in exercises]
    if jobs > 1:
        console.print(
            f"grading on {jobs} labs of its own (starting them takes a little while)...",
            highlight=False,
        )
        try:
            results = grading_pool.grade_parallel(items, jobs, time_limit, _line)
        except BackendError as exc:
            raise fail(str(exc)) from None
    else:
        results = {}
        for student, ex, program in items:
            result = (
                grading.missing_result(ex)
                if program is None
                else grading.grade_one(ex, program, time_limit)
            )
            results[(student, ex.number)] = result
            _line(student, ex, result)
    grades = []
    for student in folders:
        grade = grading.StudentGrade(student)
        grade.results = {ex.number: results[(student, ex.number)] for ex in exercises}
        grades.append(grade)
    table = Table(title="grades")
    for col in ("student", "passed", "failed", "not passed"):
        table.add_column(col, overflow="fold")
    for grade in grades:
        missed = ", ".join(
            f"{n:02d} {grade.status(n)}" for n, r in grade.results.items() if not r.passed
        )
        table.add_row(escape(grade.student), str(grade.passed), str(grade.failed), missed)
    console.print(table)
    if csv_file is not None:
        grading.write_csv(csv_file, grades, exercises)
        console.print(f"CSV written to {escape(str(csv_file))}")
    if junit is not None:
        grading.write_junit(junit, grades, exercises)
        console.print(f"JUnit XML written to {escape(str(junit))}")
    if html is not None:
        from lab.console.reports import grades_report

        grades_report(html, grades, exercises)
        console.print(f"HTML report written to {escape(str(html))}")
    return all(g.failed == 0 for g in grades)


_MARKS = {"pass": "green", "fail": "red", "crash": "red", "timeout": "yellow", "missing": "dim"}


def _line(student: str, ex: Exercise, result: CheckResult) -> None:
    """One line per graded exercise; what went wrong on its own line, folded at spaces."""
    from lab.exercise.grading import verdict

    word = verdict(result)
    console.print(
        f"  {escape(student)} / {ex.number:02d} [{_MARKS[word]}]{word}[/]"
        f" [dim]({result.duration:.1f} s)[/]",
        highlight=False,
    )
    if not result.passed:
        first_line = (result.summary().splitlines() or [""])[0]
        console.print(Padding(Text(first_line), (0, 0, 0, 6)), highlight=False, overflow="fold")


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
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="with --all: grade in parallel on N labs of its own (local backend)",
        ),
    ] = 1,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=1,
            help="with --all: seconds a program may run per exercise; then it is stopped and graded timeout",
        ),
    ] = 30.0,
    html: Annotated[
        Path | None, typer.Option("--html", help="write a self-contained HTML roster (with --all)")
    ] = None,
) -> None:
    """Run an exercise's check against your program: every expectation, what was seen, a hint.

    Exit code 0: passed; 1: not yet; 2: the check could not run (lab down, no such file).
    """
    if all_:
        if file is not None:
            raise fail("with --all, give only the submissions folder")
        with _interrupts_end_programs():
            ok = _check_all(
                Path(number) if number else None, only, junit, csv_file, jobs, time_limit, html
            )
        raise typer.Exit(0 if ok else 1)
    if junit or csv_file or only or html or jobs != 1:
        raise fail("--junit, --csv, --html, --only and --jobs go with --all")
    if number is None:
        raise fail("which exercise? lab exercise check N [FILE] (lab exercise list shows them)")
    with _interrupts_end_programs():
        result = _check_one(_exercise(number), file)
    if result.error and not result.crashed:
        raise typer.Exit(2)
    raise typer.Exit(0 if result.passed else 1)
