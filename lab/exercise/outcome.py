"""What a check reports: one line per expectation, with what was seen and a hint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class ExerciseOutcome:
    name: str  # what was expected, in a student's words
    passed: bool
    seen: str = ""  # what the lab actually observed
    hint: str = ""  # what to look at when it failed

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckResult:
    exercise: int
    program: str
    outcomes: list[ExerciseOutcome] = field(default_factory=list)
    error: str = ""  # the check could not run (lab down, missing file, crashed check)
    crashed: bool = False  # the student's program crashed (a traceback, a signal)
    timed_out: bool = False  # it was still running when stopped (a hang), see CheckContext
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def first_failure(self) -> ExerciseOutcome | None:
        return next((o for o in self.outcomes if not o.passed), None)

    def summary(self) -> str:
        if self.error:
            return self.error
        failure = self.first_failure
        if failure is None:
            return "all expectations passed"
        return f"{failure.name}: {failure.seen}" + (
            f" (hint: {failure.hint})" if failure.hint else ""
        )

    @classmethod
    def from_dict(cls, data: dict) -> CheckResult:
        """The inverse of ``to_dict`` (a grading worker sends its results as JSON)."""
        return cls(
            exercise=int(data["exercise"]),
            program=str(data.get("program", "")),
            outcomes=[ExerciseOutcome(**o) for o in data.get("outcomes", [])],
            error=str(data.get("error", "")),
            crashed=bool(data.get("crashed")),
            timed_out=bool(data.get("timed_out")),
            duration=float(data.get("duration", 0.0)),
        )

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "program": self.program,
            "passed": self.passed,
            "error": self.error,
            "crashed": self.crashed,
            "timed_out": self.timed_out,
            "duration": round(self.duration, 3),
            "outcomes": [o.to_dict() for o in self.outcomes],
        }
