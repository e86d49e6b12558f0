"""How the lab was started, recorded in its state folder, so every `lab` command in any
shell reaches that lab, and a shell whose settings point elsewhere is refused.

`lab up` writes ``backend.json``: the backend, the port offset and the resolved port of
every endpoint. Later commands build their backend from it; no environment variable is
needed afterwards. When this shell's ``WIRELAB_BACKEND``, ``WIRELAB_PORT_OFFSET`` or a
``WIRELAB_<ENDPOINT>_PORT`` (or a ``--backend``/``--port-offset``/``--port`` flag) asks for
something else, the command would talk to a different lab than the one recorded, or
to ports where nothing of this lab listens: `conflict()` says which, in one line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.paths import state_dir
from services.ports import all_endpoint_names, default_port, env_var_for, port_offset

RECORD_FILE = "backend.json"


@dataclass
class LabRecord:
    backend: str
    port_offset: int = 0
    ports: dict[str, int] = field(default_factory=dict)  # every endpoint, resolved
    options: dict = field(default_factory=dict)  # what `lab up` was given (flags)

    def backend_options(self) -> dict:
        """Keyword arguments that rebuild this lab's backend, whatever this shell's env says."""
        options = {k: v for k, v in self.options.items() if k not in ("ports", "port_offset")}
        options["port_offset"] = self.port_offset
        if self.ports:
            options["ports"] = dict(self.ports)
        return options

    def describe(self) -> str:
        return f"{self.backend} backend, port offset {self.port_offset}"


def record_path(folder: Path | None = None) -> Path:
    return (folder or state_dir()) / RECORD_FILE


def resolve_record(
    backend: str, options: Mapping | None = None, environ: Mapping[str, str] | None = None
) -> LabRecord:
    """What a lab started now with ``options`` (flags) in ``environ`` would be."""
    options = dict(options or {})
    env = dict(os.environ if environ is None else environ)
    if options.get("port_offset") is not None:
        env["WIRELAB_PORT_OFFSET"] = str(options["port_offset"])
    for name, port in (options.get("ports") or {}).items():
        env[env_var_for(name)] = str(port)
    ports = {name: default_port(name, env) for name in all_endpoint_names()}
    return LabRecord(backend, port_offset(env), ports, options)


def write(record: LabRecord, folder: Path | None = None) -> None:
    body = {
        "backend": record.backend,
        "port_offset": record.port_offset,
        "ports": record.ports,
        "options": record.options,
    }
    record_path(folder).write_text(json.dumps(body, indent=2))


def read(folder: Path | None = None) -> LabRecord | None:
    try:
        body = json.loads(record_path(folder).read_text())
        backend = str(body["backend"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    options = body.get("options") or {}
    offset = body.get("port_offset", options.get("port_offset") or 0)
    ports = {str(k): int(v) for k, v in (body.get("ports") or {}).items()}
    return LabRecord(backend, int(offset), ports, options)


def forget(folder: Path | None = None) -> None:
    record_path(folder).unlink(missing_ok=True)


def conflict(
    record: LabRecord,
    backend: str | None = None,
    options: Mapping | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Why this shell (its env, plus ``backend``/``options`` given as flags) points at a
    different lab than ``record``; None when it agrees or says nothing."""
    env = os.environ if environ is None else environ
    options = options or {}
    folder = record_path().parent
    wanted_backend = backend or env.get("WIRELAB_BACKEND") or None
    if wanted_backend not in (None, "", "auto") and wanted_backend != record.backend:
        source = "--backend" if backend else "WIRELAB_BACKEND"
        return _line(folder, record, f"{source} asks for the {wanted_backend} backend")
    offset = options.get("port_offset")
    source = "--port-offset"
    if offset is None and env.get("WIRELAB_PORT_OFFSET", "").strip():
        source = "WIRELAB_PORT_OFFSET"
        try:
            offset = int(env["WIRELAB_PORT_OFFSET"])
        except ValueError:
            return f"WIRELAB_PORT_OFFSET must be an integer, got {env['WIRELAB_PORT_OFFSET']!r}"
    if offset is not None and int(offset) != record.port_offset:
        return _line(folder, record, f"{source} is {offset}")
    asked = {name: str(port) for name, port in (options.get("ports") or {}).items()}
    for name in all_endpoint_names():
        value = asked.get(name) or env.get(env_var_for(name), "").strip()
        if value and name in record.ports and value != str(record.ports[name]):
            source = f"--port {name}" if name in asked else env_var_for(name)
            return _line(
                folder, record, f"{source} is {value}, the lab has {name} on {record.ports[name]}"
            )
    return None


def _line(folder: Path, record: LabRecord, why: str) -> str:
    return (
        f"this shell points at another lab than the one in {folder} ({record.describe()}): "
        f"{why}. Unset it to use the recorded lab, `lab down` that lab first, "
        f"or set WIRELAB_STATE_DIR to keep a second lab apart"
    )
