"""The request sequence faultproxy and the real Toxiproxy are compared on.

The reference itself (where it is, how it starts) is `services.common.reference_peers`,
which the benchmarks use too. Everything here talks to a server over real HTTP.
"""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.processes import free_port


@dataclass
class Step:
    """One API request. ``{UP}``, ``{UP2}``, ``{FIXED}`` in path or body are filled per run."""

    label: str
    method: str
    path: str
    body: Any = None
    raw: bytes | None = None  # sent as is instead of JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    body: Any  # parsed JSON, or text, or None when empty
    headers: dict[str, str]


def _fill(value: Any, slots: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, real in slots.items():
            value = value.replace("{" + key + "}", real)
        return value
    if isinstance(value, list):
        return [_fill(v, slots) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, slots) for k, v in value.items()}
    return value


def run_sequence(api_port: int, steps: list[Step]) -> list[Answer]:
    """Send every step to one server, in order, and keep what it answered."""
    with contextlib.ExitStack() as stack:
        upstreams = [stack.enter_context(socket.socket()) for _ in range(2)]
        for s in upstreams:
            s.bind(("127.0.0.1", 0))
            s.listen(16)
        slots = {
            "UP": str(upstreams[0].getsockname()[1]),
            "UP2": str(upstreams[1].getsockname()[1]),
            "FIXED": str(free_port()),
            "FIXED2": str(free_port()),
        }
        answers = []
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
            for step in steps:
                headers = dict(step.headers)
                if step.raw is not None:
                    content = _fill(step.raw.decode(), slots).encode()
                elif step.body is not None:
                    content = json.dumps(_fill(step.body, slots)).encode()
                else:
                    content = None
                r = client.request(
                    step.method, _fill(step.path, slots), content=content, headers=headers
                )
                text = r.text
                for key, real in slots.items():  # the same placeholders on both servers
                    text = text.replace(":" + real, ":{" + key + "}")
                try:
                    body = json.loads(text) if text else None
                except ValueError:
                    body = text
                answers.append(Answer(r.status_code, body, dict(r.headers)))
        return answers


# Keys that only say something about one implementation: Toxiproxy leaks its logger
# ("Logger": {}), faultproxy adds counters and the protocol. Clients ignore extra keys.
EXTRA_KEYS = {"Logger", "stats", "protocol", "server"}


