"""Class mode on one host: start-up, idle cost and memory of many labs, and many labs at work.

Rows (issue 18's targets, on this 2-core, 24 GiB machine):
- `lab class up --students N` wall time until every lab is healthy (target: 30 in < 180 s),
  beside one lab's own `lab up` in the same run;
- idle CPU of N labs: the sum over every service process of utime+stime deltas
  (/proc/PID/stat) over a window, in % of one core (target: 30 labs < 25 %), beside the
  same figure for one lab times N;
- RSS per lab (the sum of its five services' VmRSS; shared pages are counted in each, so
  this over-states the real cost a little), beside the machine's MemTotal / N;
- M labs running `lab run all` at once (target: 10, every lab passes), wall time beside
  one lab running it alone.
The class lives in a temporary folder on a random stretch of the port plan, and is taken
down afterwards. `--quick`: 5 labs, a 5 s window, 3 labs at work.
Reproduce: `.venv/bin/python -m bench class` (or `--quick`). To look for where the machine
runs out: WIRELAB_BENCH_CLASS_STUDENTS=N and WIRELAB_BENCH_CLASS_AT_WORK=M.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.classroom import hosting
from lab.classroom.registry import ClassLab, plan_class, save_class
from lab.classroom.roster import numbered

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def _row(name: str, figure: float, unit: str, peer: str, peer_figure: float) -> dict:
    ratio = figure / peer_figure if peer_figure else None
    return {
        "name": name,
        "figure": round(figure, 4),
        "unit": unit,
        "peer": peer,
        "peer_figure": round(peer_figure, 4),
        "ratio": None if ratio is None else round(ratio, 4),
    }


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def idle_cpu_percent(pids: list[int], window: float) -> float:
    """% of one core that ``pids`` used together over ``window`` seconds."""
    before = {pid: _cpu_ticks(pid) for pid in pids}
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    used = sum(_cpu_ticks(pid) - before[pid] for pid in pids) / TICKS
    return 100.0 * used / elapsed


def _run_all(lab: ClassLab) -> tuple[bool, float, str]:
    """`lab run all` in the lab: passed, seconds, and the failed scenarios' names."""
    journal = Path(lab.state_dir) / "bench-run-all.json"
    t0 = time.monotonic()
    done = subprocess.run(
        hosting.lab_command("run", "all", "--json", str(journal)), env=hosting.lab_env(lab),
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    try:
        scenarios = json.loads(journal.read_text())["scenarios"]
        failed = [s["name"] for s in scenarios if s["status"] not in ("passed", "skipped")]
        why = "failed: " + ", ".join(failed)
    except (OSError, ValueError, KeyError):
        why = " ".join(done.stdout.strip().splitlines()[-1:])
    return done.returncode == 0, time.monotonic() - t0, why


def run(quick: bool) -> list[dict]:
    students = int(os.environ.get("WIRELAB_BENCH_CLASS_STUDENTS") or (5 if quick else 30))
    window = 5.0 if quick else 20.0
    at_work = int(os.environ.get("WIRELAB_BENCH_CLASS_AT_WORK") or (3 if quick else 10))
    at_work = min(at_work, students)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-class-") as tmp:
        folder = Path(tmp) / "class"
        first = random.randrange(0, 700 - students)
        labs = plan_class(numbered(students + 1), folder, first_slot=first)
        solo, klass = labs[0], labs[1:]
        save_class(folder, labs)
        try:
            one = hosting.up_one(solo, timeout=120)
            if not one.ok:
                raise RuntimeError(f"one lab did not come up: {one.detail}")
            solo_pids = list(hosting.lab_pids(solo).values())
            solo_idle = idle_cpu_percent(solo_pids, window)

            t0 = time.monotonic()
            results = hosting.up_all(klass, jobs=4, timeout=170)
            up_wall = time.monotonic() - t0
            failed = [r for r in results if not r.ok]
            healthy = students - len(failed)
            rows.append(_row(
                f"lab class up: {healthy}/{students} labs healthy", up_wall, "s",
                "one lab's `lab up`", one.seconds,
            ))  # fmt: skip
            if failed:
                print(f"labs that failed: {[(r.name, r.detail) for r in failed][:3]}")
            pids = [p for lab in klass for p in hosting.lab_pids(lab).values()]
            time.sleep(3)  # let start-up settle before measuring idle
            idle = idle_cpu_percent(pids, window)
            rows.append(_row(
                f"idle CPU of {students} labs ({len(pids)} processes, {window:.0f} s)", idle,
                "% of a core", f"one lab's idle CPU x {students}", solo_idle * students,
            ))  # fmt: skip
            rss = [sum(_rss_kib(p) for p in hosting.lab_pids(lab).values()) / 1024 for lab in klass]
            mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
            rows.append(_row(
                f"RSS per lab (mean of {students}; max {max(rss):.0f} MiB)", sum(rss) / len(rss),
                "MiB", f"MemTotal / {students}", mem_total / students,
            ))  # fmt: skip

            ok_solo, solo_wall, solo_tail = _run_all(solo)
            with ThreadPoolExecutor(max_workers=at_work) as pool:
                t0 = time.monotonic()
                outcomes = list(pool.map(_run_all, klass[:at_work]))
                busy_wall = time.monotonic() - t0
            passed = sum(1 for ok, _, _ in outcomes if ok)
            for lab, (ok, _, tail) in zip(klass, outcomes, strict=False):
                if not ok:
                    print(f"{lab.name}: lab run all {tail}")
            rows.append(_row(
                f"{at_work} labs running `lab run all` at once: {passed}/{at_work} passed",
                busy_wall, "s",
                f"one lab alone ({'passed' if ok_solo else solo_tail})", solo_wall,
            ))  # fmt: skip
        finally:
            hosting.down_all(labs)
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for r in run(quick):
        print(r)
