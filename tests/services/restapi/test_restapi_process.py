"""The service as a process: command line, port in use, SIGTERM, restart persistence, concurrent writes."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from services.common.processes import run_module
from tests.services.restapi.conftest import WRITER, running_restapi


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return run_module("services.restapi", *args, timeout=timeout)


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        r = run_cli("--port", str(port), "--state-dir", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert f"port {port}/tcp" in lines[0] and "WIRELAB_RESTAPI_PORT" in lines[0]


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    r = run_cli("--rate-limit", "api=lots", "--state-dir", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "rate limit 'api=lots'" in r.stderr
    r = run_cli("--port", "70000", "--state-dir", str(tmp_path))
    assert r.returncode == 2 and "--port must be between 0 and 65535" in r.stderr
    r = run_cli("--port", "x")
    assert r.returncode == 2 and "invalid int value: 'x'" in r.stderr


def test_restart_keeps_data_and_sigterm_exits_promptly(tmp_path: Path) -> None:
    with running_restapi(tmp_path, "--rate-limit", "api=3/1") as api:
        with api.client() as c:
            created = c.post(
                "/api/users", json={"name": "Kept", "email": "kept@example.org"}, headers=WRITER
            ).json()
            c.patch("/api/users/1", json={"name": "Ada L."}, headers=WRITER)
            c.delete("/api/orders/9", headers=WRITER)
            # the start-up flag is in force
            assert c.get("/_lab/ratelimit").json()["groups"]["api"]["capacity"] == 3
        t0 = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        assert api.proc.wait(15) == 0  # a requested stop is a clean exit
        assert time.monotonic() - t0 < 10  # loose: the machine is shared
    with running_restapi(tmp_path, "--no-rate-limit") as api, api.client() as c:
        assert c.get(f"/api/users/{created['id']}").json() == created
        assert c.get("/api/users/1").json()["name"] == "Ada L."
        assert c.get("/api/orders/9").status_code == 404
        assert c.get("/healthz").json()["orders"] == 8
        assert "x-ratelimit-limit" not in c.get("/api/users/1").headers


def test_sigterm_with_a_client_holding_a_slow_response(tmp_path: Path) -> None:
    with running_restapi(tmp_path) as api:
        with socket.create_connection(("127.0.0.1", api.port)) as s:
            s.sendall(b"GET /sse?count=100&interval=5 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
            t0 = time.monotonic()
            api.proc.send_signal(signal.SIGTERM)
            assert api.proc.wait(20) == 0
            # The stream would run 500 s; graceful shutdown gives it 2 s (slack for a busy box).
            assert time.monotonic() - t0 < 15


def test_concurrent_writes_lose_no_row(tmp_path: Path) -> None:
    with running_restapi(tmp_path, "--no-rate-limit") as api:

        async def writers() -> list[int]:
            async with httpx.AsyncClient(
                base_url=api.url,
                headers=WRITER,
                timeout=30,
                limits=httpx.Limits(max_connections=20),
            ) as c:
                tasks = [
                    c.post("/api/orders", json={"user_id": 1 + i % 7, "item": f"item-{i}"})
                    for i in range(120)
                ]
                return [r.status_code for r in await asyncio.gather(*tasks)]

        assert asyncio.run(writers()) == [201] * 120
        with api.client() as c:
            orders = c.get("/api/orders", params={"per_page": 100, "page": 2}).json()
            total = int(c.get("/api/orders").headers["x-total-count"])
            items = set()
            page = 1
            while batch := c.get("/api/orders", params={"per_page": 100, "page": page}).json():
                items |= {o["item"] for o in batch}
                page += 1
        assert total == 9 + 120 and orders
        assert {f"item-{i}" for i in range(120)} <= items


def test_corrupt_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "restapi.sqlite3").write_bytes(b"this is not a database, " * 20)
    r = run_cli("--port", "0", "--state-dir", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith("restapi.sqlite3: file is not a database")


def test_debug_log_shows_the_raw_request(tmp_path: Path) -> None:
    log_path = tmp_path / "restapi.log"
    with running_restapi(tmp_path, "--log-level", "debug", log_path=log_path) as api:
        httpx.get(f"{api.url}/headers?q=1", headers={"X-Probe": "42"}, timeout=10)
    text = log_path.read_text()
    assert "GET /headers?q=1 HTTP/1.1" in text
    assert "x-probe: 42" in text
