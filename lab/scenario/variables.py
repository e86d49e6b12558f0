"""``${name}`` variables in scenario files, and ``--set key=value`` overrides.

Two stages, because validation must not need a running lab:
- at load time, ``${name}`` is replaced by the scenario's ``vars`` (overridden by
  ``--set``) and by the built-ins (``python``, ``scenario_dir``, ``repo``);
- at run time, target placeholders are resolved through the backend:
  ``${addr:T}`` (host:port), ``${host:T}``, ``${port:T}``, ``${url:T}`` (http://host:port),
  ``${ws:T}`` (ws://host:port), ``${ca}`` (the lab CA file) and ``${started}`` (the
  scenario's start as unix time, for ``/_lab/requests?since=${started}``).
A string that is exactly one ``${name}`` takes the variable's type (a number stays a
number); inside a longer string it is interpolated. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from lab.text import did_you_mean

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
RUNTIME_KINDS = ("addr", "host", "port", "url", "ws")
RUNTIME_NAMES = ("ca", "started")


class VariableError(ValueError):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["rate=200", "target=restapi"]`` -> ``{"rate": 200, "target": "restapi"}``.

    Values are read as YAML scalars, so numbers and booleans keep their type.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            raise ValueError(f"--set expects key=value with a plain key, got {item!r}")
        try:
            from lab.scenario.schema import ScenarioLoader

            value = yaml.load(raw, Loader=ScenarioLoader) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key] = raw if isinstance(value, dict | list) else value
    return out


def is_runtime(name: str) -> bool:
    kind, sep, _ = name.partition(":")
    return (bool(sep) and kind in RUNTIME_KINDS) or name in RUNTIME_NAMES


def _walk(value: Any, path: tuple, replace: Callable[[str, tuple], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, path + (k,), replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, path + (i,), replace) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return replace(value, path)
    return value


def _substitute_text(text: str, lookup: Callable[[str], tuple[bool, Any]], path: tuple) -> Any:
    whole = PLACEHOLDER.fullmatch(text)
    if whole and not text.startswith("$${"):
        found, value = lookup(whole.group(1).strip())
        return value if found else text

    def one(match: re.Match[str]) -> str:
        start = match.start()
        if start > 0 and text[start - 1] == "$":
            return match.group(0)
        found, value = lookup(match.group(1).strip())
        return str(value) if found else match.group(0)

    return PLACEHOLDER.sub(one, text).replace("$${", "${")


def substitute(data: Any, variables: Mapping[str, Any]) -> Any:
    """Replace load-time variables; leave runtime placeholders; unknown names raise."""

    def replace(text: str, path: tuple) -> Any:
        def lookup(name: str) -> tuple[bool, Any]:
            if is_runtime(name):
                return False, None
            if name in variables:
                return True, variables[name]
            kind = name.partition(":")[0]
            if ":" in name:
                raise VariableError(
                    path,
                    f"unknown placeholder kind {kind!r} in ${{{name}}}: use one of "
                    f"{', '.join(RUNTIME_KINDS)}" + did_you_mean(kind, RUNTIME_KINDS),
                )
            raise VariableError(
                path,
                f"unknown variable ${{{name}}}: declare it under `vars:` or pass --set {name}=..."
                + did_you_mean(name, list(variables) + list(RUNTIME_NAMES)),
            )

        return _substitute_text(text, lookup, path)

    return _walk(data, (), replace)


def runtime_placeholders(data: Any) -> list[tuple[tuple, str]]:
    """Every runtime placeholder with its path, so validation can check target names."""
    found: list[tuple[tuple, str]] = []

    def replace(text: str, path: tuple) -> str:
        for match in PLACEHOLDER.finditer(text):
            if is_runtime(match.group(1).strip()):
                found.append((path, match.group(1).strip()))
        return text

    _walk(data, (), replace)
    return found


def resolve_runtime(data: Any, resolve: Callable[[str, str], Any]) -> Any:
    """Replace runtime placeholders using ``resolve(kind, target)``."""

    def replace(text: str, path: tuple) -> Any:
        def lookup(name: str) -> tuple[bool, Any]:
            if not is_runtime(name):
                return False, None
            kind, _, target = name.partition(":")
            return True, resolve(kind, target.strip())

        return _substitute_text(text, lookup, path)

    return _walk(data, (), replace)
