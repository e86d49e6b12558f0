"""Load YAML with positions and validate it against a small declarative schema.

Every problem is reported as ``file:line:column: what is wrong, what was expected``, with
a "did you mean" when a key or value is close to a known one. All problems in a file are
collected, so an author fixes them in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from lab.text import did_you_mean

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Position:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Problem:
    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class ScenarioFileError(Exception):
    """One or more problems in a scenario file; ``str()`` lists them all, one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# -- loading with marks -----------------------------------------------------------------


@dataclass
class Marked:
    """Parsed YAML plus where each value (and each mapping key) sits in the file."""

    data: Any
    file: str
    value_marks: dict[Path, Position] = field(default_factory=dict)
    key_marks: dict[Path, Position] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = False) -> Position:
        """The closest known position: the key itself, else the value, else a parent."""
        probe = tuple(path)
        while True:
            if key and probe in self.key_marks:
                return self.key_marks[probe]
            if probe in self.value_marks:
                return self.value_marks[probe]
            if probe in self.key_marks:
                return self.key_marks[probe]
            if not probe:
                return Position(self.file, 1, 1)
            probe = probe[:-1]


def _pos(file: str, mark: yaml.Mark) -> Position:
    return Position(file, mark.line + 1, mark.column + 1)


class ScenarioLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans.

    YAML 1.1 reads ``on``, ``off``, ``yes`` and ``no`` as booleans, so ``on: [429]`` in a
    retry policy would silently become ``True: [429]``.
    """


ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_marked(text: str, file: str) -> Marked:
    """Parse one YAML document, keeping the position of every node.

    Raises ScenarioFileError for YAML syntax errors and duplicate keys (PyYAML would
    silently keep the last one, hiding a typo).
    """
    loader = ScenarioLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = _pos(file, mark) if mark else Position(file, 1, 1)
            raise ScenarioFileError(
                [Problem(where, f"YAML syntax error: {exc.problem or exc}")]
            ) from None
        except yaml.YAMLError as exc:
            raise ScenarioFileError([Problem(Position(file, 1, 1), f"YAML error: {exc}")]) from None
        marked = Marked(None, file)
        problems: list[Problem] = []

        def convert(n: yaml.Node, path: Path) -> Any:
            marked.value_marks[path] = _pos(file, n.start_mark)
            if isinstance(n, yaml.MappingNode):
                loader.flatten_mapping(n)
                out: dict[Any, Any] = {}
                for key_node, value_node in n.value:
                    key = loader.construct_object(key_node, deep=True)
                    if not isinstance(key, str | int | float | bool) or key is None:
                        problems.append(
                            Problem(_pos(file, key_node.start_mark), "a key must be a plain word")
                        )
                        continue
                    if key in out:
                        problems.append(
                            Problem(
                                _pos(file, key_node.start_mark),
                                f"duplicate key {key!r} (the first one would be ignored)",
                            )
                        )
                        continue
                    marked.key_marks[path + (key,)] = _pos(file, key_node.start_mark)
                    out[key] = convert(value_node, path + (key,))
                return out
            if isinstance(n, yaml.SequenceNode):
                return [convert(item, path + (i,)) for i, item in enumerate(n.value)]
            return loader.construct_object(n, deep=True)

        try:
            marked.data = convert(node, ()) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problems.append(
                Problem(
                    _pos(file, mark) if mark else Position(file, 1, 1), f"YAML error: {exc.problem}"
                )
            )
        if problems:
            raise ScenarioFileError(problems)
        return marked
    finally:
        loader.dispose()


# -- schema -------------------------------------------------------------------------------


class Report:
    """Collects problems against a Marked document."""

    def __init__(self, marked: Marked):
        self.marked = marked
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str, *, key: bool = False) -> None:
        self.problems.append(Problem(self.marked.position(path, key=key), message))


def describe_path(path: Path) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "the file"


def _is_placeholder(value: Any) -> bool:
    """A runtime placeholder such as ``${port:rawhttp}`` cannot be type-checked yet."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


class Schema:
    expected: str = "a value"

    def check(self, value: Any, path: Path, report: Report) -> None:
        raise NotImplementedError


class AnyValue(Schema):
    expected = "any value"

    def check(self, value: Any, path: Path, report: Report) -> None:
        return None


@dataclass
class Scalar(Schema):
    types: tuple[type, ...]
    expected: str
    minimum: float | None = None
    maximum: float | None = None
    predicate: Callable[[Any], str | None] | None = None  # returns a problem or None

    def check(self, value: Any, path: Path, report: Report) -> None:
        if _is_placeholder(value):
            return
        ok = isinstance(value, self.types) and not (
            isinstance(value, bool) and bool not in self.types
        )
        if not ok:
            report.add(
                path,
                f"{describe_path(path)} must be {self.expected}, got {type(value).__name__} {value!r}",
            )
            return
        if self.minimum is not None and value < self.minimum:
            report.add(
                path, f"{describe_path(path)} must be at least {self.minimum:g}, got {value!r}"
            )
        if self.maximum is not None and value > self.maximum:
            report.add(
                path, f"{describe_path(path)} must be at most {self.maximum:g}, got {value!r}"
            )
        if self.predicate is not None:
            problem = self.predicate(value)
            if problem:
                report.add(path, f"{describe_path(path)}: {problem}")


