"""Scenario runs started from the console: one at a time (scenarios share the lab), in a
thread, with their progress kept as a list of events the page streams (SSE), and their
journal saved in the state folder so past runs are listed after a restart."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.scenario.engine import ScenarioResult, StepRecord
from lab.scenario.model import Scenario, Step


@dataclass
class Run:
    id: str
    label: str
    total: int
    events: list[dict] = field(default_factory=list)
    done: bool = False
    journal: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, kind: str, **data: Any) -> None:
        with self.lock:
            self.events.append({"kind": kind, "time": round(time.time(), 3), **data})

    def since(self, index: int) -> list[dict]:
        with self.lock:
            return self.events[index:]


class RunListener:
    """The engine's Listener, turned into events."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None:
        self.run.emit("scenario", name=scenario.name, index=index, total=total)

    def step_started(self, scenario: Scenario, step: Step) -> None:
        self.run.emit("step", scenario=scenario.name, phase=step.phase, name=step.name)

    def step_finished(self, scenario: Scenario, record: StepRecord) -> None:
        self.run.emit(
            "step_done",
            scenario=scenario.name,
            name=record.step.name,
            status=record.status,
            duration=round(record.duration, 3),
        )

    def rolling_back(self, scenario: Scenario) -> None:
        self.run.emit("rollback", scenario=scenario.name)

    def scenario_finished(self, result: ScenarioResult) -> None:
        self.run.emit(
            "scenario_done",
            name=result.scenario.name,
            status=result.status,
            duration=round(result.duration, 3),
            failure=result.failure_line() if result.status in ("failed", "error") else "",
        )


class Runs:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.active: dict[str, Run] = {}
        self._busy = threading.Lock()

    def start(self, scenarios: list[Scenario], label: str, backend: Any, proxy_api: Any) -> Run:
        """Start a run in a thread; raises RuntimeError if one is already running."""
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("a run is in progress: wait for it to finish")
        run = Run(time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3), label, len(scenarios))
        self.active[run.id] = run
        threading.Thread(
            target=self._work, args=(run, scenarios, backend, proxy_api), daemon=True
        ).start()
        return run

    def _work(self, run: Run, scenarios: list[Scenario], backend: Any, proxy_api: Any) -> None:
        from lab.scenario.engine import Interrupted, Runner
        from lab.scenario.journal import journal, write_journal

        started = time.time()
        runner = Runner(backend, proxy_api, RunListener(run))
        interrupted = False
        try:
            try:
                results = runner.run(scenarios)
            except Interrupted as exc:
                results, interrupted = exc.results, True
            data = journal(results, backend.name, started, interrupted)
            data["label"] = run.label
            write_journal(self.folder / f"{run.id}.json", data)
            run.journal = data
            run.emit("finished", passed=data["passed"], counts=data["counts"])
        except Exception as exc:  # the page must hear about it, not wait forever
            run.emit("finished", passed=False, error=f"{type(exc).__name__}: {exc}")
        finally:
            runner.close()
            run.done = True
            self._busy.release()

    def get_journal(self, run_id: str) -> dict | None:
        run = self.active.get(run_id)
        if run is not None and run.journal is not None:
            return run.journal
        path = self.folder / f"{run_id}.json"
        if "/" in run_id or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def past(self, limit: int = 30) -> list[dict]:
        out = []
        # Newest first by the time it was written (two runs may share an id's second).
        paths = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for path in paths[::-1][:limit]:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            out.append(
                {
                    "id": path.stem,
                    "label": data.get("label", ""),
                    "passed": data.get("passed"),
                    "counts": data.get("counts", {}),
                    "started": time.strftime(
                        "%Y-%m-%d %H:%M:%S", time.localtime(data.get("started", 0))
                    ),
                    "duration": data.get("duration", 0),
                }
            )
        return out
