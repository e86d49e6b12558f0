"""The JSON journal: every scenario, every step, its timings, output and expectations.

Modelled on Chaos Toolkit's journal, so a failure can be studied after the run: what was
sent, what came back, which expectation held and which did not, and what the rollback
did.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from lab.scenario.engine import ScenarioResult, StepRecord

JOURNAL_VERSION = 1


def _clean(value: Any, depth: int = 0) -> Any:
    """JSON-safe and bounded: long texts and lists are cut so a journal stays readable."""
    if depth > 12:
        return "..."
    if isinstance(value, dict):
        return {str(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_clean(v, depth + 1) for v in list(value)[:500]]
        return items + ([f"... {len(value) - 500} more"] if len(value) > 500 else [])
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value) > 8192:
        return value[:8192] + f"... [{len(value) - 8192} more characters]"
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    return repr(value)


def step_entry(record: StepRecord) -> dict:
    step = record.step
    return {
        "name": step.name,
        "phase": step.phase,
        "probe": step.kind,
        "line": step.position.line,
        "status": record.status,
        "error": record.error,
        "hint": step.hint,
        "started": _clean(record.started),
        "duration": round(record.duration, 6),
        "probe_time": round(record.probe_time, 6),
        "spec": _clean(step.spec if step.kind != "parallel" else [c.name for c in step.children]),
        "output": _clean(record.output),
        "expectations": [o.to_dict() for o in record.outcomes],
        "nested": [step_entry(child) for child in record.nested],
    }


def scenario_entry(result: ScenarioResult) -> dict:
    scenario = result.scenario
    return {
        "name": scenario.name,
        "file": str(scenario.path),
        "theme": scenario.theme,
        "tags": scenario.tags,
        "summary": scenario.summary,
        "lesson": scenario.lesson,
        "iteration": result.iteration,
        "status": result.status,
        "reason": result.reason,
        "failure": result.failure_line() if result.status in ("failed", "error") else "",
        "started": round(result.started, 6),
        "duration": round(result.duration, 6),
        "probe_time": round(result.probe_time, 6),
        "variables": _clean({k: v for k, v in scenario.variables.items()}),
        "steps": [step_entry(r) for r in result.records],
        "rollback": [a.to_dict() for a in result.rollback],
        "leftovers": result.leftovers,
    }


def journal(
    results: list[ScenarioResult], backend: str, started: float, interrupted: bool = False
) -> dict:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {
        "journal_version": JOURNAL_VERSION,
        "backend": backend,
        "started": round(started, 6),
        "ended": round(time.time(), 6),
        "duration": round(time.time() - started, 6),
        "interrupted": interrupted,
        "counts": counts,
        "passed": bool(results)
        and all(r.status in ("passed", "skipped") for r in results)
        and not interrupted,
        "scenarios": [scenario_entry(r) for r in results],
    }


def write_journal(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
