"""`lab run` killed (SIGKILL) or interrupted (SIGINT) at awkward moments, as a user would:
the lab says it is dirty, the next run repairs it, and no Ctrl-C prints a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.faultproxy_client import FaultProxyClient
from services.common.paths import REPO_ROOT
from tests.lab.scenario.test_lab_run import SLOW_FAULTS, assert_clean, lab

QUICK = """
name: quick
summary: one request
lesson: a clean lab answers.
steps:
  - http: {target: rawhttp.blocking, path: /healthz, timeout: 3}
    expect: {status: 200}
"""


def start_run(scenario: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "run", str(scenario)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for_faults(proc: subprocess.Popen, backend, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while "rawhttp-blocking" not in backend.paused_or_stopped():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the scenario never paused the service"
        time.sleep(0.1)


def test_sigkill_leaves_a_dirty_lab_that_status_names_and_run_repairs(local_lab, tmp_path):
    scenario = tmp_path / "interrupt.yaml"
    scenario.write_text(SLOW_FAULTS)
    proc = start_run(scenario)
    api = FaultProxyClient(local_lab.faultproxy_url())
    try:
        wait_for_faults(proc, local_lab)
        proc.send_signal(signal.SIGKILL)  # no rollback can run
        proc.communicate(timeout=10)
        assert len(api.dirty()) == 3

        status = lab("status", "--json")
        assert status.returncode == 1
        left = json.loads(status.stdout)["leftovers"]
        assert "service rawhttp-blocking is paused (left by a scenario or `lab action`)" in left
        assert "proxy rawhttp still has toxic latency_downstream" in left
        assert "proxy udpstream still has toxic loss_downstream" in left
        assert "proxy restapi is disabled" in left
        human = lab("status")
        assert "the lab is dirty:" in human.stderr and "toxic latency_downstream" in human.stderr

        quick = tmp_path / "quick.yaml"
        quick.write_text(QUICK)
        run = lab("run", str(quick))
        assert run.returncode == 0, run.stdout + run.stderr
        repaired = run.stderr.replace("\n", " ")
        assert "repaired: resumed paused service rawhttp-blocking" in repaired
        assert "removed toxic latency_downstream from proxy rawhttp" in repaired
        assert "enabled disabled proxy restapi" in repaired
        assert_clean(local_lab)
        assert lab("status").returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        api.reset()
        for service in local_lab.paused_or_stopped():
            local_lab.resume(service)
        api.close()


def test_ctrl_c_during_start_up_is_one_line_and_130(local_lab, tmp_path):
    quick = tmp_path / "quick.yaml"
    quick.write_text(QUICK)
    # Python's own start-up (its site module) comes before any of lab's code: wait past it.
    for delay in (0.6, 1.2, 2.0):
        proc = start_run(quick)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        if proc.returncode == 0:
            continue  # the run was already over: nothing left to interrupt
        assert proc.returncode == 130, output
        assert "Traceback" not in output
        lines = [ln for ln in output.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("interrupted"), output
    assert_clean(local_lab)


def test_a_second_ctrl_c_after_the_rollback_is_one_line_and_130(local_lab, tmp_path):
    scenario = tmp_path / "interrupt.yaml"
    scenario.write_text(SLOW_FAULTS)
    proc = start_run(scenario)
    seen: list[str] = []
    try:
        wait_for_faults(proc, local_lab)
        proc.send_signal(signal.SIGINT)
        for line in proc.stdout:  # the progress line comes once the rollback is done
            seen.append(line)
            if "rolled back" in line:
                proc.send_signal(signal.SIGINT)
                break
        output = "".join(seen) + proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    assert "interrupted again: the lab was already rolled back" in output or (
        "interrupted: the lab was rolled back" in output
    )
    assert_clean(local_lab)
