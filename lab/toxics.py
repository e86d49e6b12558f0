"""What the lab knows about toxics, learnt from faultproxy itself (never copied here).

The one place lab/ imports faultproxy's toxic vocabulary: the valid types, the default
stream and the name the API gives a toxic created without one.
"""

from __future__ import annotations

from services.faultproxy.core.toxic_types import (
    DEFAULT_STREAM,
    REGISTRY,
    STREAMS,
    default_toxic_name,
    toxic_type_names,
)

__all__ = [
    "DEFAULT_STREAM",
    "STREAMS",
    "default_toxic_name",
    "toxic_catalogue",
    "toxic_type_names",
]


def toxic_catalogue() -> dict[str, dict[str, list[dict]]]:
    """protocol -> toxic type -> its attributes (name, kind, default, doc), for forms
    (the console's Faults page builds its fields from this)."""
    toxic_type_names()  # loads every plugin's types
    out: dict[str, dict[str, list[dict]]] = {}
    for toxic_type in REGISTRY.all():
        attrs = [
            {"name": a.name, "kind": a.kind, "default": a.default, "doc": a.doc}
            for a in toxic_type.attrs
        ]
        for protocol in toxic_type.protocols:
            out.setdefault(protocol, {})[toxic_type.name] = attrs
    return {p: dict(sorted(types.items())) for p, types in out.items()}
