"""Every exercise against the real lab: the solution passes, the starter fails with the
expected hint, and a plausible wrong answer fails on the expectation that matters."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lab.exercise.catalog import find_exercise
from lab.exercise.check_runner import run_check
from lab.exercise.outcome import CheckResult
from tests.exercises.conftest import WRONG, checked_on_local_lab

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Expected:
    wrong: str  # file in tests/exercises/wrong/
    wrong_fails: str  # part of the name of the expectation the wrong answer must fail
    starter_fails: str  # part of the name of the first expectation the starter fails
    starter_hint: str  # part of the hint the starter gets for it


CASES = {
    1: Expected("01_no_host.py", "rawhttp received a GET", "rawhttp received a GET", "Host header"),
    2: Expected(
        "02_no_length_keep_open.py",
        "complete, valid HTTP/1.1",
        "gets 404 Not Found",
        "answer paths you do not know with 404",
    ),
    3: Expected(
        "03_one_recv.py",
        "arrived exactly",
        "came through the slicing proxy",
        "stopped before every story",
    ),
    4: Expected(
        "04_connect_timeout_only.py",
        "gives up within 2 s",
        "gives up within 2 s",
        "deadline on every recv()",
    ),
    5: Expected("05_fake_concurrency.py", "overlapped", "overlapped", "asyncio.gather"),
    6: Expected(
        "06_fixed_short_sleep.py",
        "waited at least Retry-After",
        "all 30 resources were fetched",
        "wait, then ask for the same resource again",
    ),
    7: Expected(
        "07_retry_without_key.py",
        "no order exists twice",
        "every one of the 10 orders exists",
        "retry the POST",
    ),
    8: Expected(
        "08_count_arrivals.py",
        "duplicates matches",
        "received matches",
        "distinct sequence numbers",
    ),
    9: Expected(
        "09_cert_none.py",
        "refused a server whose certificate",
        "sent a GET over TLS",
        "wrap the socket",
    ),
    10: Expected(
        "10_send_without_listening.py",
        "saw the program relay the phrase",
        "saw the program relay the phrase",
        "please relay",
    ),
    11: Expected(
        "11_one_recv.py",
        "small pieces came back whole",
        "small pieces came back whole",
        "loop on recv()",
    ),
    12: Expected(
        "12_assumes_in_order.py",
        "lost lists exactly",
        "numbered 0 to",
        "start every datagram with its sequence number",
    ),
    13: Expected(
        "13_echo_to_sender.py",
        "first message exactly once",
        "first message exactly once",
        "not only back to the one",
    ),
    14: Expected(
        "14_guess_pages.py",
        "through a Link URL",
        "carried Authorization",
        "session.headers",
    ),
}


def explain(result: CheckResult) -> str:
    lines = [f"exercise {result.exercise} on {result.program}: error={result.error!r}"]
    lines += [
        f"  {'PASS' if o.passed else 'FAIL'} {o.name}: {o.seen} | {o.hint}" for o in result.outcomes
    ]
    return "\n".join(lines)


def failed_names(result: CheckResult) -> list[str]:
    return [o.name for o in result.outcomes if not o.passed]


@pytest.mark.parametrize("number", sorted(CASES))
def test_solution_passes(lab, number: int) -> None:
    exercise = find_exercise(number)
    result = run_check(exercise, exercise.solution)
    assert result.passed, explain(result)
    assert not result.crashed


@pytest.mark.parametrize("number", sorted(CASES))
def test_starter_fails_with_the_expected_hint(lab, number: int) -> None:
    exercise = find_exercise(number)
    expected = CASES[number]
    result = run_check(exercise, exercise.starter)
    assert not result.passed and not result.error, explain(result)
    first = result.first_failure
    assert first is not None and expected.starter_fails in first.name, explain(result)
    assert expected.starter_hint in first.hint, explain(result)


@pytest.mark.parametrize("number", sorted(CASES))
def test_wrong_answer_fails(lab, number: int) -> None:
    expected = CASES[number]
    result = checked_on_local_lab(number, WRONG / expected.wrong)
    assert not result.passed and not result.error, explain(result)
    assert any(expected.wrong_fails in name for name in failed_names(result)), explain(result)


def test_no_toxic_is_left_behind(lab) -> None:
    """Checks add toxics; whatever happened, none may survive them."""
    from lab.exercise import evidence

    for proxy in ("rawhttp", "rawhttp_line", "restapi"):
        assert evidence.proxy_toxics(proxy) == [], proxy


def test_a_toxic_left_on_the_proxy_is_named_not_silently_judged(lab) -> None:
    """A student's own slicer, forgotten on the proxy, would distort the check: say so."""
    from lab.exercise import evidence

    with evidence.fault_proxy() as api:
        added = api.add_toxic(
            "rawhttp_line",
            {
                "name": "my_slicer",
                "type": "slicer",
                "stream": "downstream",
                "attributes": {"average_size": 2},
            },
        )
        assert added["name"] == "my_slicer", added
        try:
            exercise = find_exercise(3)
            result = run_check(exercise, exercise.solution)
        finally:
            api.remove_toxic("rawhttp_line", "my_slicer")
    assert not result.passed and "already has toxics (my_slicer)" in result.error
