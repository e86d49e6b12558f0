"""A scenario file, validated and turned into Scenario and Step objects.

Shape (see docs/scenarios.md for the reference)::

    name: read-timeout-latency
    summary: A latency toxic trips a read timeout
    tags: [timeouts, http]
    lesson: One or two sentences printed with the result.
    needs: [partition]          # backend capabilities; skipped with a reason otherwise
    vars: {timeout: 1.0}        # ${timeout}; overridable with --set timeout=2
    setup:   [steps...]         # faults and settings; a failure here is an error
    steps:   [steps...]         # probes with expectations
    teardown: [steps...]        # always runs, before the rollback

A step is a mapping with exactly one probe key (http, tcp, udp, line, ws, repeat,
parallel, service, toxic, proxy, sleep, exec) and optionally ``name``, ``expect``,
``bound`` (seconds before the scenario cuts the probe), ``delay`` and ``hint`` (shown
when the step fails).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.scenario import schema as s
from lab.scenario.expectations import MatcherError, validate_expect
from lab.scenario.probes import PROBES, outputs_for
from lab.scenario.variables import VariableError, runtime_placeholders, substitute
from lab.targets import TargetError, split_host_port
from lab.text import did_you_mean
from services.common.paths import REPO_ROOT
from services.ports import all_endpoint_names

# What a scenario may need from a backend (``needs:``). The service actions, plus
# ``raw-transport``: a client's socket talks to the proxy or service directly, so a refused
# connection, a peer's RST and a burst of UDP datagrams are seen as they happen (not
# through a middleman such as docker-proxy, which accepts every connection itself).
CAPABILITIES = ("pause", "resume", "stop", "start", "partition", "heal", "raw-transport")
DEFAULT_BOUND = 30.0  # seconds; a probe still running after this is cut ("hung")
DEFAULT_SCENARIO_TIMEOUT = 120.0


@dataclass
class Step:
    name: str
    kind: str
    spec: Any
    expect: dict
    bound: float
    delay: float
    position: s.Position
    phase: str = "steps"
    hint: str = ""  # shown when the step fails (exercise checks use it)
    children: list[Step] = field(default_factory=list)  # parallel's steps


@dataclass
class Scenario:
    name: str
    summary: str
    lesson: str
    tags: list[str]
    needs: list[str]
    setup: list[Step]
    steps: list[Step]
    teardown: list[Step]
    path: Path
    theme: str
    variables: dict[str, Any]
    timeout: float = DEFAULT_SCENARIO_TIMEOUT


def _step_schema() -> s.Schema:
    common: dict[str, s.Schema] = {
        "name": s.Str(),
        "expect": s.AnyValue(),  # checked against the probe's outputs below
        "bound": s.Num(0.01, 3600),
        "delay": s.Num(0, 600),
        "hint": s.Str(),
    }
    fields = dict(common)
    for kind, module in PROBES.items():
        fields[kind] = s.Lazy(_step_list) if kind == "parallel" else module.SCHEMA
    return s.Fields(
        fields, one_of=tuple(PROBES), expected="a step: {<probe kind>: {...}, expect: {...}}"
    )


def _step_list() -> s.Schema:
    return s.ListOf(STEP, min_items=2)


STEP = s.Lazy(_step_schema)
STEPS = s.ListOf(STEP)

SCENARIO_SCHEMA = s.Fields(
    {
        "name": s.Str(
            lambda v: (
                None
                if v.replace("-", "").replace("_", "").isalnum()
                else "use letters, digits, - and _"
            )
        ),
        "summary": s.Str(),
        "lesson": s.Str(),
        "tags": s.ListOf(s.Str(), allow_single=True),
        "needs": s.ListOf(s.Choice(CAPABILITIES), allow_single=True),
        "vars": s.Fields({}, extra=s.AnyValue()),
        "timeout": s.Num(1, 3600),
        "setup": STEPS,
        "steps": s.ListOf(STEP, min_items=1),
        "teardown": STEPS,
    },
    required=("name", "summary", "lesson", "steps"),
    expected="a scenario mapping",
)


def builtin_variables(path: Path) -> dict[str, Any]:
    return {
        "python": sys.executable,
        "scenario_dir": str(path.parent.resolve()),
        "repo": str(REPO_ROOT),
    }


def _target_problem(value: Any) -> str | None:
    if not isinstance(value, str) or value.startswith("${"):
        return None
    try:
        if split_host_port(value) is not None:
            return None
    except TargetError as exc:
        return str(exc)
    names = all_endpoint_names()
    if value in names:
        return None
    return (
        f"unknown target {value!r}: use a lab endpoint ({', '.join(names)}) or HOST:PORT"
        + did_you_mean(value, names)
    )


def _check_targets(data: Any, path: tuple, report: s.Report) -> None:
    """Every ``target:`` anywhere in the steps must name an endpoint or HOST:PORT."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "target":
                problem = _target_problem(value)
                if problem:
                    report.add(path + (key,), problem)
            elif key == "targets" and isinstance(value, dict):
                for var, target in value.items():
                    problem = _target_problem(target)
                    if problem:
                        report.add(path + (key, var), problem)
            else:
                _check_targets(value, path + (key,), report)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            _check_targets(item, path + (i,), report)


