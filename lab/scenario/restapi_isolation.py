"""restapi between scenarios: when to reset it, and the undo of its ``/_lab/`` settings.

restapi is the one service whose state a scenario changes by talking to it (its seed
data, and ``/_lab/`` settings such as rate limits). Its ``POST /_lab/reset`` rewrites the
database, the largest fixed cost of a scenario, so the engine resets it before a scenario
only when a step since the last reset may have talked to it. The rules, per probe kind
and per field of a probe's spec:

- ``exec``: always (a program may talk to anything);
- ``parallel``: never by itself (each of its steps is judged on its own);
- any other probe, when its spec has
  - a ``url`` (any URL may be restapi's, under any name),
  - a ``target`` that is a literal ``HOST:PORT`` (it may be restapi's port),
  - a ``${...}`` runtime placeholder (it resolves to an address only at run time),
  - a value naming ``restapi`` (the endpoint, its proxy, or the service itself).

A write to restapi's ``/_lab/`` settings (not ``/_lab/reset`` itself) registers a reset as
its undo, so a scenario's settings never outlive it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from services.ports import VIA_PROXY

if TYPE_CHECKING:
    import httpx

    from lab.backends.base import Backend
    from lab.scenario.model import Step
    from lab.scenario.rollback import Rollback

SERVICE = "restapi"
RESET_PATH = "/_lab/reset"
SETTINGS_PREFIX = "/_lab/"
UNDO_KEY = ("restapi settings",)
_LITERAL_ADDRESS = re.compile(r":\d+$")


def _fields(spec: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every key and value in a spec, each value with the key it sits under (nested
    probes included)."""
    if isinstance(spec, dict):
        for k, v in spec.items():
            yield None, str(k)
            yield str(k), v
            if isinstance(v, dict | list | tuple):
                yield from _fields(v, str(k))
    elif isinstance(spec, list | tuple):
        for item in spec:
            yield key, item
            if isinstance(item, dict | list | tuple):
                yield from _fields(item, key)
    else:
        yield key, spec


def _field_may_reach_restapi(key: str | None, value: Any) -> bool:
    if key == "url":
        return True
    if not isinstance(value, str):
        return False
    if "${" in value or SERVICE in value:
        return True
    return key == "target" and _LITERAL_ADDRESS.search(value) is not None


def may_touch_restapi(kind: str, spec: Any) -> bool:
    """Could a step of this kind, with this spec, have sent anything to restapi?"""
    if kind == "exec":
        return True
    if kind == "parallel":
        return False
    return any(_field_may_reach_restapi(key, value) for key, value in _fields(spec))


def changes_settings(method: str, spec: dict) -> bool:
    """Is this http request a write to restapi's ``/_lab/`` settings (directly or proxied)?"""
    path = str(spec.get("path", ""))
    target = str(spec.get("target", "")).removesuffix(VIA_PROXY)
    return (
        target == SERVICE
        and method not in ("GET", "HEAD")
        and path.startswith(SETTINGS_PREFIX)
        and not path.startswith(RESET_PATH)
    )


def register_settings_undo(
    method: str, spec: dict, rollback: Rollback, reset: Callable[[], None] | None
) -> None:
    """Undo a settings write with a reset, once per scenario however many writes there are."""
    if reset is None or not changes_settings(method, spec):
        return
    rollback.forget(UNDO_KEY)
    rollback.register(UNDO_KEY, f"restapi {RESET_PATH} (restore default settings)", reset)


class RestapiIsolation:
    """Resets restapi before a scenario when something since the last reset may have
    talked to it. Unknown at first, so the first scenario of a run always resets it."""

    def __init__(self, backend: Backend | None, http: httpx.Client):
        self._backend = backend
        self._http = http
        self.dirty = True

    def reset(self) -> None:
        if self._backend is None:
            return
        url = self._backend.url(SERVICE) + RESET_PATH
        response = self._http.post(url)
        if response.status_code >= 400:
            raise RuntimeError(f"POST {url} -> {response.status_code}: {response.text[:200]}")

    def before_scenario(self) -> None:
        if self.dirty:
            self.reset()
            self.dirty = False

    def after_scenario(self, steps: Iterable[Step], careful: bool) -> None:
        """``careful`` (the scenario errored or was interrupted): assume the worst."""
        self.dirty = careful or any(may_touch_restapi(s.kind, s.spec) for s in steps)
