"""Print a check's result for a student: each expectation, what was seen, and a hint."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from lab.exercise.outcome import CheckResult


def print_result(result: CheckResult, console: Console, title: str = "") -> None:
    heading = title or f"exercise {result.exercise}"
    console.print(f"[bold]{escape(heading)}[/]  ({escape(result.program)})", highlight=False)
    for outcome in result.outcomes:
        mark = "[green]PASS[/]" if outcome.passed else "[red]FAIL[/]"
        console.print(f"  {mark} {escape(outcome.name)}", highlight=False)
        if outcome.seen:
            console.print(f"       [dim]seen:[/] {escape(outcome.seen)}", highlight=False)
        if outcome.hint:
            console.print(f"       [yellow]hint:[/] {escape(outcome.hint)}", highlight=False)
    if result.error:
        console.print(f"  [red]ERROR[/] {escape(result.error)}", highlight=False)
    verdict = "[bold green]passed[/]" if result.passed else "[bold red]not yet[/]"
    if result.timed_out and not result.passed:
        verdict = "[bold yellow]timed out[/] (it was still running when it had to be stopped)"
    console.print(f"  {verdict} in {result.duration:.1f} s", highlight=False)
