"""``line``: one exchange of rawhttp's GIMME line protocol.

``GIMME <key>`` is answered by ``OKAY <len>\\n<story>`` or ``MISSING``. ``framing: framed``
reads the header line, then exactly ``len`` bytes, however the bytes are split on the way.
``framing: naive`` does what a first attempt does: one ``recv()`` and hope. Under a
``slicer`` toxic the naive client sees a partial answer (``complete: false``).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from lab.scenario import schema as s
from lab.scenario.errors import ProbeError, classify
from lab.scenario.probes.base import (
    COMMON_OUTPUTS,
    TIMEOUT_SCHEMA,
    Deadline,
    ProbeContext,
    Timeouts,
    ok_output,
    sha256,
)

SCHEMA = s.Fields(
    {
        "target": s.Str(),
        "send": s.Str(),
        "framing": s.Choice(("framed", "naive")),
        "timeout": TIMEOUT_SCHEMA,
    },
    required=("target", "send"),
    expected="a line probe: {target, send: 'GIMME key', framing: framed|naive}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "reply": "the first line of the answer (OKAY <len>, MISSING, ERR ...)",
    "status": "the first word of the answer: OKAY, MISSING, ERR ...",
    "length": "the length the server announced",
    "story": "the payload as text",
    "story_bytes": "how many payload bytes were read",
    "sha256": "SHA-256 of the payload",
    "complete": "whether the payload length matches the announced length",
    "recv_calls": "how many recv() calls it took",
}


def run(spec: dict, ctx: ProbeContext) -> dict:
    line = str(spec["send"]).rstrip("\n").encode() + b"\n"
    deadline = Deadline(Timeouts.parse(spec.get("timeout", 5)))
    start = deadline.start
    host, port = ctx.resolve(spec["target"])
    out: dict[str, Any] = {
        "reply": "",
        "status": "",
        "length": None,
        "story": "",
        "story_bytes": 0,
        "recv_calls": 0,
    }
    buffer = bytearray()
    phase, sock = "connect", None
    try:
        sock = socket.create_connection((host, port), timeout=deadline.for_phase("connect"))
        phase = "write"
        sock.settimeout(deadline.for_phase("write"))
        sock.sendall(line)
        phase = "read"

        def recv() -> bytes:
            sock.settimeout(deadline.for_phase("read"))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise deadline.timed_out("read") or TimeoutError("timed out") from None
            out["recv_calls"] += 1
            return chunk

        if spec.get("framing", "framed") == "naive":
            buffer += recv()
            _parse(bytes(buffer), out)
        else:
            while b"\n" not in buffer:
                chunk = recv()
                if not chunk:
                    raise ProbeError("eof", f"closed before a full reply line ({bytes(buffer)!r})")
                buffer += chunk
            _parse(bytes(buffer), out)
            while out["length"] is not None and out["story_bytes"] < out["length"]:
                chunk = recv()
                if not chunk:
                    raise ProbeError(
                        "eof", f"closed after {out['story_bytes']} of {out['length']} bytes"
                    )
                buffer += chunk
                _parse(bytes(buffer), out)
        out.update(ok_output())
    except Exception as exc:
        kind, detail = classify(exc, phase)
        out.update(error=kind, error_detail=detail)
    finally:
        if sock is not None:
            sock.close()
    out["complete"] = out["status"] == "OKAY" and out["story_bytes"] == out["length"]
    out["elapsed"] = time.monotonic() - start
    return out


def _parse(data: bytes, out: dict) -> None:
    head, newline, rest = data.partition(b"\n")
    out["reply"] = head.decode("utf-8", "replace").rstrip("\r")
    words = out["reply"].split()
    out["status"] = (words[0] if words else "") if newline else "partial"
    if out["status"] == "OKAY" and len(words) > 1 and words[1].isdigit():
        out["length"] = int(words[1])
        story = rest[: out["length"]]
        out["story"] = story.decode("utf-8", "replace")
        out["story_bytes"] = len(story)
        out["sha256"] = sha256(story)
