"""Variables, --set overrides and run-time target placeholders."""

from __future__ import annotations

import pytest

from lab.scenario.variables import (
    VariableError,
    parse_overrides,
    resolve_runtime,
    runtime_placeholders,
    substitute,
)


def test_overrides_keep_yaml_types() -> None:
    assert parse_overrides(
        ["rate=200", "ratio=0.5", "on=on", "flag=true", "name=restapi", "empty="]
    ) == {
        "rate": 200,
        "ratio": 0.5,
        "on": "on",  # a word, not YAML 1.1's boolean
        "flag": True,
        "name": "restapi",
        "empty": "",
    }
    assert parse_overrides(["text={a: 1}"]) == {"text": "{a: 1}"}  # only scalars
    for bad in ("novalue", "=3", "two words=1"):
        with pytest.raises(ValueError, match="key=value"):
            parse_overrides([bad])


def test_substitute_whole_and_interpolated() -> None:
    data = {"a": "${n}", "b": "n is ${n}", "c": ["${s}"], "d": "$${n} stays", "e": "${url:restapi}"}
    out = substitute(data, {"n": 3, "s": "x"})
    assert out == {"a": 3, "b": "n is 3", "c": ["x"], "d": "${n} stays", "e": "${url:restapi}"}


def test_unknown_names_raise_with_the_path() -> None:
    with pytest.raises(VariableError) as info:
        substitute({"steps": [{"x": "${nn}"}]}, {"n": 1})
    assert info.value.path == ("steps", 0, "x") and "did you mean 'n'?" in str(info.value)
    with pytest.raises(VariableError, match="unknown placeholder kind 'adr'"):
        substitute({"x": "${adr:rawhttp}"}, {})


def test_runtime_placeholders_resolve_through_a_function() -> None:
    data = {"url": "${url:restapi}/x", "port": "${port:rawhttp}", "t": "${started}"}
    assert runtime_placeholders(data) == [
        (("url",), "url:restapi"),
        (("port",), "port:rawhttp"),
        (("t",), "started"),
    ]

    def resolve(kind: str, target: str) -> object:
        return {"url": "http://127.0.0.1:1", "port": 8080, "started": 12.5}[kind]

    assert resolve_runtime(data, resolve) == {
        "url": "http://127.0.0.1:1/x",
        "port": 8080,
        "t": 12.5,
    }
