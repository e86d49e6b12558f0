"""``toxic``: add, update or remove a fault proxy toxic (in setup or mid-run).

Every ``add`` registers its removal with the rollback, so a toxic never outlives its
scenario, whatever happens to the run.
"""

from __future__ import annotations

import time

from lab.scenario import schema as s
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output
from lab.scenario.proxyapi import proxy_name
from lab.text import did_you_mean

TOXIC_TYPES = (
    # Toxiproxy's TCP toxics
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
    # UDP toxics (faultproxy)
    "loss",
    "duplicate",
    "reorder",
    "corrupt",
    # HTTP-level toxics (faultproxy)
    "http_status",
    "http_delay",
    "http_reset",
    "http_malformed",
    "http_drip",
)


def known_proxies() -> list[str]:
    from lab.proxies import standard_proxies

    return [p["name"] for p in standard_proxies()]


def _check_proxy(value: object) -> str | None:
    names = known_proxies()
    if not isinstance(value, str) or proxy_name(value) in names:
        return None
    return f"no proxy named {value!r}; the lab has: {', '.join(names)}" + did_you_mean(
        proxy_name(value), names
    )


PROXY = s.Str(_check_proxy)
ATTRIBUTES = s.Fields({}, extra=s.AnyValue(), expected="a mapping of toxic attributes")

SCHEMA = s.Fields(
    {
        "add": s.Fields(
            {
                "proxy": PROXY,
                "type": s.Choice(TOXIC_TYPES),
                "name": s.Str(),
                "stream": s.Choice(("upstream", "downstream")),
                "toxicity": s.Num(0, 1),
                "attributes": ATTRIBUTES,
            },
            required=("proxy", "type"),
        ),
        "update": s.Fields(
            {"proxy": PROXY, "name": s.Str(), "toxicity": s.Num(0, 1), "attributes": ATTRIBUTES},
            required=("proxy", "name"),
        ),
        "remove": s.Fields({"proxy": PROXY, "name": s.Str()}, required=("proxy", "name")),
    },
    one_of=("add", "update", "remove"),
    expected="a toxic action: {add: {...}} | {update: {...}} | {remove: {...}}",
)

OUTPUTS = {**COMMON_OUTPUTS, "toxic": "the toxic as the proxy API returned it"}


def undo_name(proxy: str, name: str) -> str:
    return f"remove toxic {name} from {proxy_name(proxy)}"


def run(spec: dict, ctx: ProbeContext) -> dict:
    api = ctx.require_proxy()
    start = time.monotonic()
    if "add" in spec:
        add = spec["add"]
        stream = add.get("stream", "downstream")
        name = add.get("name") or f"{add['type']}_{stream}"
        body = {
            "name": name,
            "type": add["type"],
            "stream": stream,
            "toxicity": add.get("toxicity", 1.0),
            "attributes": add.get("attributes") or {},
        }
        toxic = api.add_toxic(add["proxy"], body)
        proxy = add["proxy"]
        ctx.rollback.register(undo_name(proxy, name), lambda: api.remove_toxic(proxy, name))
    elif "update" in spec:
        update = spec["update"]
        changes = {k: update[k] for k in ("toxicity", "attributes") if k in update}
        toxic = api.update_toxic(update["proxy"], update["name"], changes)
    else:
        remove = spec["remove"]
        api.remove_toxic(remove["proxy"], remove["name"])
        ctx.rollback.forget(undo_name(remove["proxy"], remove["name"]))
        toxic = None
    return ok_output(toxic=toxic, elapsed=time.monotonic() - start)
