"""The mistakes each exercise teaches against, as real programs: each fails on the
expectation that matters, with a hint that names the mistake. And correct answers in
other styles than the reference solution still pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.exercise.catalog import find_exercise
from lab.exercise.check_runner import run_check
from tests.exercises.conftest import WRONG, checked_on_local_lab
from tests.exercises.test_exercise_checks import explain

pytestmark = pytest.mark.slow

RIGHT = Path(__file__).parent / "right"

# (exercise, file in wrong/, part of the failing expectation's name, part of its hint)
MISTAKES = [
    (1, "01_one_recv.py", "printed the real status line", "one recv() returns what has arrived"),
    (1, "01_bare_newlines.py", "every line ending in \\r\\n", "not a bare \\n"),
    (2, "02_length_in_characters.py", "the 404 is a complete", "not the characters"),
    (2, "02_bare_newlines.py", "the 404 is a complete", "not a bare \\n"),
    (3, "03_length_in_characters.py", "came through the slicing proxy", "the length counts bytes"),
    (4, "04_fresh_timeout_per_recv.py", "trickles a byte", "a fresh timeout on each recv()"),
    (4, "04_five_second_timeout.py", "when the server hangs, the program gives up", "but after 5"),
    (5, "05_fake_concurrency.py", "the last 5 overlapped", "`await` inside a loop"),
    (5, "05_two_at_a_time.py", "the last 5 overlapped", "only 2 at a time"),
    (8, "08_ooo_vs_previous.py", "out_of_order matches", "the one that arrived just before it"),
    (8, "08_lost_from_highest.py", "lost matches", "highest number seen + 1"),
    (9, "09_no_hostname_check.py", "certificate issued for other names", "check_hostname = True"),
    (9, "09_refuses_but_exits_0.py", "exited with a non-zero code", "exited 0 as if all went well"),
    (10, "10_split_on_colon.py", "saw the program relay the phrase", "may hold ':'"),
    (11, "11_one_client_at_a_time.py", "clients connected at once", "one connection after another"),
    (11, "11_one_recv.py", "small pieces came back whole", "loop on recv()"),
    (11, "11_close_on_eof.py", "all 4194304 bytes came back", "closing first throws the rest"),
    (12, "12_count_arrivals.py", "numbered 0 to", "start every datagram with its sequence number"),
    (12, "12_assumes_in_order.py", "lost lists exactly", "arrived late"),
    (13, "13_echo_to_sender.py", "first message exactly once", "not only back to the one"),
    (13, "13_stops_after_reset.py", "after a client vanished", "try/finally"),
    (14, "14_guess_pages.py", "through a Link URL", "you built ?page=N yourself"),
    (14, "14_no_if_match.py", "carried If-Match", "lost update"),
    (14, "14_ignores_412.py", "retried update succeeded", "GET it again"),
]


@pytest.mark.parametrize(
    ("number", "wrong", "fails", "hint"), MISTAKES, ids=[m[1] for m in MISTAKES]
)
def test_the_mistake_fails_with_a_hint_naming_it(
    lab, number: int, wrong: str, fails: str, hint: str
) -> None:
    result = checked_on_local_lab(number, WRONG / wrong)
    assert not result.passed and not result.error, explain(result)
    failed = [o for o in result.outcomes if not o.passed and fails in o.name]
    assert failed, explain(result)
    assert any(hint in o.hint for o in failed), explain(result)


def test_a_late_give_up_is_not_told_connect_alone_is_not_enough(lab) -> None:
    result = checked_on_local_lab(4, WRONG / "04_five_second_timeout.py")
    assert all("connect() alone" not in o.hint for o in result.outcomes), explain(result)


def test_a_refusal_that_exits_0_is_not_told_to_avoid_cert_none(lab) -> None:
    result = checked_on_local_lab(9, WRONG / "09_refuses_but_exits_0.py")
    assert all("CERT_NONE" not in o.hint for o in result.outcomes), explain(result)


RIGHT_ANSWERS = sorted(p.name for p in RIGHT.glob("*.py"))


@pytest.mark.parametrize("right", RIGHT_ANSWERS)
def test_a_correct_answer_in_another_style_passes(lab, right: str) -> None:
    result = run_check(find_exercise(int(right[:2])), RIGHT / right)
    assert result.passed and not result.crashed, explain(result)
