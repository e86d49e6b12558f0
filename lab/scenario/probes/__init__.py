"""The probe kinds a step may use, by the key that names them in a scenario file."""

from __future__ import annotations

from typing import Any

from lab.scenario.probes import (
    exec,
    http,
    line,
    parallel,
    proxy,
    repeat,
    service,
    sleep,
    tcp,
    toxic,
    udp,
    ws,
)
from lab.scenario.probes.base import ProbeModule

# Modules meet a Protocol structurally (SCHEMA, OUTPUTS, run); a test checks each one.
PROBES: dict[str, ProbeModule] = {
    "http": http,
    "tcp": tcp,
    "udp": udp,
    "line": line,
    "ws": ws,
    "repeat": repeat,
    "parallel": parallel,
    "service": service,
    "toxic": toxic,
    "proxy": proxy,
    "sleep": sleep,
    "exec": exec,
}


# Actions change the lab; a failure to apply one stops the scenario as an error.
ACTIONS = ("service", "toxic", "proxy", "sleep")


def outputs_for(kind: str, spec: Any) -> dict[str, str]:
    module = PROBES[kind]
    if hasattr(module, "outputs"):
        return module.outputs(spec)
    return module.OUTPUTS
