"""`lab run` as a user runs it: a real subprocess against the whole local lab.

Covers `lab run all` (the library passes on the local backend), the rollback on a real
SIGINT, the exercise-style evidence checks (exec + request log + proxy inspect), and the
command-line errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from lab.faultproxy_client import FaultProxyClient
from services.common.paths import REPO_ROOT


def lab(
    *args: str, env: dict | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_clean(backend) -> None:
    api = FaultProxyClient(backend.faultproxy_url())
    try:
        assert api.dirty() == []
    finally:
        api.close()
    assert backend.paused_or_stopped() == []


@pytest.mark.slow
def test_lab_run_all_passes_on_the_local_backend(local_lab, tmp_path: Path) -> None:
    junit, journal = tmp_path / "junit.xml", tmp_path / "journal.json"
    done = lab("run", "all", "--junit", str(junit), "--json", str(journal), timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(journal.read_text())
    statuses = {s["name"]: s["status"] for s in data["scenarios"]}
    assert statuses.pop("partition") == "skipped"
    assert set(statuses.values()) == {"passed"}, statuses
    assert len(statuses) >= 25
    root = ET.parse(junit).getroot()
    assert sum(int(s.get("tests", 0)) for s in root.iter("testsuite")) == len(statuses) + 1
    assert "needs the partition capability" in done.stdout
    assert_clean(local_lab)
    assert lab("status").returncode == 0


SLOW_FAULTS = """
name: interrupt-me
summary: applies faults, then waits to be interrupted
lesson: rollback runs on Ctrl-C.
setup:
  - toxic:
      add: {proxy: rawhttp, type: latency, attributes: {latency: 500}}
  - toxic:
      add: {proxy: udpstream, type: loss, attributes: {probability: 0.5}}
  - proxy: {disable: restapi}
  - service: {pause: rawhttp-blocking}
steps:
  - sleep: 60
"""


def test_sigint_rolls_everything_back(local_lab, tmp_path: Path) -> None:
    scenario = tmp_path / "interrupt.yaml"
    scenario.write_text(SLOW_FAULTS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "run", str(scenario)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = FaultProxyClient(local_lab.faultproxy_url())
    try:
        deadline = time.monotonic() + 30
        while "rawhttp-blocking" not in local_lab.paused_or_stopped():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the scenario never paused the service"
            time.sleep(0.1)
        assert len(api.dirty()) == 3  # two toxics and a disabled proxy, really applied
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert api.dirty() == []
    assert local_lab.paused_or_stopped() == []
    api.close()
    assert httpx.get(local_lab.url("rawhttp.blocking") + "/healthz", timeout=3).status_code == 200


EVIDENCE = """
name: evidence
summary: an exercise-style check
lesson: checks read what the services saw.
vars:
  program: client.py
setup:
  - toxic:
      add: {proxy: restapi, type: latency, attributes: {latency: 50}}
steps:
  - name: run the student's program
    exec:
      run: [python, "${program}", "3"]
      timeout: 20
      targets: {API: restapi.via_proxy}
    expect:
      exit_code: 0
      stdout_lines: {length: 3}
      json: {present: false}
  - name: restapi saw exactly three requests from it
    http: {target: restapi, path: "/_lab/requests?since=${started}", timeout: 2}
    expect:
      json:
        "$[?path==/api/users/1]": {length: 3}
        "$[*].status": {equals: [200, 200, 200]}
  - name: the proxy counted its connections
    proxy: {inspect: restapi}
    expect:
      toxics: 1
      json: {"$.toxics[0].type": latency}
  - name: the websocket echo answers
    ws: {target: restapi, path: /ws/echo, send: [hello], receive: 1, timeout: 5}
    expect:
      last: {contains: hello}
"""

CLIENT = """
import os, sys, urllib.request
for _ in range(int(sys.argv[1])):
    with urllib.request.urlopen(os.environ["API_URL"] + "/api/users/1", timeout=5) as r:
        print(r.status)