def _check_expectations(steps: Any, path: tuple, report: s.Report) -> None:
    if not isinstance(steps, list):
        return
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        kinds = [k for k in PROBES if k in step]
        if len(kinds) != 1:
            continue
        kind = kinds[0]
        if kind == "parallel":
            _check_expectations(step[kind], path + (i, kind), report)
        if "expect" in step:
            try:
                validate_expect(step["expect"], outputs_for(kind, step[kind]), ())
            except MatcherError as exc:
                report.add(path + (i, "expect") + exc.path, str(exc), key=bool(exc.path))


def validate_document(marked: s.Marked, overrides: dict[str, Any] | None = None) -> dict:
    """The substituted, validated document; raises ScenarioFileError with every problem."""
    data = marked.data
    report = s.Report(marked)
    if not isinstance(data, dict):
        report.add(
            (),
            f"a scenario file must be a mapping (name, summary, lesson, steps), got {type(data).__name__}",
        )
        raise s.ScenarioFileError(report.problems)
    declared = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    variables = {**builtin_variables(Path(marked.file)), **declared}
    variables.update(
        {k: v for k, v in (overrides or {}).items() if k in declared or k not in variables}
    )
    try:
        body = {k: v for k, v in data.items() if k != "vars"}
        data = {**substitute(body, variables), "vars": declared}
    except VariableError as exc:
        report.add(exc.path, str(exc))
        raise s.ScenarioFileError(report.problems) from None
    SCENARIO_SCHEMA.check(data, (), report)
    for phase in ("setup", "steps", "teardown"):
        _check_expectations(data.get(phase), (phase,), report)
        _check_targets(data.get(phase), (phase,), report)
    for path, name in runtime_placeholders(
        {k: data.get(k) for k in ("setup", "steps", "teardown")}
    ):
        kind, _, target = name.partition(":")
        if target and _target_problem(target):
            report.add(path, f"${{{name}}}: {_target_problem(target)}")
    if report.problems:
        raise s.ScenarioFileError(report.problems)
    data["__variables__"] = variables
    return data


def default_step_name(kind: str, spec: Any) -> str:
    if kind == "http" and isinstance(spec, dict):
        where = spec.get("url") or f"{spec.get('target')}{spec.get('path', '/')}"
        return f"{str(spec.get('method', 'GET')).upper()} {where}"
    if kind in ("tcp", "line", "ws", "udp") and isinstance(spec, dict):
        return f"{kind} {spec.get('target')}"
    if kind == "toxic" and isinstance(spec, dict):
        action = next(iter(spec))
        detail = spec[action]
        return f"{action} toxic {detail.get('type') or detail.get('name')} on {detail.get('proxy')}"
    if kind in ("service", "proxy") and isinstance(spec, dict):
        action, target = next(iter(spec.items()))
        return f"{action} {target}"
    if kind == "sleep":
        return f"sleep {spec}s"
    if kind == "repeat" and isinstance(spec, dict):
        inner = next((k for k in PROBES if k in spec), "?")
        return f"{spec.get('count')}x {default_step_name(inner, spec.get(inner))}"
    if kind == "exec" and isinstance(spec, dict):
        run = spec.get("run")
        return "run " + (" ".join(map(str, run)) if isinstance(run, list) else str(run))
    return kind


def build_step(raw: dict, phase: str, path: tuple, marked: s.Marked) -> Step:
    kind = next(k for k in PROBES if k in raw)
    children = []
    spec = raw[kind]
    if kind == "parallel":
        children = [
            build_step(item, phase, path + (kind, i), marked) for i, item in enumerate(spec)
        ]
        spec = children
    return Step(
        name=raw.get("name") or default_step_name(kind, raw[kind]),
        kind=kind,
        spec=spec,
        expect=raw.get("expect") or {},
        bound=float(raw.get("bound", DEFAULT_BOUND)),
        delay=float(raw.get("delay", 0.0)),
        position=marked.position(path),
        phase=phase,
        hint=" ".join(str(raw.get("hint", "")).split()),
        children=children,
    )


def load_scenario(
    path: Path, overrides: dict[str, Any] | None = None, theme: str | None = None
) -> Scenario:
    """Read, validate and build one scenario. Raises ScenarioFileError with positions."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise s.ScenarioFileError(
            [s.Problem(s.Position(file, 1, 1), f"cannot read the file: {exc}")]
        ) from None
    marked = s.load_marked(text, file)
    data = validate_document(marked, overrides)

    def steps(phase: str) -> list[Step]:
        return [
            build_step(raw, phase, (phase, i), marked)
            for i, raw in enumerate(data.get(phase) or [])
        ]

    tags = data.get("tags") or []
    needs = data.get("needs") or []
    return Scenario(
        name=data["name"],
        summary=data["summary"],
        lesson=" ".join(str(data["lesson"]).split()),
        tags=tags if isinstance(tags, list) else [tags],
        needs=needs if isinstance(needs, list) else [needs],
        setup=steps("setup"),
        steps=steps("steps"),
        teardown=steps("teardown"),
        path=path,
        theme=theme or path.parent.name,
        variables=data["__variables__"],
        timeout=float(data.get("timeout", DEFAULT_SCENARIO_TIMEOUT)),
    )
