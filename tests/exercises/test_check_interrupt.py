"""Ctrl-C during `lab exercise check`: the student's whole program tree ends (a child in
its own session and a double-forked grandchild included), the message says what was
stopped, and the check's toxic is removed. A real SIGINT to a real `lab exercise check`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.backends.local import _alive
from lab.faultproxy_client import FaultProxyClient
from services.common.paths import REPO_ROOT

# Exercise 4 runs the program under an `exercise_slow` latency toxic. This one hangs, after
# starting a child in a new session that double-forks a grandchild away from it.
HANGING = '''
import os, subprocess, sys, time
pids = sys.argv[0] + ".pids"
child = subprocess.Popen([sys.executable, "-c", """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1], "a").write(f"{os.getpid()}\\\\n")
        time.sleep(300)
    os._exit(0)
time.sleep(300)
""", pids], start_new_session=True)
open(pids, "a").write(f"{os.getpid()}\\n{child.pid}\\n")
time.sleep(300)
'''


def test_ctrl_c_stops_the_program_tree_and_restores_the_lab(lab, tmp_path: Path) -> None:
    program = tmp_path / "hang.py"
    program.write_text(HANGING)
    pids_file = Path(str(program) + ".pids")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "exercise", "check", "4", str(program)],
        cwd=REPO_ROOT, env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    api = FaultProxyClient(lab.faultproxy_url())
    try:
        deadline = time.monotonic() + 60
        pids: list[int] = []
        while len(pids) < 3:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the program never started its processes"
            time.sleep(0.1)
            if pids_file.exists():
                pids = [int(x) for x in pids_file.read_text().split()]
        assert all(_alive(p) for p in pids)
        toxics = [t["name"] for t in api.toxics("rawhttp")]
        assert "exercise_slow" in toxics, toxics
        # The grandchild is in neither the program's process group nor its session.
        sessions = {
            int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[3]) for p in pids
        }
        assert len(sessions) == 3

        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        assert proc.returncode == 130, output
        assert "Traceback" not in output
        line = [ln for ln in output.splitlines() if ln.startswith("interrupted")]
        assert line, output
        assert f"stopped your program hang.py (pid {pids[0]}) and 2 processes it started" in line[0]
        assert f"pid {pids[1]}: " in line[0] and f"pid {pids[2]}: " in line[0]
        assert "the lab is restored" in line[0]
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in pids if _alive(p)] == [], "a process of the student's program survived"
        assert [t["name"] for t in api.toxics("rawhttp")] == []
        assert api.dirty() == []
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        api.close()
