"""Live counters and gauges, rendered in the Prometheus text format for ``GET /metrics``.

Everything that moves bytes or datagrams increments these *as it happens* (per splice
call, per chunk, per datagram), not when a connection closes, so a scrape during a long
transfer shows it progressing.

Families are declared once (name, help, type, label names) and then addressed by label
values::

    BYTES = metrics.counter("faultproxy_bytes_total", "Bytes forwarded", ("proxy", "direction"))
    BYTES.inc(n, proxy="echo", direction="upstream")

The UDP and HTTP layers declare their own families on the same `Metrics` object (the one
in `ProxyContext.metrics`), e.g. ``faultproxy_datagrams_total{proxy,direction,outcome}``
and ``faultproxy_http_requests_total{proxy,toxic,outcome}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Family:
    name: str
    help: str
    type: str  # "counter" or "gauge"
    labelnames: tuple[str, ...]
    values: dict[tuple[str, ...], float] = field(default_factory=dict)

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0) + amount

    def child(self, **labels: str) -> Series:
        """A handle on one series, for hot paths (no label checks per increment)."""
        return Series(self, self._key(labels))

    def set(self, value: float, **labels: str) -> None:
        self.values[self._key(labels)] = value

    def get(self, **labels: str) -> float:
        return self.values.get(self._key(labels), 0)

    def forget(self, label: str, value: str) -> None:
        """Drop every series whose ``label`` is ``value`` (a deleted proxy's gauges)."""
        index = self.labelnames.index(label)
        for key in [k for k in self.values if k[index] == value]:
            del self.values[key]

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.type}"]
        for key, value in sorted(self.values.items()):
            labels = ",".join(
                f'{n}="{_escape(v)}"' for n, v in zip(self.labelnames, key, strict=True)
            )
            shown = int(value) if float(value).is_integer() else value
            lines.append(f"{self.name}{{{labels}}} {shown}" if labels else f"{self.name} {shown}")
        return lines


class Series:
    __slots__ = ("_values", "_key")

    def __init__(self, family: Family, key: tuple[str, ...]) -> None:
        self._values = family.values
        self._key = key

    def inc(self, amount: float = 1) -> None:
        self._values[self._key] = self._values.get(self._key, 0) + amount

    def set(self, value: float) -> None:
        self._values[self._key] = value

    def get(self) -> float:
        return self._values.get(self._key, 0)


class Metrics:
    """A registry of metric families."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def _family(self, name: str, help: str, type_: str, labelnames: tuple[str, ...]) -> Family:
        existing = self._families.get(name)
        if existing is not None:
            if existing.type != type_ or existing.labelnames != tuple(labelnames):
                raise ValueError(f"metric {name} already declared differently")
            return existing
        fam = Family(name, help, type_, tuple(labelnames))
        self._families[name] = fam
        return fam

    def counter(self, name: str, help: str, labelnames: tuple[str, ...] = ()) -> Family:
        return self._family(name, help, "counter", labelnames)

    def gauge(self, name: str, help: str, labelnames: tuple[str, ...] = ()) -> Family:
        return self._family(name, help, "gauge", labelnames)

    def families(self) -> list[Family]:
        return list(self._families.values())

    def render(self) -> str:
        lines: list[str] = []
        for fam in self._families.values():
            lines.extend(fam.render())
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


TOXIPROXY_LABELS = ("direction", "listener", "proxy", "upstream")


class Tee:
    """One increment to several series (faultproxy's and Toxiproxy's byte counters).

    Called once per splice callback on chatty traffic, so it updates the series' dicts
    itself rather than through a method call per series."""

    __slots__ = ("_targets",)

    def __init__(self, *series: Series) -> None:
        self._targets = tuple((s._values, s._key) for s in series)

    def inc(self, amount: float = 1) -> None:
        for values, key in self._targets:
            values[key] = values.get(key, 0) + amount


class ProxyMetrics:
    """The families every proxy (TCP or UDP) shares, declared in one place."""

    def __init__(self, metrics: Metrics) -> None:
        self.registry = metrics
        self.bytes = metrics.counter(
            "faultproxy_bytes_total",
            "Bytes forwarded, counted as they move",
            ("proxy", "direction"),
        )
        self.connections = metrics.counter(
            "faultproxy_connections_total",
            "Client connections (TCP) or sessions (UDP) accepted",
            ("proxy",),
        )
        self.active = metrics.gauge(
            "faultproxy_connections_active", "Connections or sessions open now", ("proxy",)
        )
        self.upstream_failures = metrics.counter(
            "faultproxy_upstream_failures_total", "Upstream connects that failed", ("proxy",)
        )
        self.toxic_activations = metrics.counter(
            "faultproxy_toxic_activations_total",
            "Times a toxic became active on a connection, datagram or request",
            ("proxy", "toxic", "type"),
        )
        # Toxiproxy's own families (its -proxy-metrics flag), which existing dashboards
        # query. Same names and labels; counted as bytes move, where Toxiproxy counts
        # when a connection's direction ends.
        self.tp_received = metrics.counter(
            "toxiproxy_proxy_received_bytes_total",
            "Bytes read from the source of each direction (Toxiproxy's family)",
            TOXIPROXY_LABELS,
        )
        self.tp_sent = metrics.counter(
            "toxiproxy_proxy_sent_bytes_total",
            "Bytes written to the destination of each direction (Toxiproxy's family)",
            TOXIPROXY_LABELS,
        )
        self.splice_fallbacks = metrics.counter(
            "faultproxy_splice_fallbacks_total",
            "Directions moved from the zero-copy path to the toxic chain",
            ("proxy",),
        )

    def forget_proxy(self, name: str) -> None:
        self.active.forget("proxy", name)
