"""Counting requests in flight from a server log: the arithmetic exercise 05 judges by."""

from __future__ import annotations

from lab.exercise.in_flight import max_in_flight, waiting_windows

LATENCY = 0.5


def log(*arrivals: float, duration_ms: float = 2.0) -> list[dict]:
    return [{"time": t, "duration_ms": duration_ms} for t in arrivals]


def test_a_window_lasts_from_arrival_until_the_answer_can_have_come_back() -> None:
    assert waiting_windows(log(100.0, duration_ms=20.0), LATENCY) == [(100.0, 100.52)]


def test_sequential_requests_are_one_in_flight_even_when_a_busy_client_is_late() -> None:
    # Each sent only after the previous answer: at least latency + service time apart.
    assert max_in_flight(waiting_windows(log(0.0, 0.503, 1.2, 1.71, 3.0), LATENCY)) == 1


def test_five_started_together_are_five_in_flight_even_spread_by_load() -> None:
    assert max_in_flight(waiting_windows(log(0.0, 0.01, 0.05, 0.2, 0.45), LATENCY)) == 5


def test_a_cap_of_two_shows_two_in_flight() -> None:
    # Semaphore(2): pairs start as the previous pair is answered.
    arrivals = (0.0, 0.001, 0.503, 0.504, 1.006)
    assert max_in_flight(waiting_windows(log(*arrivals), LATENCY)) == 2


def test_windows_that_only_touch_do_not_overlap() -> None:
    assert max_in_flight([(0.0, 1.0), (1.0, 2.0)]) == 1
    assert max_in_flight([]) == 0
