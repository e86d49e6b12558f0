"""Live progress and the final report in the terminal (rich).

While running: a spinner line naming the scenario and the step. After each scenario:
one line with its result. At the end: a table (scenario, result, duration, the failing
expectation with what was expected and what was seen), then each scenario's lesson.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from lab.scenario.engine import ScenarioResult, StepRecord
from lab.scenario.model import Scenario, Step

STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "red",
    "interrupted": "yellow",
    "skipped": "yellow",
}
MARK = {"passed": "✔", "failed": "✘", "error": "!", "interrupted": "⏹", "skipped": "–"}


class RichProgress:
    def __init__(self, console: Console | None = None, verbose: bool = False):
        self.console = console or Console()
        self.verbose = verbose
        self._status: Status | None = None
        self._lock = threading.Lock()
        self._label = ""
        # Called before an interrupted scenario's line (which says it rolled back) is out.
        self.before_interrupted_line: Callable[[], None] | None = None

    def _update(self, text: str) -> None:
        with self._lock:
            if self._status is None:
                self._status = self.console.status(text, spinner="dots")
                self._status.start()
            else:
                self._status.update(text)

    def stop(self) -> None:
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None

    # -- Listener ----------------------------------------------------------------------
    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None:
        self._label = f"[{index}/{total}] [bold]{escape(scenario.name)}[/]"
        self._update(self._label)

    def step_started(self, scenario: Scenario, step: Step) -> None:
        self._update(f"{self._label} › {escape(step.phase)}: {escape(step.name)}")

    def step_finished(self, scenario: Scenario, record: StepRecord) -> None:
        if self.verbose:
            self.console.print(
                f"    [{STYLE.get(record.status, 'white')}]{MARK.get(record.status, '?')}[/] "
                f"{escape(record.step.name)} ({record.duration:.2f}s)"
            )

    def rolling_back(self, scenario: Scenario) -> None:
        self._update(f"{self._label} › rollback")

    def scenario_finished(self, result: ScenarioResult) -> None:
        self.stop()
        if result.status == "interrupted" and self.before_interrupted_line is not None:
            self.before_interrupted_line()
        style = STYLE.get(result.status, "white")
        detail = ""
        if result.status != "passed":
            detail = f" — {escape(result.failure_line())}"
        self.console.print(
            f"[{style}]{MARK.get(result.status, '?')} {result.status:<11}[/] {escape(result.scenario.name)} "
            f"[dim]({result.duration:.2f}s)[/]{detail}"
        )


# Where a result's probes ran ("host", "lab network"), for a report column; None: no column.
RanIn = Callable[[ScenarioResult], str] | None


def summary_table(results: list[ScenarioResult], ran_in: RanIn = None) -> Table:
    table = Table(title="scenario results", show_lines=False)
    table.add_column("scenario")
    table.add_column("result")
    if ran_in:
        table.add_column("ran in", no_wrap=True)
    table.add_column("duration", justify="right")
    table.add_column("failing expectation (expected vs actual)", overflow="fold")
    for r in results:
        name = r.scenario.name + (f" #{r.iteration}" if r.iteration > 1 else "")
        style = STYLE.get(r.status, "white")
        detail = "" if r.status == "passed" else r.failure_line()
        where = [ran_in(r)] if ran_in else []
        table.add_row(
            escape(name), f"[{style}]{r.status}[/]", *where, f"{r.duration:.2f}s", escape(detail)
        )
    return table


def repeat_table(results: list[ScenarioResult], ran_in: RanIn = None) -> Table:
    """With --repeat: one row per scenario, how many runs passed, the slowest, the first miss."""
    table = Table(title=f"scenario results over {max(r.iteration for r in results)} runs")
    for col, justify in (("scenario", "left"), ("passed", "right"), ("slowest", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    if ran_in:
        table.add_column("ran in", no_wrap=True)
    table.add_column("first failure (run: expected vs actual)", overflow="fold")
    by_name: dict[str, list[ScenarioResult]] = {}
    for r in results:
        by_name.setdefault(r.scenario.name, []).append(r)
    for name, runs in by_name.items():
        ok = [r for r in runs if r.status in ("passed", "skipped")]
        bad = [r for r in runs if r.status not in ("passed", "skipped")]
        style = "green" if not bad else "red"
        label = "skipped" if all(r.status == "skipped" for r in runs) else f"{len(ok)}/{len(runs)}"
        first = f"#{bad[0].iteration}: {bad[0].failure_line()}" if bad else ""
        slowest = max(r.duration for r in runs)
        where = [ran_in(runs[0])] if ran_in else []
        table.add_row(
            escape(name), f"[{style}]{label}[/]", f"{slowest:.2f}s", *where, escape(first)
        )
    return table


def print_report(console: Console, results: list[ScenarioResult], ran_in: RanIn = None) -> None:
    if not results:
        return
    repeated = any(r.iteration > 1 for r in results)
    console.print(repeat_table(results, ran_in) if repeated else summary_table(results, ran_in))
    seen: set[str] = set()
    for r in results:
        if r.scenario.name in seen or r.status == "skipped":
            continue
        seen.add(r.scenario.name)
        console.print(f"[bold]{escape(r.scenario.name)}[/]: {escape(r.scenario.lesson)}")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    total = sum(r.duration for r in results)
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    console.print(f"{len(results)} scenario run(s): {parts} in {total:.1f}s")
