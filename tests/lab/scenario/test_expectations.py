"""Each expectation type with passing and failing inputs."""

from __future__ import annotations

import pytest

from lab.scenario import jsonpath
from lab.scenario.expectations import MatcherError, check, validate_expect, validate_matcher

OUTPUT = {
    "status": 429,
    "error": "none",
    "elapsed": 1.04,
    "headers": {
        "retry-after": "2",
        "content-type": "application/problem+json",
        "ratelimit": "limit=5, remaining=0",
    },
    "body": '{"status": 429, "title": "Too Many Requests"}',
    "json": {
        "status": 429,
        "title": "Too Many Requests",
        "items": [{"id": 1, "s": 200}, {"id": 2, "s": 429}],
    },
    "sha256": "ab" * 32,
    "sent_sha256": "ab" * 32,
    "loss_pct": 9.7,
}


def ok(expect: dict, output: dict | None = None) -> list[bool]:
    return [o.ok for o in check(expect, output or OUTPUT)]


@pytest.mark.parametrize(
    ("expect", "expected"),
    [
        ({"status": 429}, [True]),
        ({"status": 200}, [False]),
        ({"status": [404, 429]}, [True]),
        ({"status": [200, 204]}, [False]),
        ({"status": {"in": [429]}}, [True]),
        ({"status": {"not": 429}}, [False]),
        ({"error": "none"}, [True]),
        ({"error": "read_timeout"}, [False]),
        ({"elapsed": {"min": 1.0, "max": 1.5}}, [True]),
        ({"elapsed": {"max": 1.0}}, [False]),
        ({"elapsed": {"min": 1.1}}, [False]),
        ({"elapsed": {"about": 1.0, "tolerance": 0.05}}, [True]),
        ({"elapsed": {"about": 1.0, "tolerance": 0.01}}, [False]),
        ({"loss_pct": {"between": [8, 12]}}, [True]),
        ({"loss_pct": {"between": [10, 12]}}, [False]),
        ({"loss_pct": {"about": 10, "tolerance_pct": 5}}, [True]),
        ({"loss_pct": {"about": 10, "tolerance_pct": 2}}, [False]),
        ({"body": {"contains": "Too Many"}}, [True]),
        ({"body": {"contains": "Not Found"}}, [False]),
        ({"body": {"not_contains": "root:"}}, [True]),
        ({"body": {"matches": r'"status": \d{3}'}}, [True]),
        ({"body": {"matches": r"^HTTP"}}, [False]),
        ({"sha256": {"same_as": "sent_sha256"}}, [True]),
        ({"sha256": "cd" * 32}, [False]),
        ({"body": {"length": {"min": 10}}}, [True]),
        ({"missing_field": {"present": False}}, [True]),
        ({"status": {"present": False}}, [False]),
    ],
)
def test_matchers(expect: dict, expected: list[bool]) -> None:
    assert ok(expect) == expected


def test_headers_are_case_insensitive_and_absence_is_checkable() -> None:
    assert ok({"headers": {"Retry-After": "2", "RETRY-AFTER": {"between": [1, 3]}}}) == [True, True]
    assert ok({"headers": {"Content-Type": {"contains": "problem+json"}}}) == [True]
    assert ok({"headers": {"Retry-After": "3"}}) == [False]
    assert ok({"headers": {"Location": {"present": False}}}) == [True]
    assert ok({"headers": {"Location": {"present": True}}}) == [False]


def test_json_paths() -> None:
    assert ok({"json": {"$.status": 429, "$.title": {"contains": "Many"}}}) == [True, True]
    assert ok({"json": {"$.items[1].id": 2, "$.items[-1].s": 429}}) == [True, True]
    assert ok(
        {"json": {"$.items[?s==429]": {"length": 1}, "$.items[*].id": {"equals": [1, 2]}}}
    ) == [True, True]
    assert ok({"json": {"$.items[?s>=200].id": {"equals": [1, 2]}}}) == [True]
    assert ok({"json": {"$.nothing": {"present": True}}}) == [False]
    assert ok({"json": {"$.status": 404}}) == [False]


