"""Two labs of one class, real processes: scenarios at once never touch each other.

Lab A runs a latency scenario while lab B runs a bandwidth scenario, both on the proxy
named `restapi`. A leak either way would show a foreign toxic type in the other lab's
fault proxy API, which is polled throughout, and would break the other's timings.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from lab.classroom.registry import load_class
from services.common.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    return env | extra


def lab_cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    env = _env(WIRELAB_CLASS_DIR=str(folder), WIRELAB_USE_FILE=str(folder / "use.json"))
    # A random stretch of the plan: other test runs on this machine may hold slot 0.
    for _ in range(3):
        slot = random.randrange(50, 700)
        done = lab_cli("class", "up", "--students", "2", "--first-slot", str(slot), env=env)
        if done.returncode == 0:
            break
        lab_cli("class", "down", "--purge", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield folder, env, load_class(folder)
    finally:
        lab_cli("class", "down", "--purge", env=env)


def api(lab, path: str, token: str | None = None) -> httpx.Response:
    url = f"http://127.0.0.1:{lab.ports()['faultproxy']}{path}"
    headers = {"Authorization": f"Bearer {token or lab.token}"}
    return httpx.get(url, headers=headers, timeout=5, trust_env=False)


def test_each_lab_has_its_own_ports_folder_token_ca_and_data(klass):
    folder, env, (a, b) = klass
    done = lab_cli("class", "status", env=env)
    assert done.returncode == 0, done.stdout
    assert not set(a.ports().values()) & set(b.ports().values())
    assert Path(a.state_dir).parent == Path(b.state_dir).parent == folder
    assert a.token != b.token
    assert api(a, "/proxies").status_code == 200
    assert api(a, "/proxies", token=b.token).status_code == 401  # B's token opens only B
    assert api(b, "/proxies", token=a.token).status_code == 401
    ca_a = (Path(a.state_dir) / "tls" / "ca.pem").read_bytes()
    assert ca_a != (Path(b.state_dir) / "tls" / "ca.pem").read_bytes()
    # restapi data: a user made in A does not exist in B.
    base_a = f"http://127.0.0.1:{a.ports()['restapi']}"
    base_b = f"http://127.0.0.1:{b.ports()['restapi']}"
    made = httpx.post(f"{base_a}/api/users", json={"name": "only-in-a", "email": "a@example.org"},
                      headers={"Authorization": "Bearer alice-token"},
                      trust_env=False, timeout=5)  # fmt: skip
    assert made.status_code == 201, made.text
    names_b = [u["name"] for u in httpx.get(f"{base_b}/api/users", trust_env=False).json()]
    names_a = [u["name"] for u in httpx.get(f"{base_a}/api/users", trust_env=False).json()]
    assert "only-in-a" in names_a and "only-in-a" not in names_b


def test_two_labs_running_toxic_scenarios_at_once_never_meet(klass):
    folder, env, (a, b) = klass
    page_a = folder / "cards" / f"{a.name}.html"
    # A student's way in: `lab use CARD`, then plain `lab run`.
    use_a = env | {"WIRELAB_USE_FILE": str(folder / "use-a.json")}
    assert lab_cli("use", str(page_a), env=use_a).returncode == 0
    exports = lab_cli("use", str(folder / "cards" / f"{b.name}.html"), "--print", env=env).stdout
    env_b = env | dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines())

    seen: dict[str, set[str]] = {a.name: set(), b.name: set()}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for lab in (a, b):
                proxies = api(lab, "/proxies").json()
                seen[lab.name] |= {t["type"] for p in proxies.values() for t in p["toxics"]}
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    runs: dict[str, subprocess.CompletedProcess] = {}

    def run(key: str, scenario: str, run_env: dict[str, str]) -> None:
        runs[key] = lab_cli("run", scenario, "--repeat", "3", env=run_env)

    threads = [
        threading.Thread(target=run, args=("a", "timeouts/read-timeout-latency", use_a)),
        threading.Thread(target=run, args=("b", "bandwidth/bandwidth-cap", env_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    stop.set()
    poller.join(timeout=10)
    assert runs["a"].returncode == 0, runs["a"].stdout[-2000:]
    assert runs["b"].returncode == 0, runs["b"].stdout[-2000:]
    assert "3 passed" in runs["a"].stdout and "3 passed" in runs["b"].stdout
    # Each lab saw its own toxic, and never the other's.
    assert seen == {a.name: {"latency"}, b.name: {"bandwidth"}}
    for lab in (a, b):  # and each scenario cleaned up after itself
        assert all(not p["toxics"] for p in api(lab, "/proxies").json().values())


def test_grade_checks_each_student_against_their_own_lab(klass, tmp_path):
    folder, env, (a, b) = klass
    solution = (REPO_ROOT / "exercises" / "01-raw-requests" / "solution.py").read_text()
    for lab in (a, b):
        (tmp_path / lab.name).mkdir()
        (tmp_path / lab.name / "01-raw-requests.py").write_text(solution)
    (tmp_path / "stranger").mkdir()
    # B's lab is down: if grading used one shared lab, B would pass with A.
    subprocess.run(
        [sys.executable, "-c", "import sys; from lab.classroom.hosting import backend_for;"
         "from lab.classroom.registry import load_class, find_lab;"
         "backend_for(find_lab(load_class(__import__('pathlib').Path(sys.argv[1])), sys.argv[2])).down()",
         str(folder), b.name], check=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip
    out = tmp_path / "grades.csv"
    done = lab_cli("class", "grade", str(tmp_path), "--only", "1", "--csv", str(out), env=env)
    assert done.returncode == 1, done.stdout
    rows = {row[0]: row for row in list(csv.reader(out.open()))[1:]}
    assert rows[a.name][1:4] == ["1", "1", "pass"]
    # The same program, against its own lab, which is down: not graded, and said why.
    assert rows[b.name][1:4] == ["0", "0", "-"]
    assert "this student's lab is not healthy" in rows[b.name][-1]
    assert "no lab of that name" in rows["stranger"][-1]
    # Bring B back for whatever runs after.
    up = lab_cli("class", "up", env=env)
    assert up.returncode == 0, up.stdout
    assert json.loads(lab_cli("class", "status", "--json", env=env).stdout)[b.name]
