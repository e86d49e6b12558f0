"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.backends.local import LocalBackend, port_free  # noqa: E402
from services.ports import ENDPOINTS, VIA_PROXY, default_port  # noqa: E402


def _lab_ports(offset: int) -> list[tuple[int, str]]:
    env = {"WIRELAB_PORT_OFFSET": str(offset)}
    ports = [(default_port(e.name, env), e.proto) for e in ENDPOINTS]
    ports += [(default_port(e.name + VIA_PROXY, env), e.proto) for e in ENDPOINTS if e.proxied]
    return ports


def pick_port_offset() -> int:
    """An offset at which every lab port is free, below the ephemeral range, off the defaults."""
    defaults = {p for p, _ in _lab_ports(0)}
    candidates = list(range(1000, 12700, 50))
    random.shuffle(candidates)
    for offset in candidates:
        ports = _lab_ports(offset)
        if any(p in defaults for p, _ in ports):
            continue
        if all(port_free("127.0.0.1", p, proto) for p, proto in ports):
            return offset
    raise RuntimeError("no free port offset for a test lab")


@pytest.fixture(scope="session")
def local_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """The whole lab, started once per session as real processes on a free port offset.

    Sets WIRELAB_PORT_OFFSET, WIRELAB_STATE_DIR and WIRELAB_BACKEND in os.environ, so a
    `lab ...` subprocess started by a test talks to this lab and not to one a person
    left running on the default ports.
    """
    offset = pick_port_offset()
    state = tmp_path_factory.mktemp("lab-state")
    saved = {
        k: os.environ.get(k)
        for k in ("WIRELAB_PORT_OFFSET", "WIRELAB_STATE_DIR", "WIRELAB_BACKEND")
    }
    os.environ.update(
        WIRELAB_PORT_OFFSET=str(offset), WIRELAB_STATE_DIR=str(state), WIRELAB_BACKEND="local"
    )
    backend = LocalBackend(state_dir=state, port_offset=offset)
    try:
        backend.up(timeout=90)
        yield backend
    finally:
        backend.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
