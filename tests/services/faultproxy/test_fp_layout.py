"""faultproxy's layout: no import circle, the core imports no protocol package, and the
toxic type names are public without loading any proxy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.common.paths import REPO_ROOT
from services.faultproxy.core.toxic_types import (
    DEFAULT_STREAM,
    default_toxic_name,
    toxic_type_names,
)
from tests.services.faultproxy.fp_support import Api, EchoServer
from tests.support_imports import describe_cycles, import_cycles, import_graph

PACKAGE = "services.faultproxy"
TOXIPROXY_TCP = (
    "bandwidth",
    "latency",
    "limit_data",
    "noop",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
)
HTTP = ("http_delay", "http_drip", "http_malformed", "http_reset", "http_status")
UDP = ("bandwidth", "corrupt", "duplicate", "latency", "limit_data", "loss", "noop", "reorder")


def test_no_import_circle() -> None:
    graph = import_graph(REPO_ROOT, PACKAGE)
    cycles = import_cycles(graph)
    assert cycles == [], describe_cycles(graph, cycles)


def test_type_only_imports_close_one_known_circle() -> None:
    # `Connection` annotates its owner as `TcpProxy` under TYPE_CHECKING (never run). That
    # owner/owned pair is the only circle even counting type-only imports; a new one fails.
    graph = import_graph(REPO_ROOT, PACKAGE, type_checking=True)
    cycles = import_cycles(graph)
    assert cycles == [[f"{PACKAGE}.tcp.connection", f"{PACKAGE}.tcp.proxy"]], describe_cycles(
        graph, cycles
    )


def test_core_imports_no_protocol_package() -> None:
    graph = import_graph(REPO_ROOT, PACKAGE, type_checking=True)
    protocols = tuple(f"{PACKAGE}.{p}" for p in ("tcp", "udp", "http"))
    leaks = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith(f"{PACKAGE}.core")
        for target in targets
        if target.startswith(protocols)
    }
    assert leaks == set()


def test_toxic_type_names_per_protocol() -> None:
    assert toxic_type_names("tcp") == tuple(sorted(TOXIPROXY_TCP + HTTP))
    assert toxic_type_names("udp") == UDP
    assert toxic_type_names() == tuple(sorted(set(TOXIPROXY_TCP + HTTP + UDP)))
    with pytest.raises(
        ValueError, match="unknown proxy protocol 'quic'; known protocols: tcp, udp"
    ):
        toxic_type_names("quic")


def test_default_name_and_stream() -> None:
    assert DEFAULT_STREAM == "downstream"
    assert default_toxic_name("latency", "upstream") == "latency_upstream"


def test_toxic_type_names_load_no_proxy_and_no_server() -> None:
    # A fresh interpreter, so what the other tests imported does not count.
    code = (
        "import json, sys\n"
        "from services.faultproxy.core.toxic_types import toxic_type_names\n"
        "names = toxic_type_names('tcp')\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('services.faultproxy')]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert f"{PACKAGE}.tcp.toxics" in loaded  # the types did load
    forbidden = {
        f"{PACKAGE}.{m}"
        for m in (
            "tcp.proxy",
            "tcp.connection",
            "tcp.splice_pump",
            "udp.proxy",
            "udp.session",
            "http.layer",
            "core.manager",
            "core.proxy_base",
            "api.server",
            "api.routes",
            "service",
        )
    }
    assert loaded & forbidden == set()


def test_running_service_agrees_with_toxic_type_names(api: Api, echo: EchoServer) -> None:
    # The API's 400 lists the valid types for the proxy's protocol: the same tuple.
    api.create("t", echo.port)
    r = api.post("/proxies/t/toxics", {"type": "warp"})
    assert r.status_code == 400
    assert r.json()["error"].endswith("tcp types are: " + ", ".join(toxic_type_names("tcp")))
    body = {"name": "u", "protocol": "udp", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}
    assert api.post("/proxies", body).status_code == 201
    r = api.post("/proxies/u/toxics", {"type": "warp"})
    assert r.status_code == 400
    assert r.json()["error"].endswith("udp types are: " + ", ".join(toxic_type_names("udp")))
    # A toxic created with no name and no stream gets the documented defaults.
    r = api.post("/proxies/t/toxics", {"type": "latency", "attributes": {"latency": 1}})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["stream"]) == (
        default_toxic_name("latency", DEFAULT_STREAM),
        DEFAULT_STREAM,
    )
