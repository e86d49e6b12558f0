"""`lab run ARGS` with both Ctrl-Cs sent from inside, at exact points, so a test can hit
every moment after the rollback instead of hoping a sleep lands there:

    python -m tests.lab.scenario.ctrl_c_at {progress|closing} N ARGS...

The first Ctrl-C comes as the first step (not setup) starts. The second comes after N more
Python lines have run once the scenario's "rolled back" progress line is out (progress)
or once the closing "interrupted: the lab was rolled back" line is out (closing).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from lab import cli, cli_scenarios, interrupts
from lab.scenario.progress import RichProgress


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def ctrl_c_after_lines(n: int) -> None:
    """Ctrl-C once n more Python lines have run in this thread, in any function."""

    def tick(frame: Any, event: str, arg: Any) -> Any:
        nonlocal n
        if event == "line":
            n -= 1
            if n < 0:
                sys.settrace(None)
                ctrl_c()
        return tick

    frame = sys._getframe(1)
    while frame is not None:  # the functions already running count too
        frame.f_trace = tick
        frame = frame.f_back
    sys.settrace(tick)


def main() -> None:
    after, lines = sys.argv[1], int(sys.argv[2])
    del sys.argv[1:3]
    # argv[0] is this file, not `lab`, so lab.interrupts did not guard the start: do it here.
    interrupts.exit_on_interrupt("interrupted while starting: nothing was changed")

    step_started, scenario_finished = RichProgress.step_started, RichProgress.scenario_finished

    def first(self: RichProgress, scenario: Any, step: Any) -> None:
        step_started(self, scenario, step)
        if step.phase == "steps":
            ctrl_c()

    def second_after_progress(self: RichProgress, result: Any) -> None:
        scenario_finished(self, result)
        if result.status == "interrupted":
            ctrl_c_after_lines(lines)

    err_print = cli_scenarios.err.print

    def second_after_closing(*args: Any, **kwargs: Any) -> None:
        err_print(*args, **kwargs)
        if "interrupted: the lab was rolled back" in str(args[0]):
            ctrl_c_after_lines(lines)

    RichProgress.step_started = first  # type: ignore[method-assign]
    if after == "progress":
        RichProgress.scenario_finished = second_after_progress  # type: ignore[method-assign]
    else:
        cli_scenarios.err.print = second_after_closing  # type: ignore[method-assign]
    cli.main()


if __name__ == "__main__":
    main()