"""


def test_exec_and_evidence_from_the_services(local_lab, tmp_path: Path) -> None:
    (tmp_path / "client.py").write_text(textwrap.dedent(CLIENT))
    scenario = tmp_path / "evidence.yaml"
    scenario.write_text(EVIDENCE)
    journal = tmp_path / "j.json"
    done = lab("run", str(scenario), "--json", str(journal), "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    steps = json.loads(journal.read_text())["scenarios"][0]["steps"]
    assert steps[1]["output"]["stdout"].split() == ["200", "200", "200"]
    # --set swaps the program, as `lab exercise check` does for a student's file.
    (tmp_path / "broken.py").write_text("import sys; print('oops'); sys.exit(1)\n")
    failed = lab("run", str(scenario), "--set", "program=broken.py")
    assert failed.returncode == 1
    assert "exit_code: expected 0, got 1" in failed.stdout
    assert_clean(local_lab)


def test_lab_run_says_when_the_lab_is_not_up(tmp_path: Path) -> None:
    env = {
        "WIRELAB_STATE_DIR": str(tmp_path),
        "WIRELAB_PORT_OFFSET": "1",
        "WIRELAB_BACKEND": "local",
    }
    done = lab("run", "errors", env=env)
    assert done.returncode == 2
    assert "the lab is not up" in done.stderr and "--up" in done.stderr


def test_bad_input_on_the_command_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsummary: s\nlesson: l\nsteps:\n  - slep: 1\n")
    done = lab("validate", str(bad))
    assert done.returncode == 1
    assert f"{bad}:5:5:" in done.stderr.replace("\n", "") and "did you mean 'sleep'?" in done.stderr
    done = lab("run", str(bad))
    assert done.returncode == 2 and "nothing was run" in done.stderr
    done = lab("run", "timeuots")
    assert done.returncode == 2 and "did you mean 'timeouts'?" in done.stderr
    done = lab("run", "all", "--set", "novalue")
    assert done.returncode == 2 and "key=value" in done.stderr
    assert "Traceback" not in done.stderr
    listing = lab("scenarios", "--json")
    assert listing.returncode == 0
    names = {row["name"] for row in json.loads(listing.stdout)}
    assert {"held-connection", "udp-loss-levels", "partition", "bandwidth-cap"} <= names
    assert lab("validate").returncode == 0


def test_a_scenario_named_by_its_path_as_ls_shows_it(tmp_path: Path) -> None:
    """`ls scenarios/` shows THEME/NAME.yaml: each spelling of it picks that one file."""
    for spelling in (
        "timeouts/read-timeout-latency",
        "timeouts/read-timeout-latency.yaml",
        "scenarios/timeouts/read-timeout-latency.yaml",
        "scenarios/timeouts/read-timeout-latency",
    ):
        done = lab("validate", spelling)
        assert done.returncode == 0, (spelling, done.stdout + done.stderr)
        assert "1 scenario(s) valid" in done.stdout, spelling
    listing = lab("validate", "timeouts/read-timeout-latency", "timeouts/slow-close")
    assert "2 scenario(s) valid" in listing.stdout, listing.stdout + listing.stderr
    # A typo is refused before anything runs (the lab need not be up), with the right name.
    env = {"WIRELAB_STATE_DIR": str(tmp_path), "WIRELAB_PORT_OFFSET": "1"}
    done = lab("run", "timeouts/read-timeot-latency", env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "did you mean 'timeouts/read-timeout-latency'?" in done.stderr
    assert "Traceback" not in done.stderr
    done = lab("run", "nowhere/read-timeout-latency.yaml", env=env)
    assert done.returncode == 2 and "no such scenario file" in done.stderr


def test_lab_run_theme_slash_name_runs_that_scenario(local_lab, tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    done = lab("run", "timeouts/read-timeout-latency", "--json", str(journal))
    assert done.returncode == 0, done.stdout + done.stderr
    ran = [(s["name"], s["status"]) for s in json.loads(journal.read_text())["scenarios"]]
    assert ran == [("read-timeout-latency", "passed")]
    assert_clean(local_lab)