def normalise(value: Any) -> Any:
    """What a client can depend on: listen ports chosen by the kernel become ``<port>``."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in EXTRA_KEYS:
                continue
            if k == "listen" and isinstance(v, str) and v.rpartition(":")[2].isdigit():
                v = v.rpartition(":")[0] + ":<port>"
            out[k] = normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _without_error_text(body: Any) -> Any:
    if isinstance(body, dict) and "error" in body:
        return {**body, "error": "<text>"}
    return body


def classify(ours: Answer, theirs: Answer) -> str:
    """identical | cosmetic | error-text | status | body."""
    if ours.status != theirs.status:
        return "status"
    if ours.body == theirs.body:
        return "identical"
    a, b = normalise(ours.body), normalise(theirs.body)
    if a == b:
        return "cosmetic"
    if _without_error_text(a) == _without_error_text(b):
        return "error-text"
    return "body"


def _toxic(type_: str, **attrs: Any) -> dict:
    return {"type": type_, "attributes": attrs}


def _proxy(
    name: str = "b",
    listen: str = "127.0.0.1:{FIXED}",
    upstream: str = "127.0.0.1:{UP}",
    **extra: Any,
) -> dict:
    return {"name": name, "listen": listen, "upstream": upstream, **extra}


def _populate(label: str, *proxies: dict) -> Step:
    return Step(label, "POST", "/populate", list(proxies))


# About 60 requests a Toxiproxy client makes, in an order that builds on itself.
SEQUENCE: list[Step] = [
    Step("version", "GET", "/version"),
    Step("empty list", "GET", "/proxies"),
    Step("create", "POST", "/proxies", _proxy("a", "127.0.0.1:0")),
    Step("create duplicate", "POST", "/proxies", _proxy("a", "127.0.0.1:0")),
    Step("create without name", "POST", "/proxies", {"upstream": "127.0.0.1:{UP}"}),
    Step("create without upstream", "POST", "/proxies", {"name": "x"}),
    Step("create with bad JSON", "POST", "/proxies", raw=b"{nope"),
    Step(
        "create on a port in use",
        "POST",
        "/proxies",
        _proxy("busy", "127.0.0.1:{UP}", "127.0.0.1:{UP2}"),
    ),
    Step("create disabled", "POST", "/proxies", _proxy("off", "127.0.0.1:0", enabled=False)),
    Step("show", "GET", "/proxies/a"),
    Step("show missing", "GET", "/proxies/missing"),
    Step("disable", "POST", "/proxies/a", {"enabled": False}),
    Step("enable", "POST", "/proxies/a", {"enabled": True}),
    Step("move upstream", "POST", "/proxies/a", {"upstream": "127.0.0.1:{UP2}"}),
    Step("update missing proxy", "POST", "/proxies/missing", {"enabled": False}),
    Step("update with bad JSON", "POST", "/proxies/a", raw=b"[1,"),
    Step("no toxics", "GET", "/proxies/a/toxics"),
    Step("add latency", "POST", "/proxies/a/toxics", _toxic("latency", latency=10)),
    Step("add latency again", "POST", "/proxies/a/toxics", _toxic("latency", latency=10)),
    Step("add without type", "POST", "/proxies/a/toxics", {"attributes": {}}),
    Step("add unknown type", "POST", "/proxies/a/toxics", _toxic("nope")),
    Step(
        "add bad stream",
        "POST",
        "/proxies/a/toxics",
        {**_toxic("noop"), "stream": "sideways"},
    ),
    Step(
        "add named upstream",
        "POST",
        "/proxies/a/toxics",
        {**_toxic("latency", latency=5, jitter=1), "name": "up", "stream": "upstream"},
    ),
    Step(
        "add with toxicity",
        "POST",
        "/proxies/a/toxics",
        {**_toxic("noop"), "name": "half", "toxicity": 0.5},
    ),
    Step("add slow_close", "POST", "/proxies/a/toxics", _toxic("slow_close", delay=10)),
    Step("add timeout", "POST", "/proxies/a/toxics", _toxic("timeout", timeout=100)),
    Step("add reset_peer", "POST", "/proxies/a/toxics", _toxic("reset_peer", timeout=100)),
    Step(
        "add slicer",
        "POST",
        "/proxies/a/toxics",
        _toxic("slicer", average_size=64, size_variation=10, delay=10),
    ),
    Step("add limit_data", "POST", "/proxies/a/toxics", _toxic("limit_data", bytes=1000)),
    Step("add bandwidth", "POST", "/proxies/a/toxics", _toxic("bandwidth", rate=100)),
    Step(
        "add bandwidth at rate 0",
        "POST",
        "/proxies/a/toxics",
        {**_toxic("bandwidth", rate=0), "name": "bw0"},
    ),
    Step(
        "add with toxicity above 1",
        "POST",
        "/proxies/a/toxics",
        {**_toxic("noop"), "name": "over", "toxicity": 1.5},
    ),
    Step(
        "add negative latency",
        "POST",
        "/proxies/a/toxics",
        {**_toxic("latency", latency=-5), "name": "neg"},
    ),
    Step("add to missing proxy", "POST", "/proxies/missing/toxics", _toxic("noop")),
    Step("list toxics", "GET", "/proxies/a/toxics"),
    Step("show toxic", "GET", "/proxies/a/toxics/latency_downstream"),
    Step("show missing toxic", "GET", "/proxies/a/toxics/nope"),
    Step(
        "update toxic attributes",
        "POST",
        "/proxies/a/toxics/latency_downstream",
        {"attributes": {"latency": 20}},
    ),
    Step("update toxic toxicity", "POST", "/proxies/a/toxics/up", {"toxicity": 0.25}),
    Step("update missing toxic", "POST", "/proxies/a/toxics/nope", {"toxicity": 0.5}),
    Step("delete toxic", "DELETE", "/proxies/a/toxics/half"),
    Step("delete toxic again", "DELETE", "/proxies/a/toxics/half"),
    Step("list proxies", "GET", "/proxies"),
    Step("reset", "POST", "/reset"),
    Step("after reset", "GET", "/proxies/a"),
    Step("toxic to keep", "POST", "/proxies/a/toxics", _toxic("latency", latency=7)),
    _populate("populate new", _proxy()),
    _populate("populate the same again, toxics null", _proxy(toxics=None)),
    Step("toxic on b", "POST", "/proxies/b/toxics", _toxic("latency", latency=3)),
    _populate("populate b with toxics []", _proxy(toxics=[])),
    Step("b keeps its toxic", "GET", "/proxies/b/toxics"),
    _populate("populate b as localhost", _proxy(listen="localhost:{FIXED}")),
    Step("b after localhost", "GET", "/proxies/b"),
    Step("disable b", "POST", "/proxies/b", {"enabled": False}),
    _populate("populate disabled b", _proxy()),
    Step("b after populate", "GET", "/proxies/b"),
    _populate("populate moves b upstream", _proxy(upstream="127.0.0.1:{UP2}")),
    _populate(
        "populate error at index 2",
        _proxy("c", "127.0.0.1:{FIXED2}"),
        _proxy("", "127.0.0.1:0"),
    ),
    Step("after failed populate", "GET", "/proxies"),
    Step("populate not a list", "POST", "/populate", {"name": "d"}),
    Step("populate bad JSON", "POST", "/populate", raw=b"[{"),
    Step("delete proxy", "DELETE", "/proxies/b"),
    Step("delete proxy again", "DELETE", "/proxies/b"),
    Step("a still has its toxic", "GET", "/proxies/a/toxics"),
    Step("unknown path", "GET", "/nope"),
    Step("browser refused", "GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"}),
    Step("final list", "GET", "/proxies"),
]
