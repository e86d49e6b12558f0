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
runs out: WIRELAB_BENCH_CLASS_STUDENTS=N and WIRELAB_BENCH_CLASS_AT_WORK=M (0: skip).

WIRELAB_BENCH_CLASS_BACKEND=docker measures docker labs (a compose project each): CPU and
RSS are then the containers' cgroup counters (cpuacct usage; rss of memory.stat), the
one-lab peer runs the engine's healthchecks every 2 s (a lone `lab up`), the class labs
every 300 s (class mode), and a last row gives the engine daemons' CPU in the same window
(machine-wide: other users of the engine count too).
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

from bench.common import row
from lab.classroom import hosting
from lab.classroom.registry import ClassLab, plan_class, save_class
from lab.classroom.roster import numbered

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def _row(name: str, figure: float, unit: str, peer: str, peer_figure: float) -> dict:
    return row(name, figure, unit, peer, peer_figure, digits=4)


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


# -- docker labs: the containers' cgroups (v1 or v2), read directly --------------------------
def _containers(lab: ClassLab) -> list:
    backend = hosting.backend_for(lab)
    return list(backend._containers().values())


def _cgroup_dir(controller: str, container) -> Path | None:
    cid = container.id
    for path in (
        Path(f"/sys/fs/cgroup/{controller}/docker/{cid}"),  # v1, cgroupfs driver
        Path(f"/sys/fs/cgroup/{controller}/system.slice/docker-{cid}.scope"),  # v1, systemd
        Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope"),  # v2, systemd
        Path(f"/sys/fs/cgroup/docker/{cid}"),  # v2, cgroupfs
    ):
        if path.is_dir():
            return path
    return None


def _container_cpu_seconds(container) -> float:
    folder = _cgroup_dir("cpuacct", container)
    if folder is None:
        raise RuntimeError(f"no cgroup found for container {container.name}")
    if (folder / "cpuacct.usage").exists():
        return int((folder / "cpuacct.usage").read_text()) / 1e9
    stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
    return int(stat["usage_usec"]) / 1e6


def _container_rss_mib(container) -> float:
    folder = _cgroup_dir("memory", container)
    if folder is None:
        return 0.0
    stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    return int(stat.get("total_rss", stat.get("rss", stat.get("anon", 0)))) / 2**20


def _daemon_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in ("dockerd", "containerd") or comm.startswith("containerd-shim"):
                pids.append(int(entry.name))
    return pids


def idle_cpu_containers(containers: list, window: float) -> float:
    """% of one core that ``containers`` used together over ``window`` seconds."""
    before = [_container_cpu_seconds(c) for c in containers]
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    used = sum(_container_cpu_seconds(c) - b for c, b in zip(containers, before, strict=True))
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
    backend = os.environ.get("WIRELAB_BENCH_CLASS_BACKEND") or "local"
    docker = backend == "docker"
    students = int(os.environ.get("WIRELAB_BENCH_CLASS_STUDENTS") or (5 if quick else 30))
    window = 5.0 if quick else 20.0
    at_work = int(os.environ.get("WIRELAB_BENCH_CLASS_AT_WORK") or (3 if quick else 10))
    at_work = min(at_work, students)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-class-") as tmp:
        folder = Path(tmp) / "class"
        first = random.randrange(0, 700 - students)
        tag = f"b{os.getpid()}"  # docker: projects wirelab-cls-b<pid>-NN, no other run's
        names = [f"{tag}-{n}" for n in numbered(students + 1)] if docker else numbered(students + 1)
        labs = plan_class(names, folder, first_slot=first, backend=backend)
        solo, klass = labs[0], labs[1:]
        save_class(folder, labs)
        if docker:
            hosting.check_backend("docker")
        hosting.prepare(labs)
        try:
            # On docker the peer is a lone lab as `lab up` starts it: healthchecks every 2 s.
            solo_env = {"WIRELAB_HEALTH_INTERVAL": "2s"} if docker else None
            one = hosting.up_one(solo, timeout=120, extra_env=solo_env)
            if not one.ok:
                raise RuntimeError(f"one lab did not come up: {one.detail}")
            time.sleep(3)
            if docker:
                solo_idle = idle_cpu_containers(_containers(solo), window)
            else:
                solo_idle = idle_cpu_percent(list(hosting.lab_pids(solo).values()), window)

            t0 = time.monotonic()
            results = hosting.up_all(klass, jobs=4, timeout=170)
            up_wall = time.monotonic() - t0
            failed = [r for r in results if not r.ok]
            healthy = students - len(failed)
            rows.append(_row(
                f"lab class up ({backend}): {healthy}/{students} labs healthy", up_wall, "s",
                "one lab's `lab up`", one.seconds,
            ))  # fmt: skip
            if failed:
                print(f"labs that failed: {[(r.name, r.detail) for r in failed][:3]}")
            time.sleep(3)  # let start-up settle before measuring idle
            peer = f"one lab's idle CPU x {students}" + (" (2 s healthchecks)" if docker else "")
            if docker:
                containers = [c for lab in klass for c in _containers(lab)]
                daemons = _daemon_pids()
                daemon_before = {pid: _cpu_ticks(pid) for pid in daemons}
                t0 = time.monotonic()
                idle = idle_cpu_containers(containers, window)
                daemon = sum(_cpu_ticks(p) - daemon_before[p] for p in daemons) / TICKS
                daemon_pct = 100.0 * daemon / (time.monotonic() - t0)
                what = f"{len(containers)} containers"
                rss = [sum(_container_rss_mib(c) for c in _containers(lab)) for lab in klass]
            else:
                pids = [p for lab in klass for p in hosting.lab_pids(lab).values()]
                idle = idle_cpu_percent(pids, window)
                what = f"{len(pids)} processes"
                rss = [
                    sum(_rss_kib(p) for p in hosting.lab_pids(lab).values()) / 1024 for lab in klass
                ]
            rows.append(_row(
                f"idle CPU of {students} {backend} labs ({what}, {window:.0f} s)", idle,
                "% of a core", peer, solo_idle * students,
            ))  # fmt: skip
            mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
            rows.append(_row(
                f"RSS per lab (mean of {students}; max {max(rss):.0f} MiB)", sum(rss) / len(rss),
                "MiB", f"MemTotal / {students}", mem_total / students,
            ))  # fmt: skip
            if docker:
                rows.append(_row(
                    f"engine daemons' CPU in that window ({len(daemons)} processes, machine-wide)",
                    daemon_pct, "% of a core", f"the {students} labs' containers", idle,
                ))  # fmt: skip

            if at_work > 0:
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
            hosting.down_all(labs, purge=True)
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for r in run(quick):
        print(r)
