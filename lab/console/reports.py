"""Static HTML reports from the console's templates: one self-contained file each (inline
CSS and SVG, no script source, no network), for mail or a CI artefact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.console.rendering import write_report


def scenario_report(path: Path, journal: dict) -> None:
    """`lab run ... --html FILE`: the journal as the console's run page shows it."""
    from lab.console.views import journal_view

    write_report(path, "report_run.html", "Scenario run", journal=journal_view(journal))


def grades_report(path: Path, grades: list, exercises: list) -> None:
    """`lab exercise check --all DIR --html FILE`: the roster with every expectation."""
    from lab.console.roster import from_grades

    write_report(
        path, "report_roster.html", "Exercise grades", roster=from_grades(grades, exercises)
    )


def udp_report(path: Path, result: Any) -> None:
    """`lab udp measure --html FILE`: the figures and the charts over time."""
    from lab.console.views import udp_view

    write_report(path, "report_udp.html", "UDP measurement", udp=udp_view(result))
