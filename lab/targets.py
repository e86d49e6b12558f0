"""Resolve what a user or scenario names (``rawhttp``, ``restapi.via_proxy``, ``HOST:PORT``)."""

from __future__ import annotations

from lab.text import did_you_mean
from services.ports import all_endpoint_names


class TargetError(ValueError):
    pass


def split_host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]") or "127.0.0.1"
    port_no = int(port)
    if not 0 < port_no < 65536:
        raise TargetError(f"port out of range in {text!r}")
    return host, port_no


def resolve(target: str, backend=None) -> tuple[str, int]:
    """(host, port) for a logical endpoint name or a literal HOST:PORT.

    Logical names go through the backend the lab was brought up with (``lab up``), so the
    same scenario works on the local and the docker backend.
    """
    literal = split_host_port(target)
    if literal is not None:
        return literal
    if target not in all_endpoint_names():
        hint = did_you_mean(target, all_endpoint_names())
        raise TargetError(f"unknown target {target!r}{hint}: use a service name or HOST:PORT")
    if backend is None:
        from lab.context import current_backend

        backend = current_backend()
    return backend.address(target)
