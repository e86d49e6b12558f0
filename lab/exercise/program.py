"""Run a student's program as a real process, with a hard time bound.

A student's code may hang, crash, print megabytes or spawn children; none of that may
stop or crash the lab. Each run gets its own process group, so a kill reaches children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 64 * 1024  # bytes of stdout/stderr kept; more is cut, not an error


@dataclass
class ProgramRun:
    exit_code: int | None  # None when it had to be killed
    stdout: str
    stderr: str
    elapsed: float  # wall time from start to exit (or kill)
    timed_out: bool

    @property
    def crashed(self) -> bool:
        """A Python traceback or death by a signal (not a deliberate non-zero exit)."""
        if self.timed_out:
            return False
        return "Traceback (most recent call last)" in self.stderr or (
            self.exit_code is not None and self.exit_code < 0
        )

    def crash_line(self) -> str:
        """The last line of the traceback: the exception, which is what a student needs."""
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        if self.exit_code is not None and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        return lines[-1].strip() if lines else f"exit code {self.exit_code}"

    def describe(self) -> str:
        if self.timed_out:
            return f"still running after {self.elapsed:.1f} s (stopped by the check)"
        text = f"exit code {self.exit_code} after {self.elapsed:.2f} s"
        if self.crashed:
            text += f", crashed: {self.crash_line()}"
        return text


def program_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_TARGET")}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    return env


def _read(f, limit: int = OUTPUT_LIMIT) -> str:
    f.seek(0)
    data = f.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n[... output cut]" if len(data) > limit else "")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def _popen(program: Path, env: Mapping[str, str], args: list[str], out, err) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(program), *args],
        cwd=program.parent,
        env=program_env(env),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,  # its own process group: one kill reaches its children
    )


def run_program(
    program: Path, env: Mapping[str, str], *, timeout: float, args: list[str] | None = None
) -> ProgramRun:
    """Run ``python program`` to completion, or kill it after ``timeout`` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = _popen(program, env, args or [], out, err)
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        elapsed = time.monotonic() - started
        _kill_group(proc)  # also reaps children it left behind
        return ProgramRun(
            exit_code=None if timed_out else proc.returncode,
            stdout=_read(out),
            stderr=_read(err),
            elapsed=elapsed,
            timed_out=timed_out,
        )


@dataclass
class Background:
    """A program left running while the check probes it (a student's server)."""

    proc: subprocess.Popen
    out: object
    err: object
    started: float

    def alive(self) -> bool:
        return self.proc.poll() is None

    def result(self) -> ProgramRun:
        return ProgramRun(
            exit_code=self.proc.poll(),
            stdout=_read(self.out),
            stderr=_read(self.err),
            elapsed=time.monotonic() - self.started,
            timed_out=False,
        )


@contextlib.contextmanager
def background_program(
    program: Path, env: Mapping[str, str], args: list[str] | None = None
) -> Iterator[Background]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = _popen(program, env, args or [], out, err)
        try:
            yield Background(proc, out, err, time.monotonic())
        finally:
            _kill_group(proc)
