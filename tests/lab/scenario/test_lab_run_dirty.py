"""`lab run` killed (SIGKILL) or interrupted (SIGINT) at awkward moments, as a user would:
the lab says it is dirty, the next run repairs it, and no Ctrl-C prints a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

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


# A run interrupted twice ends with exactly one of these, whenever the second Ctrl-C comes.
CLOSING = (
    "interrupted again: the lab was already rolled back",
    "interrupted: the lab was rolled back",
)
TWICE = """
name: ctrl-c-twice
summary: one fault, then a wait to be interrupted in
lesson: after the rollback, another Ctrl-C just ends the run.
setup:
  - toxic:
      add: {proxy: rawhttp, type: latency, attributes: {latency: 500}}
steps:
  - sleep: 60
"""


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


def output_of(proc: subprocess.Popen[str], on_line: Callable[[str], bool] = lambda _: False) -> str:
    """All of proc's output, once it has exited; on_line sees each line until it returns True.

    Everything is read through proc.stdout: after `for line in proc.stdout`, the pipe's
    buffer can already hold the lines that follow (the closing line too), and
    proc.communicate(timeout=...) reads past that buffer, so it would lose them."""
    watchdog = threading.Timer(60, proc.kill)  # a hung run fails the test, not hangs it
    watchdog.start()
    try:
        seen: list[str] = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if on_line(line):
                break
        seen.append(proc.stdout.read())  # type: ignore[union-attr]
        proc.wait()
    finally:
        watchdog.cancel()
    return "".join(seen)


def assert_one_closing_line(proc: subprocess.Popen[str], output: str) -> None:
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    assert sum(output.count(line) for line in CLOSING) == 1, output


def test_a_second_ctrl_c_after_the_rollback_is_one_line_and_130(local_lab, tmp_path):
    scenario = tmp_path / "interrupt.yaml"
    scenario.write_text(SLOW_FAULTS)
    proc = start_run(scenario)

    def again(line: str) -> bool:  # the progress line comes once the rollback is done
        if "rolled back" in line:
            proc.send_signal(signal.SIGINT)
        return "rolled back" in line

    try:
        wait_for_faults(proc, local_lab)
        proc.send_signal(signal.SIGINT)
        output = output_of(proc, again)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_one_closing_line(proc, output)
    assert_clean(local_lab)


# After the "rolled back" progress line: every line up to and past the point where the
# second Ctrl-C was once answered by a KeyboardInterrupt that typer turned into a silent
# 130, then deeper into the report. After the closing line: the exit itself.
SECOND_CTRL_C_AT = [("progress", n) for n in [0, 2, *range(4, 16), 5000]] + [
    ("closing", n) for n in (0, 2, 1000)
]


@pytest.mark.slow
def test_a_second_ctrl_c_at_any_line_after_the_rollback_is_one_line_and_130(local_lab, tmp_path):
    """Deterministic: tests/lab/scenario/ctrl_c_at.py sends both Ctrl-Cs from inside
    `lab run`, the second after exactly N Python lines, so no timing decides the result."""
    scenario = tmp_path / "twice.yaml"
    scenario.write_text(TWICE)
    wrong: list[str] = []
    for after, lines in SECOND_CTRL_C_AT:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.lab.scenario.ctrl_c_at", after, str(lines),
             "run", str(scenario)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        output = output_of(proc)
        try:
            assert_one_closing_line(proc, output)
        except AssertionError:
            wrong.append(f"after {lines} lines past the {after} line: exit {proc.returncode}, "
                         f"closing lines {[ln for ln in CLOSING if ln in output]}")  # fmt: skip
        assert_clean(local_lab)
    assert not wrong, "\n".join(wrong)
