"""The scenario engine: the library's wall time, and the engine's own overhead.

Rows (each beside a peer measured in the same run):
- ``lab run all`` wall time on the local backend, against the probes' own time (the
  network behaviour the scenarios exist to show: timeouts, drips, paced UDP streams);
  target: the whole library under 90 s;
- a fault-free scenario (200 GETs, no toxics): the engine's time (isolation, step
  bookkeeping, judging, rollback and its verification) against the probes' time;
  target: under 5%;
- the fixed cost per scenario (isolation + rollback + the clean-lab check), against a
  single HTTP probe.
A lab is started for the run on a free port offset with a temporary state folder, and
stopped afterwards, so a lab a person left running is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.common import row
from lab.backends.local import LocalBackend, isolated_lab

REPO = Path(__file__).resolve().parents[1]

FAULT_FREE = """
name: fault-free
summary: 200 plain GETs, no faults
lesson: the engine's own cost, measured.
steps:
  - repeat:
      count: 100
      http: {target: rawhttp, path: /healthz, timeout: 2}
    expect:
      every: {status: 200}
  - repeat:
      count: 100
      http: {target: restapi, path: /api/users/1, timeout: 2}
    expect:
      every: {status: 200}
"""

SINGLE = """
name: single
summary: one GET
lesson: the fixed cost per scenario.
steps:
  - http: {target: rawhttp, path: /healthz, timeout: 2}
    expect: {status: 200}
"""


def _row(name: str, figure: float, unit: str, peer: str, peer_figure: float) -> dict:
    return row(name, figure, unit, peer, peer_figure, digits=4)


def _engine_rows(backend: LocalBackend, tmp: Path, rounds: int) -> list[dict]:
    from lab.faultproxy_client import FaultProxyClient
    from lab.scenario.engine import Runner
    from lab.scenario.model import load_scenario

    (tmp / "bench").mkdir(exist_ok=True)
    files = {}
    for name, text in (("fault-free", FAULT_FREE), ("single", SINGLE)):
        files[name] = tmp / "bench" / f"{name}.yaml"
        files[name].write_text(textwrap.dedent(text))
    api = FaultProxyClient(backend.faultproxy_url())
    runner = Runner(backend, api)
    try:
        fault_free = [load_scenario(files["fault-free"])] * rounds
        single = [load_scenario(files["single"])] * (rounds * 4)
        results = runner.run(fault_free)
        singles = runner.run(single)
    finally:
        runner.close()
        api.close()
    bad = [r for r in results + singles if r.status != "passed"]
    if bad:
        raise RuntimeError(f"benchmark scenario failed: {bad[0].failure_line()}")
    wall = sum(r.duration for r in results)
    probes = sum(r.probe_time for r in results)
    fixed = sum(r.duration - r.probe_time for r in singles) / len(singles)
    probe_one = sum(r.probe_time for r in singles) / len(singles)
    return [
        _row(
            "engine overhead, fault-free scenario (200 GETs)",
            (wall - probes) / len(results),
            "s",
            "probes' own time",
            probes / len(results),
        ),
        _row(
            "fixed cost per scenario (isolate + rollback + verify)",
            fixed * 1000,
            "ms",
            "one HTTP probe",
            probe_one * 1000,
        ),
    ]


def _run_all(env: dict[str, str], tmp: Path, selection: list[str]) -> list[dict]:
    journal = tmp / "journal.json"
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "run", *selection, "--json", str(journal)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(
            f"lab run {' '.join(selection)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    data = json.loads(journal.read_text())
    probes = sum(s["probe_time"] for s in data["scenarios"])
    return [
        _row(
            f"lab run {' '.join(selection)} wall time ({len(data['scenarios'])} scenarios, local)",
            wall,
            "s",
            "probes' own time",
            probes,
        )
    ]


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with isolated_lab(tmp / "state") as backend:
            env = dict(os.environ)  # isolated_lab has set the lab's offset and state folder
            rows = _run_all(env, tmp, ["errors", "outages"] if quick else ["all"])
            rows += _engine_rows(backend, tmp, rounds=2 if quick else 5)
            return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
