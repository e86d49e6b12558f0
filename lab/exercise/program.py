"""Run a student's program as a real process, with a hard time bound.

A student's code may hang, crash, print megabytes or spawn children; none of that may
stop or crash the lab. Each run gets its own session and process group, and a token in
its environment (inherited by whatever it starts). Stopping a run stops its whole tree:
the group, the session, every descendant by parent PID (a grandchild that made its own
session included) and any process carrying the token (one that double-forked away).
When Ctrl-C ends a check, what was stopped is kept for the message (``take_interrupted``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lab import proc_identity

OUTPUT_LIMIT = 64 * 1024  # bytes of stdout/stderr kept; more is cut, not an error
RUN_TOKEN_VAR = "WIRELAB_CHECK_RUN"  # marks every process a checked program started

# What Ctrl-C stopped, one line per program run, for `lab exercise check` to say.
_interrupted: list[str] = []


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


def _tree(proc: subprocess.Popen) -> list[int]:
    """Every live process of this run: its tree, plus any process carrying its token."""
    token = getattr(proc, "wirelab_token", None)
    pids = proc_identity.tree(proc.pid)
    if token:
        me = os.getpid()
        for pid in proc_identity.all_pids():
            if pid != me and pid not in pids:
                if proc_identity.environ_value(pid, RUN_TOKEN_VAR) == token:
                    info = proc_identity.proc_info(pid)
                    if info is not None and info.state != "Z":
                        pids.append(pid)
    return pids


def stop_tree(proc: subprocess.Popen) -> list[tuple[int, str]]:
    """Kill the program and everything it started; (pid, command) of each process stopped.

    Each round freezes what it finds (SIGSTOP, so nothing forks meanwhile), then kills it;
    rounds repeat until a scan finds nothing, so a fork racing the first round is caught."""
    stopped: list[tuple[int, str]] = []
    seen: set[int] = set()
    for _ in range(10):
        live = _tree(proc)  # a killed process may show once more, until it is a zombie
        if not live:
            break
        names = {p: proc_identity.describe(p) for p in live}
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in live:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        stopped += [(p, names[p]) for p in live if p not in seen]
        seen.update(live)
        time.sleep(0.01)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    proc_identity.reap([p for p in seen if p != proc.pid])
    return stopped


def _kill_group(proc: subprocess.Popen) -> None:
    stop_tree(proc)


def _note_interrupted(
    program: Path, proc: subprocess.Popen, stopped: list[tuple[int, str]]
) -> None:
    rest = [(pid, what) for pid, what in stopped if pid != proc.pid]
    if len(rest) < len(stopped):
        text = f"your program {program.name} (pid {proc.pid})"
    else:
        text = f"your program {program.name} (pid {proc.pid}, it had already exited)"
    if rest:
        started = ", ".join(f"pid {pid}: {what}" for pid, what in rest)
        plural = "es" if len(rest) > 1 else ""
        text += f" and {len(rest)} process{plural} it started ({started})"
    _interrupted.append(text)


def take_interrupted() -> list[str]:
    """What Ctrl-C stopped since the last call (one line per program run)."""
    out = list(_interrupted)
    _interrupted.clear()
    return out


def _popen(program: Path, env: Mapping[str, str], args: list[str], out, err) -> subprocess.Popen:
    token = secrets.token_hex(8)
    proc = subprocess.Popen(
        [sys.executable, str(program), *args],
        cwd=program.parent,
        env={**program_env(env), RUN_TOKEN_VAR: token},
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,  # its own process group: one kill reaches its children
    )
    proc.wirelab_token = token  # type: ignore[attr-defined]
    return proc


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
        except KeyboardInterrupt:
            _note_interrupted(program, proc, stop_tree(proc))
            raise
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
        except KeyboardInterrupt:
            _note_interrupted(program, proc, stop_tree(proc))
            raise
        finally:
            _kill_group(proc)
