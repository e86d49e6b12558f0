"""``ws``: open a WebSocket, send messages, receive a number of them."""

from __future__ import annotations

import json
import time
from typing import Any

from lab.scenario import schema as s
from lab.scenario.errors import classify
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output

SCHEMA = s.Fields(
    {
        "target": s.Str(),
        "path": s.Str(),
        "send": s.ListOf(s.AnyValue(), allow_single=True),
        "receive": s.Int(0, 10000),
        "timeout": s.Num(0.01, 600),
    },
    required=("target", "path"),
    expected="a ws probe: {target, path, send: [...], receive: N, timeout}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "messages": "the messages received, in order (text)",
    "received": "how many messages arrived",
    "last": "the last message received",
    "json": "the last message parsed as JSON, when it is JSON",
}


def run(spec: dict, ctx: ProbeContext) -> dict:
    from websockets.sync.client import connect

    host, port = ctx.resolve(spec["target"])
    uri = f"ws://{host}:{port}{spec['path']}"
    timeout = float(spec.get("timeout", 5.0))
    sends = spec.get("send", [])
    sends = sends if isinstance(sends, list) else [sends]
    wanted = spec.get("receive", len(sends))
    start = time.monotonic()
    out: dict[str, Any] = {"messages": [], "received": 0, "last": None}
    try:
        with connect(uri, open_timeout=timeout, close_timeout=1.0) as ws:
            for message in sends:
                ws.send(message if isinstance(message, str) else json.dumps(message))
            while len(out["messages"]) < wanted:
                remaining = timeout - (time.monotonic() - start)
                if remaining <= 0:
                    raise TimeoutError(f"got {len(out['messages'])} of {wanted} messages")
                message = ws.recv(timeout=remaining)
                out["messages"].append(
                    message if isinstance(message, str) else message.decode("utf-8", "replace")
                )
        out.update(ok_output())
    except Exception as exc:
        out.update(zip(("error", "error_detail"), classify(exc, "read"), strict=True))
    out["received"] = len(out["messages"])
    if out["messages"]:
        out["last"] = out["messages"][-1]
        try:
            out["json"] = json.loads(out["last"])
        except ValueError:
            pass
    out["elapsed"] = time.monotonic() - start
    return out
