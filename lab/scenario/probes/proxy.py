"""``proxy``: disable or enable a proxy, or read it (toxics, connections, metrics) as evidence.

``inspect`` returns everything under ``json`` so a check can use JSON paths:
``json: {"$.connections": {length: {min: 1}}, "$.metrics.<name>": {min: 3}}``.
"""

from __future__ import annotations

import time
from typing import Any

from lab.faultproxy_client import FaultProxyError, parse_prometheus
from lab.scenario import schema as s
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output
from lab.scenario.probes.toxic import PROXY
from services.ports import proxy_name_for

SCHEMA = s.Fields(
    {"disable": PROXY, "enable": PROXY, "inspect": PROXY},
    one_of=("disable", "enable", "inspect"),
    expected="a proxy action: {disable: NAME} | {enable: NAME} | {inspect: NAME}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "enabled": "whether the proxy is enabled",
    "toxics": "how many toxics the proxy has",
    "connections": "how many live connections the proxy reports (inspect)",
    "json": "inspect: {proxy, toxics, connections, metrics} for JSON-path expectations",
}


def run(spec: dict, ctx: ProbeContext) -> dict:
    api = ctx.require_proxy()
    start = time.monotonic()
    if "disable" in spec:
        name = spec["disable"]
        api.set_enabled(name, False)
        ctx.rollback.register(
            ("proxy disabled", proxy_name_for(name)),
            f"enable proxy {proxy_name_for(name)}",
            lambda: api.set_enabled(name, True),
        )
    elif "enable" in spec:
        name = spec["enable"]
        api.set_enabled(name, True)
        ctx.rollback.forget(("proxy disabled", proxy_name_for(name)))
    else:
        name = spec["inspect"]
    proxy = api.proxy(name)
    out: dict[str, Any] = {
        "enabled": proxy.get("enabled"),
        "toxics": len(proxy.get("toxics") or []),
    }
    if "inspect" in spec:
        evidence: dict[str, Any] = {"proxy": proxy, "toxics": proxy.get("toxics") or []}
        try:
            connections = api.connections(name)
            evidence["connections"] = connections
            out["connections"] = len(connections) if isinstance(connections, list) else None
        except FaultProxyError as exc:
            evidence["connections_error"] = str(exc)
        try:
            metrics = parse_prometheus(api.metrics_text())
            wanted = proxy_name_for(name)
            evidence["metrics"] = {
                k: v for k, v in metrics.items() if f'"{wanted}"' in k or "{" not in k
            }
        except FaultProxyError as exc:
            evidence["metrics_error"] = str(exc)
        out["json"] = evidence
    return ok_output(**out, elapsed=time.monotonic() - start)
