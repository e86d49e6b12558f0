"""Registers the UDP toxic types with the core registry (``protocols={"udp"}``) when imported."""

from __future__ import annotations

from services.faultproxy.core.toxic_types import ToxicType, register
from services.faultproxy.udp.datagram_toxics import STAGES, DatagramToxicFactory

UDP = frozenset({"udp"})


def register_udp_toxics() -> list[ToxicType]:
    registered = []
    for kind, stage in STAGES.items():

        def factory(attrs: dict, kind: str = kind) -> DatagramToxicFactory:
            return DatagramToxicFactory(kind, dict(attrs))

        registered.append(
            register(
                ToxicType(
                    name=kind,
                    protocols=UDP,
                    attrs=stage.attrs,
                    factory=factory,
                    kind="datagram",
                    validate=stage.check,
                    doc=(stage.__doc__ or "").strip().splitlines()[0] if stage.__doc__ else "",
                )
            )
        )
    return registered


UDP_TOXIC_TYPES = register_udp_toxics()
