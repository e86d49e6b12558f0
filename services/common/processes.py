"""Services as child processes, for the tests, the benchmarks and the exercise checks: a
free port, the wait for a listener, a start that waits until ready, a stop that always
ends the child, and a command line run to its exit.

Plain sockets and subprocesses (no pytest), so ``bench/`` and ``tests/`` share it. The lab's
local backend manages its services by process group and PID file instead (lab/backends/local.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from services.common.paths import REPO_ROOT

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


def free_port(proto: str = "tcp") -> int:
    """A port on 127.0.0.1 that nothing listens on right now (``proto``: tcp or udp)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Return once a TCP connect to ``host:port`` succeeds; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def run_module(
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    cwd: Path = REPO_ROOT,
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` run to its exit, output captured as text: a CLI's exit
    code and messages. ``env`` replaces the environment when given."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stop_process(proc: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """SIGTERM, then SIGKILL if the child still runs after ``grace`` seconds; reaped either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def service_process(
    args: list[str],
    ready: Callable[[], None] | None = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 15.0,
    cwd: Path = REPO_ROOT,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python <args>`` as a real process, wait for ``ready()`` to stop raising, stop at exit.

    Output (stdout and stderr) goes to a log that is printed if the process fails to become
    ready: a temp file, or ``log_path`` when the caller reads the log after the exit.
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    log = log_path.open("w+b") if log_path else tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=full_env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + timeout
        while ready is not None:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(
                    f"{args} exited with {proc.returncode}:\n{log.read().decode(errors='replace')}"
                )
            try:
                ready()
                break
            except Exception:
                if time.monotonic() > deadline:
                    log.seek(0)
                    raise TimeoutError(
                        f"{args} not ready in {timeout}s:\n{log.read().decode(errors='replace')}"
                    ) from None
                time.sleep(0.05)
        yield proc
    finally:
        stop_process(proc)
        log.close()
