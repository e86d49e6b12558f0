"""The object a check works with: the student's program, how to run it, and the list of
expectations it has judged so far."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lab.exercise import evidence
from lab.exercise.outcome import ExerciseOutcome
from lab.exercise.program import Background, ProgramRun, background_program, run_program


@dataclass
class CheckContext:
    program: Path
    params: Mapping[str, object] = field(default_factory=dict)  # from check.yaml's `params`
    outcomes: list[ExerciseOutcome] = field(default_factory=list)
    crashed: bool = False
    # A grading run's time limit (time.monotonic()): no run of the program goes past it.
    deadline: float | None = None
    timed_out: bool = False  # the program was still running when it had to be stopped

    # -- judging --------------------------------------------------------------------
    def expect(self, name: str, passed: bool, seen: str = "", hint: str = "") -> bool:
        self.outcomes.append(ExerciseOutcome(name, bool(passed), seen, "" if passed else hint))
        return bool(passed)

    def param(self, name: str, default):
        value = self.params.get(name, default)
        return type(default)(value) if default is not None else value

    # -- running the student's program ---------------------------------------------
    def run(self, env: Mapping[str, str], *, timeout: float) -> ProgramRun:
        limit = timeout
        if self.deadline is not None:
            limit = max(0.0, min(timeout, self.deadline - time.monotonic()))
        run = run_program(self.program, env, timeout=limit)
        if run.crashed:
            self.crashed = True
        if run.timed_out and limit < timeout:  # stopped by the time limit, not by the check
            self.timed_out = True
        return run

    def expect_clean_exit(
        self, run: ProgramRun, name: str = "the program ran and exited with 0"
    ) -> bool:
        hint = "read the traceback above: run the program by hand with the same environment"
        if run.timed_out:
            hint = "it never finished; a blocking call waits for ever without a timeout"
            self.timed_out = True
        ok = self.expect(name, run.exit_code == 0, run.describe(), hint)
        if not ok and run.stderr.strip():
            self.outcomes[-1].seen += "\n" + _tail(run.stderr)
        return ok

    @contextlib.contextmanager
    def background(self, env: Mapping[str, str]) -> Iterator[Background]:
        """A program left running while the check probes it; stopped at the time limit."""
        with background_program(self.program, env) as program:
            timer = None
            if self.deadline is not None:
                timer = threading.Timer(
                    max(0.0, self.deadline - time.monotonic()), self._stop, (program,)
                )
                timer.daemon = True
                timer.start()
            try:
                yield program
            finally:
                if timer is not None:
                    timer.cancel()

    def _stop(self, program: Background) -> None:
        if program.alive():
            self.timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(program.proc.pid, signal.SIGKILL)

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def nonce() -> str:
        """A fresh random word per run, so an answer cannot be known before the run."""
        return secrets.token_hex(6)

    @staticmethod
    def target_env(endpoint: str) -> dict[str, str]:
        host, port = evidence.address(endpoint)
        return {"WIRELAB_TARGET_HOST": host, "WIRELAB_TARGET_PORT": str(port)}


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.rstrip().splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in kept)
