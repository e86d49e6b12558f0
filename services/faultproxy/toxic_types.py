"""The toxic type registry: which toxic types exist, which proxies they fit, what they accept.

This module is sans-I/O. It knows nothing about sockets; it turns the JSON a client sent
(`{"type": "latency", "attributes": {...}}`) into validated attributes, and it answers the
API's questions ("is `loss` valid on a tcp proxy? which types are?").

A *toxic type* is registered once per protocol family it fits. The same name may be
registered twice with disjoint protocols and different attributes, e.g. `latency` for TCP
(`latency`, `jitter`) and `latency` for UDP (`latency`, `jitter`, `distribution`).

Each type has a *kind* that tells the proxy how the toxic runs:

- ``"stream"``: a stage in a TCP direction's toxic chain (see `stream_toxic.StreamToxic`);
- ``"datagram"``: a per-datagram toxic of a UDP proxy (defined by `services.faultproxy.udp`);
- ``"http"``: an HTTP-aware toxic on a TCP proxy; its presence makes the connection go
  through the pluggable HTTP layer (see `http_hook`), which decides per request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("upstream", "downstream")
KINDS = ("stream", "datagram", "http")

# Large enough for any real use, small enough that arithmetic on it never overflows a
# timer or allocates absurd buffers: a bad client gets a 400, not a hung proxy.
MAX_INT_ATTRIBUTE = 2**40


class ToxicError(ValueError):
    """A toxic request is invalid. ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Attr:
    """One attribute of a toxic type: its JSON type, default and bounds.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bool``, ``dict``, ``list``, ``any``.
    ``int`` accepts JSON integers and integral floats (Go's decoder accepts ``100.0``).
    ``minimum``/``maximum`` are inclusive; ``exclusive_minimum`` makes the minimum strict
    (e.g. bandwidth ``rate`` must be > 0). ``check`` may add a cross-value rule and returns
    an error message or None.
    """

    name: str
    kind: str = "int"
    default: Any = 0
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[Any, ...] | None = None
    required: bool = False
    doc: str = ""
    check: Callable[[Any], str | None] | None = None

    def coerce(self, type_name: str, value: Any) -> Any:
        """Validate one JSON value; raise ToxicError naming the attribute and the cause."""
        where = f"{type_name}.{self.name}"
        if self.kind == "any":
            pass  # shape is the check's job (below)
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ToxicError(f"attribute {where} must be an integer, got {_show(value)}")
            if isinstance(value, float):
                if not math.isfinite(value) or value != int(value):
                    raise ToxicError(f"attribute {where} must be an integer, got {_show(value)}")
                value = int(value)
            if abs(value) > MAX_INT_ATTRIBUTE:
                raise ToxicError(f"attribute {where} is out of range: {value}")
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ToxicError(f"attribute {where} must be a number, got {_show(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ToxicError(f"attribute {where} must be a finite number")
        elif self.kind == "str":
            if not isinstance(value, str):
                raise ToxicError(f"attribute {where} must be a string, got {_show(value)}")
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise ToxicError(f"attribute {where} must be true or false, got {_show(value)}")
        elif self.kind == "dict":
            if not isinstance(value, dict):
                raise ToxicError(f"attribute {where} must be an object, got {_show(value)}")
        elif self.kind == "list":
            if not isinstance(value, list):
                raise ToxicError(f"attribute {where} must be a list, got {_show(value)}")
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                op = ">" if self.exclusive_minimum else ">="
                raise ToxicError(
                    f"attribute {where} must be {op} {_num(self.minimum)}, got {value}"
                )
        if self.maximum is not None and value > self.maximum:
            raise ToxicError(f"attribute {where} must be <= {_num(self.maximum)}, got {value}")
        if self.choices is not None and value not in self.choices:
            raise ToxicError(
                f"attribute {where} must be one of {list(self.choices)}, got {_show(value)}"
            )
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ToxicError(f"attribute {where}: {problem}")
        return value


@dataclass(frozen=True)
class ToxicType:
    """A registered toxic type.

    - ``protocols``: the proxy protocols it fits, e.g. ``{"tcp"}``, ``{"udp"}``, ``{"tcp","udp"}``;
    - ``attrs``: the attribute schema (unknown attributes are ignored, as Toxiproxy does);
    - ``factory``: builds the runtime toxic from the validated attributes dict. What the
      runtime object is depends on ``kind`` (a `StreamToxic` for ``"stream"``; whatever the
      UDP or HTTP layer expects for ``"datagram"``/``"http"``);
    - ``needs_bytes``: False for toxics that never look at the data (``noop``), so a TCP
      direction may keep its zero-copy splice path while only such toxics are present;
    - ``validate``: an optional cross-attribute rule returning an error message or None.
    """

    name: str
    protocols: frozenset[str]
    attrs: tuple[Attr, ...]
    factory: Callable[[dict[str, Any]], Any]
    kind: str = "stream"
    needs_bytes: bool = True
    validate: Callable[[dict[str, Any]], str | None] | None = None
    doc: str = ""

    def defaults(self) -> dict[str, Any]:
        return {a.name: a.default for a in self.attrs}

    def normalize(
        self, given: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Merge ``given`` over ``base`` (or the defaults) and validate every attribute.

        Keys are matched case-insensitively, like Go's JSON decoder. Unknown keys are
        dropped (Toxiproxy ignores them too), so the stored attributes are always the schema.
        """
        if given is not None and not isinstance(given, Mapping):
            raise ToxicError(f"attributes of {self.name} must be an object, got {_show(given)}")
        merged = dict(self.defaults() if base is None else base)
        by_lower = {a.name.lower(): a for a in self.attrs}
        for key, value in (given or {}).items():
            attr = by_lower.get(str(key).lower())
            if attr is not None:
                merged[attr.name] = value
        out: dict[str, Any] = {}
        for attr in self.attrs:
            if attr.name not in merged:
                if attr.required:
                    raise ToxicError(f"attribute {self.name}.{attr.name} is required")
                merged[attr.name] = attr.default
            out[attr.name] = attr.coerce(self.name, merged[attr.name])
        if self.validate is not None:
            problem = self.validate(out)
            if problem:
                raise ToxicError(f"toxic {self.name}: {problem}")
        return out


@dataclass
class ToxicTypeRegistry:
    """All toxic types, looked up by (name, proxy protocol)."""

    _types: dict[str, list[ToxicType]] = field(default_factory=dict)

    def register(self, toxic_type: ToxicType) -> None:
        """Add a type. Re-registering the same (name, protocol) replaces it (module reloads)."""
        if toxic_type.kind not in KINDS:
            raise ValueError(f"unknown toxic kind {toxic_type.kind!r}")
        same_name = [
            t
            for t in self._types.get(toxic_type.name, [])
            if not (t.protocols & toxic_type.protocols)
        ]
        same_name.append(toxic_type)
        self._types[toxic_type.name] = same_name

    def names_for(self, protocol: str) -> list[str]:
        return sorted(
            n for n, ts in self._types.items() if any(protocol in t.protocols for t in ts)
        )

    def protocols(self) -> set[str]:
        return {p for ts in self._types.values() for t in ts for p in t.protocols}

    def lookup(self, name: Any, protocol: str) -> ToxicType:
        """The type ``name`` for a ``protocol`` proxy, or a 400 that says which types fit."""
        if not isinstance(name, str) or not name:
            raise ToxicError(f"toxic type must be a non-empty string, got {_show(name)}")
        for toxic_type in self._types.get(name, []):
            if protocol in toxic_type.protocols:
                return toxic_type
        fits = ", ".join(self.names_for(protocol)) or "none"
        others = sorted({p for t in self._types.get(name, []) for p in t.protocols})
        if others:
            raise ToxicError(
                f"invalid toxic type: {name} fits {'/'.join(others)} proxies, not {protocol}; "
                f"{protocol} types are: {fits}"
            )
        raise ToxicError(f"invalid toxic type: {_show(name)}; {protocol} types are: {fits}")

    def all(self) -> Iterable[ToxicType]:
        for types in self._types.values():
            yield from types


# The one registry the API uses. TCP types register in `tcp_toxics`; the UDP and HTTP
# packages register theirs when imported (see `plugins.load_optional_plugins`).
REGISTRY = ToxicTypeRegistry()


def register(toxic_type: ToxicType) -> ToxicType:
    REGISTRY.register(toxic_type)
    return toxic_type


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# -- what a client (the lab) may learn without running a proxy ------------------------------

# The stream a toxic acts on when a request names none (Toxiproxy's default).
DEFAULT_STREAM = "downstream"


def default_toxic_name(type_: str, stream: str) -> str:
    """The name the API gives a toxic created without one (Toxiproxy's ``<type>_<stream>``)."""
    return f"{type_}_{stream}"


def toxic_type_names(protocol: str | None = None) -> tuple[str, ...]:
    """Every registered toxic type, or those that fit a ``tcp``/``udp`` proxy, sorted.

    Imports the modules that register types (TCP stream toxics, the UDP and HTTP packages)
    without the TCP proxy class, so a client can ask without loading a proxy.
    """
    import services.faultproxy.http_faults  # noqa: F401 - registers the HTTP toxic types
    import services.faultproxy.tcp_toxics  # noqa: F401 - registers the TCP toxic types
    import services.faultproxy.udp  # noqa: F401 - registers the UDP toxic types

    if protocol is not None:
        return tuple(REGISTRY.names_for(protocol))
    return tuple(sorted({t.name for t in REGISTRY.all()}))