def Str(predicate: Callable[[Any], str | None] | None = None) -> Scalar:
    return Scalar((str,), "a string", predicate=predicate)


def Int(minimum: float | None = None, maximum: float | None = None) -> Scalar:
    return Scalar((int,), "a whole number", minimum, maximum)


def Num(minimum: float | None = None, maximum: float | None = None) -> Scalar:
    return Scalar((int, float), "a number", minimum, maximum)


def Bool() -> Scalar:
    return Scalar((bool,), "true or false")


@dataclass
class Choice(Schema):
    choices: tuple[Any, ...]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(str(c) for c in self.choices)

    def check(self, value: Any, path: Path, report: Report) -> None:
        if _is_placeholder(value) or value in self.choices:
            return
        report.add(
            path,
            f"{describe_path(path)}: {value!r} is not one of {', '.join(map(str, self.choices))}"
            + did_you_mean(value, map(str, self.choices)),
        )


@dataclass
class ListOf(Schema):
    item: Schema
    min_items: int = 0
    allow_single: bool = False  # `tags: fast` is read as `tags: [fast]`

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a list of {self.item.expected}"

    def check(self, value: Any, path: Path, report: Report) -> None:
        if not isinstance(value, list):
            if self.allow_single:
                self.item.check(value, path, report)
                return
            report.add(
                path, f"{describe_path(path)} must be {self.expected}, got {type(value).__name__}"
            )
            return
        if len(value) < self.min_items:
            report.add(path, f"{describe_path(path)} needs at least {self.min_items} item(s)")
        for i, item in enumerate(value):
            self.item.check(item, path + (i,), report)


@dataclass
class AnyOf(Schema):
    options: tuple[Schema, ...]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return " or ".join(o.expected for o in self.options)

    def check(self, value: Any, path: Path, report: Report) -> None:
        best: list[Problem] | None = None
        for option in self.options:
            trial = Report(report.marked)
            option.check(value, path, trial)
            if not trial.problems:
                return
            # Prefer the option whose shape matched (same container type) for the message.
            if best is None or _same_shape(option, value):
                best = trial.problems
        if best:
            report.problems.extend(best)


def _same_shape(option: Schema, value: Any) -> bool:
    return (isinstance(option, Fields) and isinstance(value, dict)) or (
        isinstance(option, ListOf) and isinstance(value, list)
    )


@dataclass
class Fields(Schema):
    """A mapping with known keys; ``extra`` validates any other key (None: none allowed)."""

    fields: dict[str, Schema]
    required: tuple[str, ...] = ()
    extra: Schema | None = None
    exclusive: tuple[tuple[str, ...], ...] = ()  # groups where at most one key may appear
    one_of: tuple[str, ...] = ()  # exactly one of these keys must appear
    expected: str = "a mapping"
    check_extra_key: Callable[[Any], str | None] | None = None

    def check(self, value: Any, path: Path, report: Report) -> None:
        if not isinstance(value, dict):
            report.add(
                path,
                f"{describe_path(path)} must be {self.expected}, got {type(value).__name__} {value!r}",
            )
            return
        for name in self.required:
            if name not in value:
                report.add(
                    path, f"{describe_path(path) if path else 'the scenario'} is missing {name!r}"
                )
        for group in self.exclusive:
            present = [k for k in group if k in value]
            if len(present) > 1:
                report.add(path + (present[1],), f"use only one of {', '.join(present)}", key=True)
        if self.one_of:
            present = [k for k in self.one_of if k in value]
            if not present:
                unknown = [k for k in value if k not in self.fields]
                hint = did_you_mean(unknown[0], self.one_of) if unknown else ""
                report.add(
                    path,
                    f"{describe_path(path) or 'this'} needs one of: {', '.join(self.one_of)}{hint}",
                )
            elif len(present) > 1:
                report.add(
                    path + (present[1],), f"use only one of {', '.join(present)} per item", key=True
                )
        for key, item in value.items():
            schema = self.fields.get(key) if isinstance(key, str) else None
            if schema is None and self.extra is not None:
                problem = self.check_extra_key(key) if self.check_extra_key else None
                if problem:
                    report.add(path + (key,), problem, key=True)
                    continue
                schema = self.extra
            if schema is None:
                report.add(
                    path + (key,),
                    f"unknown key {key!r} in {describe_path(path) or 'the scenario'}; expected one of: "
                    f"{', '.join(sorted(self.fields))}" + did_you_mean(key, self.fields),
                    key=True,
                )
                continue
            schema.check(item, path + (key,), report)


@dataclass
class Custom(Schema):
    """Validation by a function returning a list of (subpath, message)."""

    func: Callable[[Any], list[tuple[Path, str]]]
    expected: str = "a value"

    def check(self, value: Any, path: Path, report: Report) -> None:
        for sub, message in self.func(value):
            report.add(path + tuple(sub), message, key=bool(sub))


@dataclass
class Lazy(Schema):
    """A schema built on first use (breaks import cycles between probe modules)."""

    factory: Callable[[], Schema]
    expected: str = "a value"

    def check(self, value: Any, path: Path, report: Report) -> None:
        self.factory().check(value, path, report)
