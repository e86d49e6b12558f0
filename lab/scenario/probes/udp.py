"""``udp``: request a udpstream stream and measure it with the udpstream client library.

The statistics (loss, duplicates, reordering, jitter, bursts) are the library's own, so a
scenario, an exercise check and ``lab udp measure`` agree to the datagram.
"""

from __future__ import annotations

import time
from typing import Any

from lab.scenario import schema as s
from lab.scenario.errors import classify
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output

SCHEMA = s.Fields(
    {
        "target": s.Str(),
        "rate": s.Int(1, 1_000_000),
        "size": s.Int(26, 65000),
        "count": s.Int(1),
        "duration": s.Num(0.01, 600),
        "pattern": s.Choice(("zeros", "ones", "ramp", "random")),
        "timeout": s.Num(0.05, 60),
        "linger": s.Num(0, 10),
    },
    required=("target", "rate", "size"),
    one_of=("count", "duration"),
    expected="a udp probe: {target, rate, size, count or duration}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "sent": "datagrams the server sent",
    "received": "distinct datagrams that arrived",
    "lost": "datagrams that never arrived",
    "loss_pct": "lost as a percentage of sent",
    "duplicates": "extra copies that arrived",
    "duplicate_pct": "duplicates as a percentage of sent",
    "out_of_order": "datagrams that arrived after a later one",
    "out_of_order_pct": "out_of_order as a percentage of received",
    "max_reorder": "the largest reorder distance",
    "jitter_ms": "interarrival jitter (RFC 3550)",
    "delay_min_ms": "smallest one-way delay",
    "delay_max_ms": "largest one-way delay",
    "delay_spread_ms": "largest minus smallest one-way delay",
    "delay_p50_ms": "median delay above the minimum",
    "delay_p99_ms": "99th percentile delay above the minimum",
    "throughput_pps": "datagrams per second received",
    "throughput_bps": "bits per second received",
    "longest_loss_burst": "the longest run of consecutive losses",
    "mean_loss_burst": "lost / loss_bursts: the average length of a run of losses",
    "loss_bursts": "how many runs of losses",
    "end_reason": "why the stream ended",
}


def run(spec: dict, ctx: ProbeContext) -> dict:
    from services.udpstream.client import measure

    host, port = ctx.resolve(spec["target"])
    start = time.monotonic()
    try:
        result = measure(
            host,
            port,
            rate=spec["rate"],
            size=spec["size"],
            count=spec.get("count"),
            duration=spec.get("duration"),
            pattern=spec.get("pattern", "zeros"),
            timeout=spec.get("timeout", 2.0),
            linger=spec.get("linger", 0.25),
        )
    except Exception as exc:
        kind, detail = classify(exc, "read")
        return {"error": kind, "error_detail": detail, "elapsed": time.monotonic() - start}
    data: dict[str, Any] = result.to_dict()
    intervals = data.pop("intervals", [])
    sent = data.get("sent") or 0
    data["duplicate_pct"] = 100.0 * data.get("duplicates", 0) / sent if sent else 0.0
    received = data.get("received") or 0
    data["out_of_order_pct"] = 100.0 * data.get("out_of_order", 0) / received if received else 0.0
    bursts = data.get("loss_bursts") or 0
    data["mean_loss_burst"] = data.get("lost", 0) / bursts if bursts else 0.0
    data["intervals"] = intervals[:200]  # the shape of a loss burst, for the journal
    return ok_output(**data, elapsed=time.monotonic() - start)
