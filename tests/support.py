"""Helpers the tests share: free ports and real service processes.

Tests never use the default ports, so a lab left running never breaks the suite.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port(proto: str = "tcp") -> int:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


@contextlib.contextmanager
def service_process(
    args: list[str],
    ready: Callable[[], None] | None = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 15.0,
    cwd: Path = REPO_ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python <args>`` as a real process, wait for ``ready()`` to stop raising, kill at exit.

    Output goes to a temp log that is printed if the process fails to become ready.
    """
    import tempfile

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    log = tempfile.TemporaryFile()
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
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
