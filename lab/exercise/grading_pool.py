"""Grade a room in parallel: N workers, each with a lab of its own.

A check changes its lab while it runs (toxics on the fault proxy, restapi's rate limits
and orders), so two checks never share one. Each worker (`lab.exercise.grading_worker`)
is a process that brings up a whole local lab on a free port offset with its own state
folder, then takes the next (student, exercise) from a shared queue until none is left.
Every result comes back as JSON, and ``on_result`` hears it as soon as it is known.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lab.backends import BackendError
from lab.backends.local import free_port_offset
from lab.exercise.catalog import Exercise
from lab.exercise.grading import OnResult, StudentGrade, find_submission, missing_result
from lab.exercise.outcome import CheckResult
from services.ports import all_endpoint_names, default_port

START_TIMEOUT = 240.0  # seconds for a worker's lab to come up on a loaded machine
CHECK_OVERHEAD = 120.0  # beyond the time limit: the check's own probes and waits


@dataclass(frozen=True)
class Task:
    student: str
    exercise: Exercise
    program: Path


class WorkerFailed(RuntimeError):
    pass


def _lab_ports(offset: int) -> set[int]:
    env = {"WIRELAB_PORT_OFFSET": str(offset)}
    return {default_port(name, env) for name in all_endpoint_names()}


def lab_offsets(count: int) -> list[int]:
    """``count`` port offsets whose labs are free now and share no port with each other."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(count * 20):
        offset = free_port_offset()
        ports = _lab_ports(offset)
        if offset in chosen or ports & taken:
            continue
        chosen.append(offset)
        taken |= ports
        if len(chosen) == count:
            return chosen
    raise BackendError(f"no {count} free port offsets for grading labs; try fewer --jobs")


def _worker_env(offset: int, state: Path) -> dict[str, str]:
    # A port pinned in this shell (WIRELAB_RESTAPI_PORT=...) would pin every worker's lab
    # to the same port: only the offset decides.
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("WIRELAB_") and (k.endswith("_PORT") or "TARGET" in k))
    }
    env.update(
        WIRELAB_PORT_OFFSET=str(offset),
        WIRELAB_STATE_DIR=str(state),
        WIRELAB_BACKEND="local",
        PYTHONUNBUFFERED="1",
    )
    return env


class Worker:
    """One ``grading_worker`` process and its lab; its answers arrive through a queue."""

    def __init__(self, offset: int, state: Path) -> None:
        state.mkdir(parents=True, exist_ok=True)
        self.state = state
        self.log = (state / "worker.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab.exercise.grading_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=_worker_env(offset, state),
            text=True,
            encoding="utf-8",
            start_new_session=True,  # a Ctrl-C in the instructor's shell reaches us, not it
        )
        self.replies: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.replies.put(json.loads(line))
        self.replies.put(None)  # the worker is gone

    def _reply(self, timeout: float) -> dict:
        try:
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise WorkerFailed(f"no answer within {timeout:.0f} s") from None
        if reply is None:
            raise WorkerFailed(f"the grader exited (code {self.proc.poll()}); see {self.log.name}")
        return reply

    def wait_ready(self) -> None:
        reply = self._reply(START_TIMEOUT)
        if not reply.get("ready"):
            raise WorkerFailed(str(reply.get("error", reply)))

    def grade(self, task: Task, time_limit: float | None) -> CheckResult:
        assert self.proc.stdin is not None
        message = {
            "exercise": task.exercise.number,
            "program": str(task.program.resolve()),
            "time_limit": time_limit,
        }
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise WorkerFailed(f"the grader is gone ({exc})") from None
        bound = (time_limit or 600.0) + CHECK_OVERHEAD
        return CheckResult.from_dict(self._reply(bound)["result"])

    def close(self, grace: float = 60.0) -> None:
        """End of input: the worker takes its lab down; a stuck one is stopped."""
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # it takes its lab down, then exits
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@contextlib.contextmanager
def _workers(jobs: int, root: Path) -> Iterator[list[Worker]]:
    offsets = lab_offsets(jobs)
    started = [Worker(offset, root / f"lab{i}") for i, offset in enumerate(offsets)]
    ready: list[Worker] = []
    problems: list[str] = []
    try:
        for worker in started:  # they all start at once; this only waits for each in turn
            try:
                worker.wait_ready()
                ready.append(worker)
            except WorkerFailed as exc:
                problems.append(str(exc))
                worker.close(grace=10)
        if not ready:
            raise BackendError(f"no grading lab started: {'; '.join(problems)}")
        yield ready
    finally:
        closers = [threading.Thread(target=w.close) for w in ready]
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join()


def grade_parallel(
    items: list[tuple[str, Exercise, Path | None]],
    jobs: int,
    time_limit: float | None,
    on_result: OnResult | None = None,
) -> dict[tuple[str, int], CheckResult]:
    """Grade (student, exercise, program or None when missing) items on ``jobs`` labs."""
    results: dict[tuple[str, int], CheckResult] = {}
    lock = threading.Lock()

    def record(student: str, exercise: Exercise, result: CheckResult) -> None:
        with lock:
            results[(student, exercise.number)] = result
            if on_result is not None:
                on_result(student, exercise, result)

    todo: queue.Queue[Task] = queue.Queue()
    for student, exercise, program in items:
        if program is None:
            record(student, exercise, missing_result(exercise))
        else:
            todo.put(Task(student, exercise, program))
    if todo.empty():
        return results

    with tempfile.TemporaryDirectory(prefix="wirelab-grading-") as tmp:
        with _workers(min(jobs, todo.qsize()), Path(tmp)) as workers:

            def drain(worker: Worker) -> None:
                while True:
                    try:
                        task = todo.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        result = worker.grade(task, time_limit)
                    except WorkerFailed as exc:
                        result = CheckResult(task.exercise.number, str(task.program))
                        result.error = f"the grading lab failed on this submission: {exc}"
                        result.timed_out = "no answer within" in str(exc)
                        record(task.student, task.exercise, result)
                        return  # this worker is done for; the others take the rest
                    record(task.student, task.exercise, result)

            threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    while not todo.empty():  # every worker failed before the queue was empty
        task = todo.get_nowait()
        result = CheckResult(task.exercise.number, str(task.program))
        result.error = "not graded: every grading lab failed (see the errors above)"
        record(task.student, task.exercise, result)
    return results


def grade_folders(
    folders: list[Path],
    exercises: list[Exercise],
    jobs: int,
    time_limit: float | None,
    on_result: OnResult | None = None,
) -> list[StudentGrade]:
    items = [
        (folder.name, exercise, find_submission(folder, exercise))
        for folder in folders
        for exercise in exercises
    ]
    results = grade_parallel(items, jobs, time_limit, on_result)
    grades = []
    for folder in folders:
        grade = StudentGrade(folder.name)
        for exercise in exercises:
            grade.results[exercise.number] = results[(folder.name, exercise.number)]
        grades.append(grade)
    return grades
