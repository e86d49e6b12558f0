"""lab/ has no import circle, counting imports inside functions too."""

from __future__ import annotations

from services.common.paths import REPO_ROOT
from tests.support_imports import describe_cycles, import_cycles, import_graph


def test_no_import_circle_in_lab() -> None:
    graph = import_graph(REPO_ROOT, "lab")
    cycles = import_cycles(graph)
    assert cycles == [], describe_cycles(graph, cycles)
