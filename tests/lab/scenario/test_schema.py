"""Scenario files: validation errors carry file, line, column and a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scenario.schema import ScenarioFileError
from tests.lab.scenario.helpers import load, write

GOOD = """
name: good
summary: a good scenario
lesson: it teaches something.
tags: [demo]
vars: {t: 1.5, host: "127.0.0.1:9"}
steps:
  - name: one request
    http: {target: "${host}", path: /x, timeout: "${t}"}
    expect:
      status: 200
      elapsed: {max: 2}
"""


def problems(tmp_path: Path, text: str, overrides: dict | None = None) -> list[str]:
    with pytest.raises(ScenarioFileError) as info:
        load(tmp_path, text, overrides)
    return [str(p) for p in info.value.problems]


def test_a_good_file_loads_with_variables_substituted(tmp_path: Path) -> None:
    scenario = load(tmp_path, GOOD)
    assert scenario.name == "good"
    assert scenario.theme == "tests"
    step = scenario.steps[0]
    assert step.kind == "http"
    assert step.spec["timeout"] == 1.5  # a whole-string ${t} keeps the number type
    assert step.spec["target"] == "127.0.0.1:9"
    assert step.position.line == 7  # the step's line in the file
    assert step.bound == 30.0


def test_set_overrides_a_variable_with_its_yaml_type(tmp_path: Path) -> None:
    scenario = load(tmp_path, GOOD, {"t": 0.25})
    assert scenario.steps[0].spec["timeout"] == 0.25


def test_unknown_key_gets_line_column_and_did_you_mean(tmp_path: Path) -> None:
    text = GOOD.replace("    expect:\n", "    expcet:\n")
    [message] = problems(tmp_path, text)
    path = str(tmp_path / "tests" / "scenario.yaml")
    assert message.startswith(f"{path}:9:5: ")
    assert "unknown key 'expcet'" in message
    assert "did you mean 'expect'?" in message


def test_unknown_probe_kind_suggests_the_right_one(tmp_path: Path) -> None:
    text = GOOD.replace("    http: {", "    htp: {")
    messages = problems(tmp_path, text)
    assert any(":8:5:" in m and "did you mean 'http'?" in m for m in messages), messages


def test_wrong_type_names_what_was_expected(tmp_path: Path) -> None:
    text = GOOD.replace('timeout: "${t}"', "timeout: soon")
    [message] = problems(tmp_path, text)
    assert ":8:" in message
    assert "timeout" in message and "a number" in message and "'soon'" in message


def test_unknown_expectation_field_lists_what_the_probe_reports(tmp_path: Path) -> None:
    text = GOOD.replace("      status: 200", "      stauts: 200")
    [message] = problems(tmp_path, text)
    assert ":10:7:" in message
    assert "unknown expectation 'stauts'" in message and "did you mean 'status'?" in message


def test_bad_matcher_operator(tmp_path: Path) -> None:
    text = GOOD.replace("{max: 2}", "{maxx: 2}")
    [message] = problems(tmp_path, text)
    assert (
        ":11:" in message
        and "unknown matcher 'maxx'" in message
        and "did you mean 'max'?" in message
    )


def test_about_without_tolerance_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("{max: 2}", "{about: 1}")
    [message] = problems(tmp_path, text)
    assert "explicit tolerance" in message


def test_missing_required_keys_are_all_reported(tmp_path: Path) -> None:
    messages = problems(tmp_path, "name: x\nsteps: []\n")
    text = "\n".join(messages)
    assert "missing 'summary'" in text and "missing 'lesson'" in text
    assert "at least 1 item" in text


def test_unknown_variable(tmp_path: Path) -> None:
    text = GOOD.replace('"${t}"', '"${tt}"')
    [message] = problems(tmp_path, text)
    assert (
        ":8:" in message and "unknown variable ${tt}" in message and "did you mean 't'?" in message
    )


def test_unknown_target_and_placeholder_target(tmp_path: Path) -> None:
    text = GOOD.replace('target: "${host}"', "target: restapi.via_proxi")
    [message] = problems(tmp_path, text)
    assert (
        "unknown target 'restapi.via_proxi'" in message
        and "did you mean 'restapi.via_proxy'?" in message
    )
    text = GOOD.replace('target: "${host}", path: /x', 'url: "${url:rawhttpp}/x"')
    [message] = problems(tmp_path, text)
    assert "${url:rawhttpp}" in message and "did you mean 'rawhttp'?" in message


def test_toxic_type_and_proxy_typos(tmp_path: Path) -> None:
    text = GOOD.replace(
        "steps:\n",
        "setup:\n  - toxic:\n      add: {proxy: restapy, type: latancy}\nsteps:\n",
    )
    messages = "\n".join(problems(tmp_path, text))
    assert ":8:" in messages
    assert "did you mean 'latency'?" in messages
    assert "no proxy named 'restapy'" in messages and "did you mean 'restapi'?" in messages


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    [message] = problems(tmp_path, "name: x\nsteps: [\n  - a\n")
    assert "YAML syntax error" in message and (":3:" in message or ":4:" in message)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("tags: [demo]\n", "tags: [demo]\nname: again\n")
    [message] = problems(tmp_path, text)
    assert ":5:1:" in message and "duplicate key 'name'" in message


def test_on_is_a_word_not_a_boolean(tmp_path: Path) -> None:
    text = GOOD.replace('timeout: "${t}"}', "timeout: 1, retries: {max: 2, on: [429, reset]}}")
    scenario = load(tmp_path, text)
    assert scenario.steps[0].spec["retries"]["on"] == [429, "reset"]


def test_step_needs_exactly_one_probe(tmp_path: Path) -> None:
    text = GOOD.replace("    http: {", "    sleep: 1\n    http: {")
    [message] = problems(tmp_path, text)
    assert "use only one of" in message


def test_repeat_validates_its_inner_probe_and_item_expectations(tmp_path: Path) -> None:
    text = """
    name: r
    summary: s
    lesson: l
    steps:
      - repeat:
          count: 3
          http: {target: rawhttp, path: /, timeout: 1, methd: GET}
        expect:
          counts:
            - where: {statsu: 429}
              min: 1
    """
    messages = "\n".join(problems(tmp_path, text))
    assert "unknown key 'methd'" in messages and "did you mean 'method'?" in messages
    assert "unknown expectation 'statsu'" in messages


def test_needs_only_known_capabilities(tmp_path: Path) -> None:
    text = GOOD.replace("tags: [demo]\n", "tags: [demo]\nneeds: [partiton]\n")
    [message] = problems(tmp_path, text)
    assert "did you mean 'partition'?" in message


def test_every_library_scenario_is_valid() -> None:
    from lab.scenario.library import load_all

    loaded = load_all()
    assert not loaded.errors, "\n".join(str(e) for e in loaded.errors)
    themes = {s.theme for s in loaded.scenarios}
    assert {"timeouts", "transport", "errors", "ratelimits", "outages", "bandwidth"} <= themes
    assert any("partition" in s.needs for s in loaded.scenarios)


def test_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    from lab.scenario.model import load_scenario

    with pytest.raises(ScenarioFileError, match="must be a mapping"):
        load_scenario(path)
