"""The object a check works with: the student's program, how to run it, and the list of
expectations it has judged so far."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lab.exercise import evidence
from lab.exercise.outcome import ExerciseOutcome
from lab.exercise.program import ProgramRun, background_program, run_program


@dataclass
class CheckContext:
    program: Path
    params: Mapping[str, object] = field(default_factory=dict)  # from check.yaml's `params`
    outcomes: list[ExerciseOutcome] = field(default_factory=list)
    crashed: bool = False

    # -- judging --------------------------------------------------------------------
    def expect(self, name: str, passed: bool, seen: str = "", hint: str = "") -> bool:
        self.outcomes.append(ExerciseOutcome(name, bool(passed), seen, "" if passed else hint))
        return bool(passed)

    def param(self, name: str, default):
        value = self.params.get(name, default)
        return type(default)(value) if default is not None else value

    # -- running the student's program ---------------------------------------------
    def run(self, env: Mapping[str, str], *, timeout: float) -> ProgramRun:
        run = run_program(self.program, env, timeout=timeout)
        if run.crashed:
            self.crashed = True
        return run

    def expect_clean_exit(
        self, run: ProgramRun, name: str = "the program ran and exited with 0"
    ) -> bool:
        hint = "read the traceback above: run the program by hand with the same environment"
        if run.timed_out:
            hint = "it never finished; a blocking call waits for ever without a timeout"
        ok = self.expect(name, run.exit_code == 0, run.describe(), hint)
        if not ok and run.stderr.strip():
            self.outcomes[-1].seen += "\n" + _tail(run.stderr)
        return ok

    def background(self, env: Mapping[str, str]):
        return background_program(self.program, env)

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