def test_failing_outcome_says_expected_and_actual() -> None:
    [outcome] = check({"elapsed": {"min": 0.9, "max": 1.0}}, OUTPUT)
    assert not outcome.ok
    assert outcome.line() == "elapsed: expected >= 0.9 and <= 1, got 1.04"
    [outcome] = check({"headers": {"Allow": {"contains": "GET"}}}, OUTPUT)
    assert outcome.line() == "header Allow: expected contains 'GET', got nothing (missing)"


REPEAT = {
    "results": [{"status": 200, "elapsed": 0.1}] * 7
    + [{"status": 429, "elapsed": 0.2, "headers": {"retry-after": "1"}}] * 3,
}


def test_counts_over_repeats() -> None:
    assert ok({"counts": [{"where": {"status": 429}, "min": 3}]}, REPEAT) == [True]
    assert ok({"counts": [{"where": {"status": 429}, "min": 4}]}, REPEAT) == [False]
    assert ok(
        {"counts": [{"where": {"status": 429, "headers": {"Retry-After": "1"}}, "equals": 3}]},
        REPEAT,
    ) == [True]
    assert ok({"counts": [{"where": {"status": 200}, "between": [6, 8]}]}, REPEAT) == [True]
    [outcome] = check({"counts": [{"where": {"status": 429}, "max": 1}]}, REPEAT)
    assert outcome.actual == 3 and "count of results with status 429" in outcome.what


def test_every_over_repeats() -> None:
    assert ok({"every": {"elapsed": {"max": 0.5}}}, REPEAT) == [True]
    [outcome] = check({"every": {"status": 200}}, REPEAT)
    assert not outcome.ok and "7 of 10 matched" in outcome.actual and "#8" in outcome.actual
    assert ok({"every": {"status": 200}}, {"results": []}) == [False]  # nothing ran is not a pass


def test_udp_stats_ranges() -> None:
    stats = {"loss_pct": 10.4, "duplicates": 0, "out_of_order": 3, "jitter_ms": 0.2}
    assert (
        ok({"loss_pct": {"between": [8, 12]}, "duplicates": 0, "jitter_ms": {"max": 1}}, stats)
        == [True] * 3
    )
    assert ok({"loss_pct": {"between": [8, 10]}, "out_of_order": 0}, stats) == [False, False]


@pytest.mark.parametrize(
    ("matcher", "message"),
    [
        ({"maxx": 1}, "did you mean 'max'?"),
        ({"between": [3, 1]}, "above its high end"),
        ({"between": 3}, "between needs [low, high]"),
        ({"min": "x"}, "min needs a number"),
        ({"matches": "("}, "bad regular expression"),
        ({"tolerance": 1}, "tolerance goes with about"),
        ({}, "empty matcher"),
    ],
)
def test_malformed_matchers(matcher: dict, message: str) -> None:
    with pytest.raises(
        MatcherError, match=message.replace("?", r"\?").replace("[", r"\[").replace("]", r"\]")
    ):
        validate_matcher(matcher)


def test_validate_expect_knows_the_fields() -> None:
    fields = {"status": "", "headers": "", "json": ""}
    validate_expect({"status": 200, "headers": {"A": "b"}, "json": {"$.a": 1}}, fields)
    with pytest.raises(MatcherError, match="did you mean 'status'"):
        validate_expect({"statuss": 200}, fields)
    with pytest.raises(MatcherError, match="starts with"):
        validate_expect({"json": {"a.b": 1}}, fields)


def test_jsonpath_parse_errors() -> None:
    for bad in ("a.b", "$.a[", "$..a", "$[?]"):
        with pytest.raises(jsonpath.JsonPathError):
            jsonpath.parse(bad)
    assert jsonpath.evaluate('$["odd key"]', {"odd key": 1}) == 1
    assert jsonpath.evaluate(
        "$.requests[?path==/x].status", {"requests": [{"path": "/x", "status": 1}]}
    ) == [1]
