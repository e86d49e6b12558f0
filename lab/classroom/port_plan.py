"""Which port offset each student's lab gets (sans-I/O: arithmetic on services.ports).

A lab's ports are the default ports shifted by its offset (``WIRELAB_PORT_OFFSET``), so a
student's ports read as "the usual ones + N" and every existing command works unchanged.
Two labs collide when the difference of their offsets equals the difference of two of one
lab's own ports (8080 vs 9000 is 920, a proxied port is +10000...), so no even step is
safe for long. The plan walks the offsets upwards and takes each one that shares no port
with an earlier slot nor with the default lab (offset 0, a person's own `lab up`): ~720
slots. Every port stays in 1024..32767: above the privileged ports, below Linux's
ephemeral range (32768+), where the machine's own outgoing connections take their source
ports. A class stores its offsets (class.json), so a later change of the port table moves
new classes only.
"""

from __future__ import annotations

from functools import cache

from services.ports import ENDPOINTS, VIA_PROXY, all_endpoint_names, default_port

LOWEST_PORT = 1024
HIGHEST_PORT = 32767  # Linux's ip_local_port_range starts at 32768


class PortPlanError(ValueError):
    """More labs than the plan can place, or a slot outside it."""


def lab_ports(offset: int) -> dict[str, int]:
    """Every endpoint's port (``rawhttp``, ``rawhttp.via_proxy``...) at ``offset``."""
    env = {"WIRELAB_PORT_OFFSET": str(offset)}
    return {name: default_port(name, env) for name in all_endpoint_names()}


def _relative_ports() -> list[int]:
    ports = {default_port(e.name, {}) for e in ENDPOINTS}
    ports |= {default_port(e.name + VIA_PROXY, {}) for e in ENDPOINTS if e.proxied}
    return sorted(ports)


@cache
def _offsets() -> tuple[int, ...]:
    """Every usable offset, in slot order (computed once, in a few milliseconds)."""
    ports = _relative_ports()
    clashes = {b - a for a in ports for b in ports if b > a}
    # An offset is out when it is the default lab's (0) or differs from it, or from an
    # earlier slot, by a clash; walking upwards, marking o + clash for each slot o suffices.
    taken = {0} | clashes | {-c for c in clashes}
    chosen: list[int] = []
    for offset in range(LOWEST_PORT - ports[0], HIGHEST_PORT - ports[-1] + 1):
        if offset in taken:
            continue
        chosen.append(offset)
        taken.update(offset + c for c in clashes)
    return tuple(chosen)


def capacity() -> int:
    """How many labs one host can hold without two sharing a port."""
    return len(_offsets())


def offset_for_slot(slot: int) -> int:
    offsets = _offsets()
    if not 0 <= slot < len(offsets):
        raise PortPlanError(
            f"slot {slot} is outside the port plan (0..{len(offsets) - 1}: "
            f"{len(offsets)} labs fit below port {HIGHEST_PORT + 1})"
        )
    return offsets[slot]


def offsets_for(count: int, first_slot: int = 0) -> list[int]:
    """The offsets of ``count`` labs from ``first_slot`` on; a clear error when they do not fit."""
    if count < 1:
        raise PortPlanError(f"a class needs at least one lab, got {count}")
    if first_slot < 0 or first_slot + count > capacity():
        raise PortPlanError(
            f"{count} labs from slot {first_slot} do not fit: this host's plan holds "
            f"{capacity()} labs (ports {LOWEST_PORT}..{HIGHEST_PORT}); beyond that, use "
            f"Kubernetes (`lab class render --target kubernetes`)"
        )
    return [offset_for_slot(first_slot + i) for i in range(count)]
