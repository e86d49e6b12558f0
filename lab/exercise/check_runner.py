"""Run one exercise's check against one program and collect a CheckResult.

Nothing a student's file does (a syntax error, a crash, a hang) and no lab problem (a
service down) escapes as a traceback: each becomes a one-line error or a failed expectation.
Ctrl-C (KeyboardInterrupt) goes through: the program's whole tree is stopped on the way out
(program.py), and the CLI then calls ``restore_lab`` and prints ``interrupted_message``.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from lab.exercise import evidence
from lab.exercise.catalog import Exercise
from lab.exercise.checkfile import CheckFileError, load_check_file
from lab.exercise.context import CheckContext
from lab.exercise.outcome import CheckResult


def _syntax_problem(program: Path) -> str | None:
    try:
        source = program.read_bytes()
    except OSError as exc:
        return f"cannot read {program}: {exc.strerror}"
    try:
        compile(source, str(program), "exec")
    except SyntaxError as exc:
        if exc.lineno is None:  # e.g. NUL bytes: not Python source at all
            return f"{program.name} is not a Python source file ({exc.msg})"
        return f"{program.name} line {exc.lineno}: {exc.msg} (Python cannot even start it)"
    except ValueError as exc:  # e.g. NUL bytes: not a Python file at all
        return f"{program.name} is not a Python source file ({exc})"
    return None


def run_check(exercise: Exercise, program: Path, time_limit: float | None = None) -> CheckResult:
    """``time_limit``: seconds the student's program may run in all, over the whole check;
    a program still running then is stopped and the result is marked ``timed_out``."""
    started = time.monotonic()
    result = CheckResult(exercise.number, str(program))
    try:
        if not program.exists():
            result.error = f"no such file: {program}"
            return result
        if not program.is_file():
            result.error = f"{program} is a folder; give the Python file to check"
            return result
        problem = _syntax_problem(program)
        if problem:
            result.error = problem
            result.crashed = True
            return result
        try:
            spec = load_check_file(exercise)
        except CheckFileError as exc:
            result.error = str(exc)
            return result
        module = importlib.import_module(f"lab.exercise.checks.{spec.judge}")
        ctx = CheckContext(program.resolve(), params=spec.params)
        if time_limit is not None:
            ctx.deadline = started + time_limit
        try:
            module.check(ctx)
        except evidence.LabUnavailable as exc:
            result.error = f"the check could not run: {exc}"
        except Exception as exc:  # a bug in the check must not hide the student's result
            result.error = (
                f"the check itself failed ({type(exc).__name__}: {exc}); "
                "this is a lab problem, not yours: tell the instructor"
            )
        result.outcomes = ctx.outcomes
        result.crashed = ctx.crashed
        result.timed_out = ctx.timed_out
        return result
    finally:
        result.duration = time.monotonic() - started


def restore_lab() -> list[str]:
    """Remove every toxic a check left on the fault proxy (an interrupted check's own
    cleanup may itself have been cut short). Returns what it removed."""
    removed: list[str] = []
    try:
        with evidence.fault_proxy() as api:
            for name, proxy in api.proxies().items():
                for toxic in proxy.get("toxics") or []:
                    toxic_name = str(toxic.get("name", ""))
                    if toxic_name.startswith(evidence.OWN_TOXIC_PREFIX):
                        api.remove_toxic(name, toxic_name)
                        removed.append(f"toxic {toxic_name} from proxy {name}")
    except evidence.LabUnavailable:
        pass  # no fault proxy answering: nothing of ours can be on it
    return removed


def interrupted_message(removed: list[str]) -> str:
    """One line for Ctrl-C during a check: what was stopped, and how the lab stands."""
    from lab.exercise.program import take_interrupted

    stopped = take_interrupted()
    said = "stopped " + "; ".join(stopped) if stopped else "no program of yours was running"
    lab = (
        "the lab is restored (removed " + ", ".join(removed) + ")"
        if removed
        else "the lab is restored (no check toxic left)"
    )
    return f"interrupted: {said}; {lab}"
