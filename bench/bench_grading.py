"""Grading a room: 30 students x 10 exercises, 3 of them hanging on every exercise.

Target (issue 14): under 8 minutes on the 2-core machine, with `lab exercise check --all
--jobs N --time-limit S`. The class is made in a temp folder: 27 students hand in the
reference solutions, 3 hand in ``time.sleep(3600)`` for every exercise. The run goes through
the real CLI, which starts N labs of its own on free port offsets.

Rows:
- the parallel run's wall time, against the target (ratio < 1 meets it);
- the same against a sequential peer in the same run: one reference student and one
  hanging student graded with ``--jobs 1`` on one lab, scaled to the class (27 + 3);
- the verdicts (every reference solution must pass, every hang must not) and the machine's
  load average, since the machine is shared.

``python -m bench.bench_grading [--students 30] [--hanging 3] [--jobs 6] [--time-limit 10]``
runs it alone and prints the same rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import row
from lab.backends.local import isolated_lab
from lab.exercise.catalog import all_exercises

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 8 * 60
HANGING = "import time\n\ntime.sleep(3600)  # a program that never finishes\n"


def make_class(root: Path, students: int, hanging: int) -> Path:
    """``students`` folders; the last ``hanging`` hang on every exercise."""
    exercises = all_exercises()
    for i in range(students):
        folder = root / f"student{i + 1:02d}"
        folder.mkdir(parents=True)
        hangs = i >= students - hanging
        for ex in exercises:
            text = HANGING if hangs else ex.solution.read_text(encoding="utf-8")
            (folder / ex.working_name).write_text(text, encoding="utf-8")
    return root


def grade(class_dir: Path, jobs: int, time_limit: float, csv_file: Path) -> tuple[float, Counter]:
    """Wall time of the real CLI's grading run, and its verdicts from the CSV."""
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "exercise",
            "check",
            "--all",
            str(class_dir),
            "--jobs",
            str(jobs),
            "--time-limit",
            str(time_limit),
            "--csv",
            str(csv_file),
        ],
        cwd=REPO,
        env={**os.environ, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.monotonic() - started
    if not csv_file.exists():
        raise RuntimeError(f"grading wrote no CSV:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    verdicts: Counter = Counter()
    hanging = _hanging_names(class_dir)
    with csv_file.open(encoding="utf-8") as f:
        for record in csv.DictReader(f):
            hangs = record["student"] in hanging
            for key, value in record.items():
                if key.startswith("ex"):
                    who = "hanging" if hangs else "reference"
                    verdicts[(who, value)] += 1
                    if value != ("timeout" if hangs else "pass"):
                        verdicts[(who, f"{value} in {key}")] += 1
    keep = Path(tempfile.gettempdir()) / "wirelab-bench-grading.out"  # for a look afterwards
    keep.write_text(done.stdout + done.stderr, encoding="utf-8")
    return wall, verdicts


def _hanging_names(class_dir: Path) -> set[str]:
    return {p.name for p in class_dir.iterdir() if HANGING in next(p.glob("01-*.py")).read_text()}


def sequential_peer(tmp: Path, time_limit: float) -> tuple[float, float]:
    """Seconds for one reference student and one hanging student with --jobs 1, on one lab."""
    class_dir = make_class(tmp / "peer-class", 2, 1)
    with isolated_lab(tmp / "peer-lab"):
        times = {}
        for name in ("student01", "student02"):
            one = tmp / f"peer-{name}"
            one.mkdir()
            (class_dir / name).rename(one / name)
            times[name], _ = grade(one, 1, time_limit, tmp / f"peer-{name}.csv")
    return times["student01"], times["student02"]


def run(
    quick: bool = False,
    students: int | None = None,
    hanging: int = 3,
    jobs: int = 6,
    time_limit: float = 10.0,
    peer: bool = True,
) -> list[dict]:
    students = students or (6 if quick else 30)
    hanging = min(hanging, 1 if quick else hanging)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-grading-") as tmp_name:
        tmp = Path(tmp_name)
        class_dir = make_class(tmp / "class", students, hanging)
        wall, verdicts = grade(class_dir, jobs, time_limit, tmp / "grades.csv")
        load_after = os.getloadavg()
        rows = [
            row(
                f"{students} students x 10 exercises ({hanging} hanging), --jobs {jobs} "
                f"--time-limit {time_limit:g}",
                wall,
                "s",
                "target (8 min)",
                TARGET_S,
            )
        ]
        if peer and not quick:
            ref_s, hang_s = sequential_peer(tmp, time_limit)
            sequential = ref_s * (students - hanging) + hang_s * hanging
            rows.append(
                row(
                    "the same, parallel",
                    wall,
                    "s",
                    f"--jobs 1, scaled from 1+1 students ({ref_s:.0f} s, {hang_s:.0f} s)",
                    sequential,
                )
            )
    for (who, word), count in sorted(verdicts.items()):
        rows.append(row(f"verdicts: {who} students, {word}", count, "exercises", "-", 0))
    rows.append(
        row("load average (1 min) before / after", load_before[0], "", "after", load_after[0])
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_grading", description=__doc__)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--hanging", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="skip the sequential peer run")
    args = parser.parse_args(argv)
    rows = run(
        args.quick, args.students, args.hanging, args.jobs, args.time_limit, not args.no_peer
    )
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
