"""The engine's seams: restapi isolation rules, the probe contract, the toxic vocabulary
learnt from faultproxy, rollback keys and proxy names."""

from __future__ import annotations

from typing import Any

import pytest

from lab.scenario import schema as s
from lab.scenario.probes import PROBES
from lab.scenario.probes.base import COMMON_OUTPUTS
from lab.scenario.restapi_isolation import changes_settings, may_touch_restapi
from lab.scenario.rollback import Rollback
from services.ports import proxy_name_for


@pytest.mark.parametrize(
    ("kind", "spec", "touches"),
    [
        ("exec", {"run": ["python", "x.py"]}, True),  # a program may talk to anything
        ("parallel", [{"http": {"target": "restapi"}}], False),  # its steps count one by one
        ("http", {"target": "restapi", "path": "/items"}, True),
        ("http", {"target": "restapi.via_proxy"}, True),
        ("http", {"target": "rawhttp", "path": "/"}, False),
        ("http", {"target": "rawhttp.via_proxy"}, False),
        ("http", {"url": "http://example.test/"}, True),  # any URL may be restapi's
        ("http", {"target": "127.0.0.1:18000"}, True),  # a literal address may be restapi's
        ("tcp", {"target": "${addr:rawhttp}"}, True),  # resolved only at run time
        ("toxic", {"add": {"proxy": "restapi", "type": "latency"}}, True),
        ("toxic", {"add": {"proxy": "rawhttp", "type": "latency"}}, False),
        ("service", {"pause": "restapi"}, True),
        ("service", {"pause": "rawhttp"}, False),
        ("sleep", 0.5, False),
        ("repeat", {"times": 3, "http": {"target": "restapi"}}, True),
        ("repeat", {"times": 3, "tcp": {"target": "rawhttp.echo"}}, False),
        ("udp", {"target": "udpstream", "send": "127.0.0.1:1"}, False),  # not a target field
    ],
)
def test_which_steps_may_touch_restapi(kind: str, spec: Any, touches: bool) -> None:
    assert may_touch_restapi(kind, spec) is touches


@pytest.mark.parametrize(
    ("method", "spec", "changes"),
    [
        ("POST", {"target": "restapi", "path": "/_lab/rate-limit"}, True),
        ("PUT", {"target": "restapi.via_proxy", "path": "/_lab/settings"}, True),
        ("GET", {"target": "restapi", "path": "/_lab/rate-limit"}, False),  # a read
        ("HEAD", {"target": "restapi", "path": "/_lab/rate-limit"}, False),
        ("POST", {"target": "restapi", "path": "/_lab/reset"}, False),  # the undo itself
        ("POST", {"target": "restapi", "path": "/items"}, False),  # data, not settings
        ("POST", {"target": "rawhttp", "path": "/_lab/rate-limit"}, False),  # not restapi
    ],
)
def test_which_requests_change_restapi_settings(method: str, spec: dict, changes: bool) -> None:
    assert changes_settings(method, spec) is changes


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_every_probe_module_meets_the_contract(kind: str) -> None:
    module = PROBES[kind]
    assert isinstance(module.SCHEMA, s.Schema | s.Lazy), kind
    assert set(COMMON_OUTPUTS) <= set(module.OUTPUTS), kind
    assert callable(module.run), kind


def test_toxic_types_are_faultproxys_own() -> None:
    from lab.scenario.probes.toxic import _check_type
    from services.faultproxy.core.toxic_types import toxic_type_names

    registered = set(toxic_type_names())
    assert {"latency", "loss", "http_status"} <= registered
    for name in registered:
        assert _check_type(name) is None, name
    problem = _check_type("latnecy") or ""
    assert "'latnecy' is not one of" in problem and "did you mean 'latency'" in problem


def test_rollback_forgets_by_what_it_undoes_not_by_its_text() -> None:
    rollback = Rollback()
    undone: list[str] = []
    rollback.register(("toxic", "rawhttp", "a"), "remove toxic a", lambda: undone.append("a"))
    rollback.register(("toxic", "restapi", "a"), "remove toxic a", lambda: undone.append("r"))
    rollback.forget(("toxic", "rawhttp", "a"))  # same text, other proxy: only this one goes
    assert rollback.pending() == ["remove toxic a"]
    [action] = rollback.run([])
    assert action.ok and undone == ["r"]


@pytest.mark.parametrize("written", ["rawhttp.echo", "rawhttp.echo.via_proxy", "rawhttp_echo"])
def test_a_proxy_may_be_named_as_its_endpoint_or_itself(written: str) -> None:
    assert proxy_name_for(written) == "rawhttp_echo"
