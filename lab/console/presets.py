"""Fault presets a teacher reaches for, each a set of ordinary toxics.

A preset's toxics are named ``preset_<slug>_<n>``, so the Faults page lists them like any
toxic, and removing the preset is deleting the toxics with that prefix: nothing in
faultproxy knows about presets.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    slug: str
    title: str
    summary: str
    # protocol ("tcp" or "udp") -> toxics (name, type, stream, toxicity, attributes are filled)
    toxics: dict[str, list[dict]] = field(default_factory=dict)

    def prefix(self) -> str:
        return f"preset_{self.slug.replace('-', '_')}_"

    def toxics_for(self, protocol: str) -> list[dict]:
        out = []
        for n, toxic in enumerate(self.toxics.get(protocol, [])):
            out.append({"name": f"{self.prefix()}{n}", "toxicity": 1.0, **toxic})
        return out


def _t(type_: str, stream: str = "downstream", **attributes: object) -> dict:
    return {"type": type_, "stream": stream, "attributes": attributes}


PRESETS: tuple[Preset, ...] = (
    Preset(
        "slow-3g",
        "slow 3G",
        "300 ms ± 100 ms each way, 50 KB/s down and 20 KB/s up",
        {
            "tcp": [
                _t("latency", "downstream", latency=300, jitter=100),
                _t("latency", "upstream", latency=300, jitter=100),
                _t("bandwidth", "downstream", rate=50),
                _t("bandwidth", "upstream", rate=20),
            ],
            "udp": [
                _t("latency", "downstream", latency=300, jitter=100),
                _t("bandwidth", "downstream", rate=50),
            ],
        },
    ),
    Preset(
        "lossy-wifi",
        "lossy Wi-Fi",
        "UDP loss in bursts (Gilbert-Elliott: 5 % chance a burst starts, bursts of ~3), "
        "20 ms ± 15 ms",
        {
            "udp": [
                _t("loss", "downstream", p=0.05, r=0.3, h=0.0, k=1.0),
                _t("latency", "downstream", latency=20, jitter=15),
            ]
        },
    ),
    Preset(
        "flaky-api",
        "flaky API",
        "503 Service Unavailable on 20 % of HTTP requests",
        {"tcp": [{**_t("http_status", "downstream", status=503), "toxicity": 0.2}]},
    ),
    Preset(
        "rate-limited",
        "rate limited",
        "429 Too Many Requests with Retry-After: 1 on half the HTTP requests",
        {
            "tcp": [
                {
                    **_t("http_status", "downstream", status=429, headers={"Retry-After": "1"}),
                    "toxicity": 0.5,
                }
            ]
        },
    ),
    Preset(
        "blackhole",
        "blackhole",
        "data goes in and nothing comes back (TCP: timeout 0; UDP: every datagram lost)",
        {
            "tcp": [_t("timeout", "downstream", timeout=0)],
            "udp": [_t("loss", "downstream", probability=1.0)],
        },
    ),
)
BY_SLUG = {p.slug: p for p in PRESETS}


def applied(preset: Preset, toxics: list[dict]) -> bool:
    return any(str(t.get("name", "")).startswith(preset.prefix()) for t in toxics)


def presets_for(protocol: str) -> list[Preset]:
    return [p for p in PRESETS if p.toxics.get(protocol)]
