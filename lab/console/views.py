"""What the templates show, computed apart from the web server (the CLI reports use it too)."""

from __future__ import annotations

from typing import Any

from lab.console.charts import Series, bursts, line_chart
from services.ports import ENDPOINTS, SERVICES, VIA_PROXY

KIND_LABELS = {"http": "HTTP", "echo": "echo", "line": "line", "tls": "HTTPS", "udp": "UDP"}


def burst_flags(lost_pct: list[float]) -> list[bool]:
    """Slices that lost far more than the run did on average: a burst, not the steady
    drizzle of random loss (20 % random loss marks almost nothing; an outage marks all)."""
    mean = sum(lost_pct) / len(lost_pct) if lost_pct else 0.0
    threshold = min(max(2 * mean, 10.0), 50.0)
    return [p >= threshold for p in lost_pct]


def udp_view(result: Any) -> dict:
    """Figures and charts of a `services.udpstream.client.MeasureResult`."""
    slices = result.intervals
    xs = [s.start_s for s in slices]
    lost_pct = [100 * s.lost / s.expected if s.expected else 0.0 for s in slices]
    got_pct = [100 * s.received / s.expected if s.expected else 0.0 for s in slices]
    marks = bursts(xs, burst_flags(lost_pct))
    charts = [
        line_chart(
            "delivered and lost, % of each slice",
            xs,
            [Series("received", got_pct, "s-ok"), Series("lost", lost_pct, "s-bad")],
            "%",
            marks,
            top=100,
        ),
        line_chart(
            "duplicates per slice",
            xs,
            [Series("duplicates", [float(s.duplicates) for s in slices], "s-warn")],
            "",
            marks,
        ),
        line_chart(
            "jitter (RFC 3550), ms",
            xs,
            [Series("jitter", [s.jitter_ms for s in slices], "s-info")],
            " ms",
            marks,
        ),
    ]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f} ms"

    figures = [
        ("sent", f"{result.sent}"),
        ("received", f"{result.received}"),
        ("lost", f"{result.lost} ({result.loss_pct:.2f} %)"),
        ("loss bursts", f"{result.loss_bursts} (longest {result.longest_loss_burst})"),
        ("duplicated", f"{result.duplicates}"),
        ("out of order", f"{result.out_of_order} (max distance {result.max_reorder})"),
        ("jitter", ms(result.jitter_ms)),
        ("delay p50 / p99 above min", f"{ms(result.delay_p50_ms)} / {ms(result.delay_p99_ms)}"),
        ("throughput", f"{result.throughput_pps:,.0f} datagrams/s"),
        ("ended", f"{result.end_reason} after {result.elapsed_s:.2f} s"),
    ]
    return {
        "target": result.target,
        "title": f"{result.requested} × {result.size} B at {result.rate}/s to {result.target}",
        "figures": figures,
        "charts": charts,
        "bursts": marks,
        "lossy": result.lost > 0,
    }


def endpoint_rows(backend: Any) -> dict[str, list[dict]]:
    """Each service's labelled addresses (HTTP, echo, line, HTTPS, UDP, via proxy)."""
    rows: dict[str, list[dict]] = {s: [] for s in SERVICES}
    for ep in ENDPOINTS:
        if ep.service not in rows:
            continue
        try:
            host, port = backend.address(ep.name)
        except Exception:  # an endpoint this backend does not publish
            continue
        label = "API" if ep.service == "faultproxy" else KIND_LABELS.get(ep.kind, ep.kind)
        rows[ep.service].append(
            {"label": label, "name": ep.name, "address": f"{host}:{port}/{ep.proto}"}
        )
        if ep.proxied:
            try:
                host, port = backend.address(ep.name + VIA_PROXY)
            except Exception:
                continue
            rows["faultproxy"].append(
                {
                    "label": f"{ep.name} · {label}",
                    "name": ep.name + VIA_PROXY,
                    "address": f"{host}:{port}/{ep.proto}",
                }
            )
    return rows


def metrics_by_proxy(values: dict[str, float]) -> dict[str, dict[str, float]]:
    """faultproxy's Prometheus families, regrouped per proxy label."""
    import re

    out: dict[str, dict[str, float]] = {}
    names = {
        "faultproxy_bytes_total": "bytes",
        "faultproxy_connections_total": "connections_total",
        "faultproxy_connections_active": "connections_active",
        "faultproxy_upstream_failures_total": "upstream_failures",
    }
    for key, value in values.items():
        family, _, labels = key.partition("{")
        if family not in names:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        proxy = found.get("proxy")
        if not proxy:
            continue
        entry = out.setdefault(
            proxy,
            {"bytes_upstream": 0.0, "bytes_downstream": 0.0, "connections_total": 0.0,
             "connections_active": 0.0, "upstream_failures": 0.0},
        )  # fmt: skip
        field = names[family]
        if field == "bytes":
            field = f"bytes_{found.get('direction', 'upstream')}"
        entry[field] = entry.get(field, 0.0) + value
    return out


def _checks(steps: list[dict]) -> list[dict]:
    """Every expectation of these steps and their nested ones, in order, with its step."""
    out = []
    for step in steps:
        out += [{"step": step.get("name", ""), **e} for e in step.get("expectations") or []]
        out += _checks(step.get("nested") or [])
    return out


def journal_view(data: dict) -> dict:
    """A journal (lab.scenario.journal) with each scenario's expectations flattened."""
    scenarios = [{**s, "checks": _checks(s.get("steps") or [])} for s in data.get("scenarios", [])]
    return {**data, "scenarios": scenarios}
