"""Expectations: what a correct client must see, checked against a probe's output.

An ``expect:`` block maps an output field to a matcher:

- a plain value means "equals" (``status: 404``); a list means "one of" (``status: [404, 410]``);
- a mapping combines operators, all of which must hold:
  ``equals``, ``not``, ``in``, ``min``, ``max``, ``between: [lo, hi]``,
  ``about`` with ``tolerance`` (absolute) or ``tolerance_pct``, ``contains``,
  ``not_contains``, ``matches`` (a regex), ``present``, ``length`` (a nested matcher),
  ``same_as`` (another output field of the same probe).

Three fields have their own shape:
- ``headers: {Retry-After: {present: true}}`` (names are case-insensitive);
- ``json: {"$.status": 404}`` (JSON paths into the parsed body, see jsonpath.py); a
  mapping of matcher operators instead (``json: {present: false}``) judges the whole document;
- for ``repeat``/``parallel``: ``every: {...}`` (each result must match) and
  ``counts: [{where: {status: 429}, min: 3}]`` ("at least 3 of them got 429").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from lab.scenario import jsonpath
from lab.text import did_you_mean

OPERATORS = (
    "equals",
    "not",
    "in",
    "min",
    "max",
    "between",
    "about",
    "tolerance",
    "tolerance_pct",
    "contains",
    "not_contains",
    "matches",
    "present",
    "length",
    "same_as",
)


class MatcherError(ValueError):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path


@dataclass
class ExpectationOutcome:
    """One checked expectation: what was expected, what was seen, and whether it held."""

    what: str
    expected: str
    actual: Any
    ok: bool

    def to_dict(self) -> dict:
        return {
            "what": self.what,
            "expected": self.expected,
            "actual": _jsonable(self.actual),
            "ok": self.ok,
        }

    def line(self) -> str:
        return f"{self.what}: expected {self.expected}, got {short(self.actual)}"


def _jsonable(value: Any) -> Any:
    if value is jsonpath.MISSING:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def short(value: Any, limit: int = 120) -> str:
    if value is jsonpath.MISSING:
        return "nothing (missing)"
    text = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- validation ----------------------------------------------------------------------------


def validate_matcher(value: Any, path: tuple = ()) -> None:
    """Raise MatcherError when a matcher is malformed (checked before anything runs)."""
    if not isinstance(value, dict):
        return  # a plain value or a list of values
    if not value:
        raise MatcherError(path, "an empty matcher checks nothing: give a value or an operator")
    for op, arg in value.items():
        if op not in OPERATORS:
            raise MatcherError(
                path + (op,),
                f"unknown matcher {op!r}; use one of {', '.join(OPERATORS)}"
                + did_you_mean(op, OPERATORS),
            )
        where = path + (op,)
        if op in ("min", "max", "about", "tolerance", "tolerance_pct") and not _is_number(arg):
            raise MatcherError(where, f"{op} needs a number, got {arg!r}")
        if op == "between" and not (
            isinstance(arg, list) and len(arg) == 2 and all(map(_is_number, arg))
        ):
            raise MatcherError(where, f"between needs [low, high] numbers, got {arg!r}")
        if op == "between" and arg[0] > arg[1]:
            raise MatcherError(where, f"between's low end {arg[0]} is above its high end {arg[1]}")
        if op == "in" and not isinstance(arg, list):
            raise MatcherError(where, "in needs a list of allowed values")
        if op == "matches":
            try:
                re.compile(str(arg))
            except re.error as exc:
                raise MatcherError(where, f"bad regular expression {arg!r}: {exc}") from None
        if op == "present" and not isinstance(arg, bool):
            raise MatcherError(where, "present needs true or false")
        if op == "length":
            validate_matcher(arg, where)
        if op == "same_as" and not isinstance(arg, str):
            raise MatcherError(where, "same_as names another output field")
    if ("tolerance" in value or "tolerance_pct" in value) and "about" not in value:
        raise MatcherError(path, "tolerance goes with about: {about: 1.0, tolerance: 0.2}")
    if "about" in value and "tolerance" not in value and "tolerance_pct" not in value:
        raise MatcherError(
            path,
            "about needs an explicit tolerance (or tolerance_pct): tolerances live in the file",
        )


def validate_expect(expect: Any, fields: dict[str, str], path: tuple = ()) -> None:
    """Check an ``expect:`` block against the output fields a probe produces."""
    if not isinstance(expect, dict):
        raise MatcherError(
            path, f"expect must be a mapping of output field to matcher, got {expect!r}"
        )
    for key, value in expect.items():
        where = path + (key,)
        if key == "headers" and "headers" in fields:
            if not isinstance(value, dict):
                raise MatcherError(where, "headers needs a mapping: {Header-Name: matcher}")
            for name, matcher in value.items():
                validate_matcher(matcher, where + (name,))
        elif key == "json" and "json" in fields and not _is_path_map(value):
            validate_matcher(value, where)  # a matcher on the whole document
        elif key == "json" and "json" in fields:
            if not isinstance(value, dict):
                raise MatcherError(where, 'json needs a mapping: {"$.path": matcher}')
            for jpath, matcher in value.items():
                try:
                    jsonpath.parse(str(jpath))
                except jsonpath.JsonPathError as exc:
                    raise MatcherError(where + (jpath,), str(exc)) from None
                validate_matcher(matcher, where + (jpath,))
        elif key in ("every", "counts") and "results" in fields:
            item_fields = fields.get("__item_fields__") or {}
            if key == "every":
                validate_expect(value, item_fields, where)
            else:
                if not isinstance(value, list):
                    raise MatcherError(
                        where, "counts needs a list: [{where: {status: 429}, min: 3}]"
                    )
                for i, rule in enumerate(value):
                    if not isinstance(rule, dict) or "where" not in rule:
                        raise MatcherError(
                            where + (i,), "each count needs where: {...} and min/max/equals"
                        )
                    validate_expect(rule["where"], item_fields, where + (i, "where"))
                    rest = {k: v for k, v in rule.items() if k != "where"}
                    if not rest:
                        raise MatcherError(
                            where + (i,), "say how many: min, max, equals or between"
                        )
                    validate_matcher(rest, where + (i,))
        elif key in fields and not key.startswith("__"):
            validate_matcher(value, where)
        else:
            known = [f for f in fields if not f.startswith("__")]
            raise MatcherError(
                where,
                f"unknown expectation {key!r}; this probe reports: {', '.join(sorted(known))}"
                + did_you_mean(key, known),
            )


def _is_path_map(value: Any) -> bool:
    """``json: {"$.a": 1}`` maps paths to matchers; ``json: {present: false}`` (operators
    only) is a matcher on the whole document."""
    if not isinstance(value, dict) or not value:
        return False
    return not all(k in OPERATORS for k in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- matching ------------------------------------------------------------------------------


def describe(matcher: Any) -> str:
    if isinstance(matcher, list):
        return "one of " + ", ".join(short(m) for m in matcher)
    if not isinstance(matcher, dict):
        return short(matcher)
    parts = []
    for op, arg in matcher.items():
        if op in ("tolerance", "tolerance_pct"):
            continue
        if op == "about":
            tol = (
                f"±{matcher['tolerance']:g}"
                if "tolerance" in matcher
                else f"±{matcher['tolerance_pct']:g}%"
            )
            parts.append(f"about {arg:g} {tol}")
        elif op == "between":
            parts.append(f"between {arg[0]:g} and {arg[1]:g}")
        elif op == "min":
            parts.append(f">= {arg:g}")
        elif op == "max":
            parts.append(f"<= {arg:g}")
        elif op == "present":
            parts.append("present" if arg else "absent")
        elif op == "length":
            parts.append(f"length {describe(arg)}")
        else:
            parts.append(f"{op} {short(arg)}")
    return " and ".join(parts)


def matches(matcher: Any, actual: Any, output: dict | None = None) -> bool:
    if isinstance(matcher, list):
        return any(_equal(actual, m) for m in matcher)
    if not isinstance(matcher, dict):
        return _equal(actual, matcher)
    return all(_operator(op, arg, matcher, actual, output or {}) for op, arg in matcher.items())


def _equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _is_number(expected):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(actual, str) and _is_number(expected):
        return actual.strip() == str(expected)
    if isinstance(actual, bytes) and isinstance(expected, str):
        return actual == expected.encode()
    return actual == expected


def _number(actual: Any) -> float | None:
    if _is_number(actual):
        return float(actual)
    if isinstance(actual, str):
        try:
            return float(actual)
        except ValueError:
            return None
    return None


def _operator(op: str, arg: Any, matcher: dict, actual: Any, output: dict) -> bool:
    present = actual is not jsonpath.MISSING and actual is not None
    if op == "present":
        return present == arg
    if op in ("tolerance", "tolerance_pct"):
        return True
    if op == "equals":
        return _equal(actual, arg)
    if op == "not":
        return not matches(arg, actual, output)
    if op == "in":
        return any(_equal(actual, a) for a in arg)
    if op in ("min", "max", "between", "about"):
        number = _number(actual)
        if number is None:
            return False
        if op == "min":
            return number >= arg
        if op == "max":
            return number <= arg
        if op == "between":
            return arg[0] <= number <= arg[1]
        tol = matcher.get("tolerance")
        if tol is None:
            tol = abs(arg) * matcher.get("tolerance_pct", 0) / 100.0
        return abs(number - arg) <= tol
    if op in ("contains", "not_contains"):
        if not present:
            return op == "not_contains"
        if isinstance(actual, list | dict):
            found = arg in actual
        else:
            text = actual.decode("utf-8", "replace") if isinstance(actual, bytes) else str(actual)
            found = str(arg) in text
        return found if op == "contains" else not found
    if op == "matches":
        if not present:
            return False
        text = actual.decode("utf-8", "replace") if isinstance(actual, bytes) else str(actual)
        return re.search(str(arg), text) is not None
    if op == "length":
        try:
            return present and matches(arg, len(actual), output)
        except TypeError:
            return False
    if op == "same_as":
        return _equal(actual, output.get(arg, jsonpath.MISSING))
    raise ValueError(f"unknown matcher {op!r}")


def _header(headers: Any, name: str) -> Any:
    """Case-insensitive header lookup; repeated headers are joined with ', ' as RFC 9110 allows."""
    if not isinstance(headers, dict):
        return jsonpath.MISSING
    values = [str(v) for k, v in headers.items() if str(k).lower() == name.lower()]
    if not values:
        return jsonpath.MISSING
    return ", ".join(values)


def holds(expect: dict, output: dict) -> bool:
    """Whether every expectation holds: ``check`` without the descriptions, for the many
    results of a repeat."""
    for key, matcher in expect.items():
        if key == "headers":
            ok = all(
                matches(m, _header(output.get("headers"), str(n)), output)
                for n, m in matcher.items()
            )
        elif key in ("json", "every", "counts"):
            ok = all(o.ok for o in check({key: matcher}, output))
        else:
            ok = matches(matcher, output.get(key, jsonpath.MISSING), output)
        if not ok:
            return False
    return True


def check(expect: dict, output: dict) -> list[ExpectationOutcome]:
    """Every expectation in ``expect`` checked against ``output``, in file order."""
    outcomes: list[ExpectationOutcome] = []
    for key, matcher in expect.items():
        if key == "headers":
            for name, m in matcher.items():
                actual = _header(output.get("headers"), str(name))
                outcomes.append(
                    ExpectationOutcome(
                        f"header {name}", describe(m), actual, matches(m, actual, output)
                    )
                )
        elif key == "json" and not _is_path_map(matcher):
            actual = output.get("json", jsonpath.MISSING)
            outcomes.append(
                ExpectationOutcome(
                    "json", describe(matcher), actual, matches(matcher, actual, output)
                )
            )
        elif key == "json":
            document = output.get("json", jsonpath.MISSING)
            for jpath, m in matcher.items():
                actual = (
                    jsonpath.evaluate(str(jpath), document)
                    if document is not jsonpath.MISSING
                    else jsonpath.MISSING
                )
                outcomes.append(
                    ExpectationOutcome(
                        f"json {jpath}", describe(m), actual, matches(m, actual, output)
                    )
                )
        elif key == "every":
            results = output.get("results") or []
            bad = [i for i, r in enumerate(results) if not holds(matcher, r)]
            actual = f"{len(results) - len(bad)} of {len(results)} matched" + (
                f" (first miss: #{bad[0] + 1}: {_summary(results[bad[0]])})" if bad else ""
            )
            outcomes.append(
                ExpectationOutcome(
                    "every result", _describe_expect(matcher), actual, not bad and bool(results)
                )
            )
        elif key == "counts":
            results = output.get("results") or []
            for rule in matcher:
                how_many = {k: v for k, v in rule.items() if k != "where"}
                n = sum(1 for r in results if holds(rule["where"], r))
                outcomes.append(
                    ExpectationOutcome(
                        f"count of results with {_describe_expect(rule['where'])}",
                        describe(how_many),
                        n,
                        matches(how_many, n, output),
                    )
                )
        else:
            actual = output.get(key, jsonpath.MISSING)
            outcomes.append(
                ExpectationOutcome(key, describe(matcher), actual, matches(matcher, actual, output))
            )
    return outcomes


def _describe_expect(expect: dict) -> str:
    return ", ".join(f"{k} {describe(v)}" for k, v in expect.items())


def _summary(result: dict) -> str:
    keys = ("status", "error", "elapsed")
    return ", ".join(f"{k}={short(result[k])}" for k in keys if k in result)
