"""``toxic``: add, update or remove a fault proxy toxic (in setup or mid-run).

Every ``add`` registers its removal with the rollback, so a toxic never outlives its
scenario, whatever happens to the run.
"""

from __future__ import annotations

import time

from lab.scenario import schema as s
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output
from lab.text import did_you_mean
from lab.toxics import DEFAULT_STREAM, STREAMS, default_toxic_name, toxic_type_names
from services.ports import proxy_name_for, proxy_names


def _check_proxy(value: object) -> str | None:
    names = proxy_names()
    if not isinstance(value, str) or proxy_name_for(value) in names:
        return None
    return f"no proxy named {value!r}; the lab has: {', '.join(names)}" + did_you_mean(
        proxy_name_for(value), names
    )


def _check_type(value: object) -> str | None:
    # Asked of faultproxy when a file is validated, not when the lab starts.
    names = toxic_type_names()
    if value in names:
        return None
    return f"{value!r} is not one of {', '.join(names)}" + did_you_mean(str(value), names)


PROXY = s.Str(_check_proxy)
ATTRIBUTES = s.Fields({}, extra=s.AnyValue(), expected="a mapping of toxic attributes")

SCHEMA = s.Fields(
    {
        "add": s.Fields(
            {
                "proxy": PROXY,
                "type": s.Str(_check_type),
                "name": s.Str(),
                "stream": s.Choice(STREAMS),
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


def undo_key(proxy: str, name: str) -> tuple[str, str, str]:
    return ("toxic", proxy_name_for(proxy), name)


def run(spec: dict, ctx: ProbeContext) -> dict:
    api = ctx.require_proxy()
    start = time.monotonic()
    if "add" in spec:
        add = spec["add"]
        stream = add.get("stream", DEFAULT_STREAM)
        name = add.get("name") or default_toxic_name(add["type"], stream)
        body = {
            "name": name,
            "type": add["type"],
            "stream": stream,
            "toxicity": add.get("toxicity", 1.0),
            "attributes": add.get("attributes") or {},
        }
        toxic = api.add_toxic(add["proxy"], body)
        proxy, added = add["proxy"], toxic["name"]  # undo what the API created, by its name
        ctx.rollback.register(
            undo_key(proxy, added),
            f"remove toxic {added} from {proxy_name_for(proxy)}",
            lambda: api.remove_toxic(proxy, added),
        )
    elif "update" in spec:
        update = spec["update"]
        changes = {k: update[k] for k in ("toxicity", "attributes") if k in update}
        toxic = api.update_toxic(update["proxy"], update["name"], changes)
    else:
        remove = spec["remove"]
        api.remove_toxic(remove["proxy"], remove["name"])
        ctx.rollback.forget(undo_key(remove["proxy"], remove["name"]))
        toxic = None
    return ok_output(toxic=toxic, elapsed=time.monotonic() - start)
