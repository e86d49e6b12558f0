"""The CLI's words for a dirty lab: what `lab status` lists, what `lab up`/`lab run` repaired."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from lab.backends.base import Backend
from lab.repair import repair

err = Console(stderr=True)


def print_leftovers(dirty: list[str]) -> None:
    if dirty:
        err.print(
            "[yellow]the lab is dirty:[/] "
            + escape("; ".join(dirty))
            + " (`lab run` or `lab up` repairs it)",
            highlight=False,
            soft_wrap=True,
        )


def report_repairs(backend: Backend) -> list[str]:
    """Repair what a killed run left behind and say what was repaired (BackendError: why not)."""
    done = repair(backend)
    if done:
        err.print(
            "[yellow]repaired:[/] " + escape("; ".join(done)), highlight=False, soft_wrap=True
        )
    return done
