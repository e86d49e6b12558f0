"""What every proxy is, whatever its protocol, and the registry keyed by ``protocol``.

The API and the manager only talk to `BaseProxy`. ``"tcp"`` is `tcp.proxy.TcpProxy` and
``"udp"`` is `udp.proxy.UdpProxy`; each module calls `register_proxy_class` when imported,
and `plugins.load_plugins` (called by the service at start) imports them. The core never
imports them itself, so it works (and says clearly that UDP is unavailable) without them.

A proxy owns a `ToxicCollection`; the manager changes it and then calls
`BaseProxy.toxics_changed`, which must apply the change to live connections/sessions.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from services.faultproxy.core.events import EventBus
from services.faultproxy.core.metrics import Metrics, ProxyMetrics
from services.faultproxy.core.toxic_types import (
    REGISTRY,
    STREAMS,
    ToxicError,
    ToxicType,
    ToxicTypeRegistry,
)


class ProxyError(Exception):
    """A proxy operation failed; ``status`` is the HTTP status (500 for a bind error)."""

    def __init__(self, message: str, status: int = 500):
        super().__init__(message)
        self.status = status


@dataclass
class ProxyContext:
    """Shared services handed to every proxy."""

    metrics: Metrics = field(default_factory=Metrics)
    events: EventBus = field(default_factory=EventBus)
    toxic_types: ToxicTypeRegistry = field(default_factory=lambda: REGISTRY)
    # Checks an upstream "host:port" against the allowlist; raises ProxyError(403-ish 400).
    check_upstream: Any = None

    def __post_init__(self) -> None:
        self.proxy_metrics = ProxyMetrics(self.metrics)


_versions = itertools.count(1)


@dataclass
class Toxic:
    """A toxic as configured through the API (the JSON object) plus its runtime object."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]
    toxic_type: ToxicType
    runtime: Any  # toxic_type.factory(attributes): a StreamToxic for kind "stream"
    # Changes on every update, so a live connection can tell a toxic was replaced.
    version: int = field(default_factory=lambda: next(_versions))

    @property
    def kind(self) -> str:
        return self.toxic_type.kind

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


class ToxicCollection:
    """A proxy's toxics, in insertion order per stream; listed upstream first."""

    def __init__(self) -> None:
        self._by_name: dict[str, Toxic] = {}
        # of_kind("http") runs once per HTTP request on the screen's fast path: cached,
        # and dropped on every change.
        self._kinds: dict[str, list[Toxic]] = {}

    def __iter__(self) -> Iterator[Toxic]:
        for stream in STREAMS:
            yield from (t for t in self._by_name.values() if t.stream == stream)

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Toxic | None:
        return self._by_name.get(name)

    def for_stream(self, stream: str) -> list[Toxic]:
        return [t for t in self._by_name.values() if t.stream == stream]

    def of_kind(self, kind: str) -> list[Toxic]:
        """The toxics of ``kind`` (a shared list: do not change it)."""
        found = self._kinds.get(kind)
        if found is None:
            found = self._kinds[kind] = [t for t in self._by_name.values() if t.kind == kind]
        return found

    def add(self, toxic: Toxic) -> None:
        if toxic.name in self._by_name:
            raise ToxicError("toxic already exists", status=409)
        self._by_name[toxic.name] = toxic
        self._kinds.clear()

    def replace(self, toxic: Toxic) -> None:
        self._by_name[toxic.name] = toxic
        self._kinds.clear()

    def remove(self, name: str) -> Toxic:
        toxic = self._by_name.pop(name, None)
        if toxic is None:
            raise ToxicError("toxic not found", status=404)
        self._kinds.clear()
        return toxic

    def clear(self) -> list[Toxic]:
        removed = list(self)
        self._by_name.clear()
        self._kinds.clear()
        return removed


class BaseProxy(ABC):
    """A named listener that relays to ``upstream`` through its toxics.

    Subclasses implement `start` (bind synchronously, so a bind error becomes the API's
    500; set ``self.listen`` to the resolved address), `stop` (close the listener and every
    connection or session), `toxics_changed` and `connections`.
    """

    protocol: ClassVar[str] = "tcp"
    # Extra JSON fields this protocol accepts on create/update besides Toxiproxy's
    # (name, listen, upstream, enabled). UDP uses it for idle_timeout, max_sessions, seed.
    option_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        ctx: ProxyContext,
        name: str,
        listen: str,
        upstream: str,
        enabled: bool = True,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = enabled
        self.options: dict[str, Any] = dict(options or {})
        self.toxics = ToxicCollection()

    @classmethod
    def parse_options(
        cls, given: dict[str, Any], base: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate this protocol's extra fields (keys already lower-cased); raise ToxicError."""
        return dict(base or {})

    @abstractmethod
    def start(self) -> None:
        """Bind and start serving; raise ProxyError with the bind error on failure."""

    @abstractmethod
    def stop(self) -> None:
        """Stop listening and close every live connection or session now."""

    @abstractmethod
    def toxics_changed(self, removed: set[str] | None = None) -> None:
        """Apply the current ``self.toxics`` to live connections or sessions.

        ``removed`` names toxics just deleted (not merely updated), for toxics whose
        removal has an effect of its own (removing ``timeout`` closes its connections).
        """

    @abstractmethod
    def connections(self) -> list[dict[str, Any]]:
        """Live connections/sessions as JSON: peer, age, bytes each way, active toxics."""

    def stats(self) -> dict[str, Any]:
        """Live counters shown in ``GET /proxies`` under ``stats`` (not exported to config)."""
        return {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }
        if self.protocol != "tcp" or self.options:
            out["protocol"] = self.protocol
            out.update(self.options)
        return out


PROXY_CLASSES: dict[str, type[BaseProxy]] = {}


def register_proxy_class(cls: type[BaseProxy]) -> type[BaseProxy]:
    PROXY_CLASSES[cls.protocol] = cls
    return cls


def proxy_class_for(protocol: Any) -> type[BaseProxy]:
    """The class for a proxy's ``protocol`` field; a ToxicError (400) names the choices.

    Only registered classes exist: call `plugins.load_plugins()` first.
    """
    if not isinstance(protocol, str) or protocol.lower() not in PROXY_CLASSES:
        known = ", ".join(sorted(PROXY_CLASSES)) or "none"
        raise ToxicError(f"unknown proxy protocol {protocol!r}; available protocols: {known}")
    return PROXY_CLASSES[protocol.lower()]
