"""``--persist`` with real processes: what the API acknowledged survives ``kill -9``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, wait_tcp
from services.faultproxy.core.persistence import COMPACT_ENV, journal_paths
from tests.services.faultproxy.fp_support import Api, EchoServer, faultproxy_process


@pytest.fixture
def echo() -> Any:
    server = EchoServer()
    yield server
    server.close()


def visible_state(api: Api) -> dict[str, Any]:
    """What a client sees, minus what is not persisted (live stats)."""
    out = {}
    for name, proxy in api.get("/proxies").json().items():
        toxics = sorted(
            (t["name"], t["type"], t["stream"], t["toxicity"], json.dumps(t["attributes"]))
            for t in proxy["toxics"]
        )
        out[name] = (proxy["listen"], proxy["upstream"], proxy["enabled"], toxics)
    return out


def churn(api: Api, echo_port: int, rng: random.Random, changes: int, prefix: str) -> None:
    """``changes`` acknowledged changes of every kind the API has."""
    names: list[str] = list(api.get("/proxies").json())
    for i in range(changes):
        op = rng.choice(["create", "create", "toxic", "update_toxic", "disable", "delete"])
        if op == "create" or not names:
            name = f"{prefix}{i}"
            api.create(name, echo_port)
            names.append(name)
            continue
        name = rng.choice(names)
        if op == "toxic":
            r = api.post(
                f"/proxies/{name}/toxics",
                {"type": "latency", "name": f"t{i}", "attributes": {"latency": i}},
            )
        elif op == "update_toxic":
            toxics = api.get(f"/proxies/{name}/toxics").json()
            if not toxics:
                continue
            r = api.post(
                f"/proxies/{name}/toxics/{toxics[0]['name']}", {"attributes": {"latency": 7 * i}}
            )
        elif op == "disable":
            r = api.post(f"/proxies/{name}", {"enabled": rng.random() < 0.5})
        else:
            r = api.delete(f"/proxies/{name}")
            names.remove(name)
        assert r.status_code in (200, 204), r.text


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "compacting"])
def test_every_acknowledged_change_survives_kill_9(
    tmp_path: Path, echo: EchoServer, compact: bool
) -> None:
    cfg = tmp_path / "state.json"
    cfg.write_text("[]")
    # A tiny threshold makes the process compact many times during the churn.
    env = {COMPACT_ENV: "200"} if compact else None
    rng = random.Random(16)
    for round_ in range(3):
        with faultproxy_process("--config", str(cfg), "--persist", env=env) as (api, proc):
            churn(api, echo.port, rng, 60, f"r{round_}p")
            if round_ == 2:
                api.post("/reset")  # the one change that touches every proxy
            expected = visible_state(api)
            proc.kill()  # no shutdown handler: only what was on disk when acknowledged
            proc.wait(5)
        journal, _ = journal_paths(cfg)
        assert journal.exists()  # the state was not folded in by a clean exit
        if compact and round_ == 0:
            assert json.loads(cfg.read_text()), "the running process never compacted"
        with faultproxy_process("--config", str(cfg), "--persist") as (api, _proc):
            assert visible_state(api) == expected
            assert len(expected) > 5


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.faultproxy", "--port", str(free_port()), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.parametrize(("text", "fragment"), [("", "is empty"), ("null\n", "holds null")])
def test_empty_or_null_persist_file_is_refused_and_left_alone(
    tmp_path: Path, text: str, fragment: str
) -> None:
    cfg = tmp_path / "state.json"
    cfg.write_text(text)
    result = run_cli("--config", str(cfg), "--persist")
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Write [] to it" in result.stderr
    assert "Traceback" not in result.stderr
    assert cfg.read_text() == text


def test_torn_journal_line_is_ignored_with_a_warning(tmp_path: Path, echo: EchoServer) -> None:
    cfg = tmp_path / "state.json"
    cfg.write_text("[]")
    with faultproxy_process("--config", str(cfg), "--persist") as (api, proc):
        api.create("kept", echo.port)
        proc.kill()
        proc.wait(5)
    journal, _ = journal_paths(cfg)
    with journal.open("a") as fh:
        fh.write('{"put":[{"name":"half","listen":"127.0.0.1:')  # a crash mid-write
    port = free_port()
    args = ["-m", "services.faultproxy", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, *args, "--config", str(cfg), "--persist"],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        api = Api(port)
        wait_tcp(port, timeout=15)
        assert list(api.get("/proxies").json()) == ["kept"]
        api.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "torn last line" in err and "Traceback" not in err
    # The clean exit folded everything into the file; the torn bytes are gone.
    assert [p["name"] for p in json.loads(cfg.read_text())] == ["kept"]
    assert not journal.exists()
