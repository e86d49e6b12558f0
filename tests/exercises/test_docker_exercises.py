"""The exercise checks against the docker backend: every reference solution passes, and
the wrong answers fail with their hint, as on the local lab.

The checks run in this process against the session's docker lab (tests/docker_stack.py,
its own Compose project and ports), the student's program on the host, as `lab exercise
check` runs it: a published port, docker-proxy and the proxy in a container sit on the
path, which the local lab does not have. To keep CI's time, the suite runs the wrong
answers whose verdict depends on that path: 04 (hang and trickle through the proxy), 08
and 12 (UDP through the container relay), 09 (TLS and the impostor) and 13 (a server on
the host). `WIRELAB_DOCKER_ALL_MISTAKES=1` runs every wrong answer in
tests/exercises/wrong/ (about two minutes more).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.context import forget_shared_backend
from lab.exercise.catalog import find_exercise
from lab.exercise.check_runner import run_check
from tests.docker_stack import Stack
from tests.exercises.conftest import WRONG
from tests.exercises.test_exercise_checks import CASES, explain
from tests.exercises.test_mistakes import MISTAKES

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

# The mistakes (with the outcome that must fail and its hint), then each exercise's first
# wrong answer where the mistakes table has no row for that file (no hint to match).
EVERY_MISTAKE = MISTAKES + [
    (number, case.wrong, case.wrong_fails, "")
    for number, case in sorted(CASES.items())
    if case.wrong not in {m[1] for m in MISTAKES}
]
NETWORK_PATH_SENSITIVE = {4, 8, 9, 12, 13}
# Takes the same path as one kept: its recv() with no timeout meets the same silent
# connection through docker-proxy and the proxy as 04_five_second_timeout's late one, and
# it costs CI 13 s. (The local suite runs it.)
SAME_PATH_AS_ANOTHER = {"04_connect_timeout_only.py"}
DOCKER_MISTAKES = (
    EVERY_MISTAKE
    if os.environ.get("WIRELAB_DOCKER_ALL_MISTAKES") == "1"
    else [
        m
        for m in EVERY_MISTAKE
        if m[0] in NETWORK_PATH_SENSITIVE and m[1] not in SAME_PATH_AS_ANOTHER
    ]
)


@pytest.fixture
def docker_lab(docker_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The checks see the docker lab: its backend, project, state folder and ports."""
    for key in [k for k in os.environ if k.startswith("WIRELAB_")]:
        monkeypatch.delenv(key)
    for key, value in docker_stack.env.items():
        if key.startswith("WIRELAB_"):
            monkeypatch.setenv(key, value)
    forget_shared_backend()
    yield docker_stack
    forget_shared_backend()


@pytest.mark.parametrize("number", sorted(CASES))
def test_solution_passes_on_docker(docker_lab: Stack, number: int) -> None:
    exercise = find_exercise(number)
    result = run_check(exercise, exercise.solution)
    assert result.passed and not result.crashed, explain(result)


@pytest.mark.parametrize(
    ("number", "wrong", "fails", "hint"), DOCKER_MISTAKES, ids=[m[1] for m in DOCKER_MISTAKES]
)
def test_the_mistake_fails_with_its_hint_on_docker(
    docker_lab: Stack, number: int, wrong: str, fails: str, hint: str
) -> None:
    result = run_check(find_exercise(number), WRONG / wrong)
    assert not result.passed and not result.error, explain(result)
    failed = [o for o in result.outcomes if not o.passed and fails in o.name]
    assert failed and any(hint in o.hint for o in failed), explain(result)
