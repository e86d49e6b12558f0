"""``tcp``: connect, send, optionally half-close or hold, then receive.

Receive modes: ``until`` a delimiter, an exact ``length``, ``eof`` (until the peer
closes), ``once`` (a single ``recv()``, the classic bug) or ``none``. A large payload is
sent from a second thread while this one reads, so an echo never deadlocks on full
socket buffers.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

from lab.scenario import schema as s
from lab.scenario.errors import classify
from lab.scenario.probes.base import (
    COMMON_OUTPUTS,
    TIMEOUT_SCHEMA,
    Deadline,
    ProbeContext,
    Timeouts,
    ok_output,
    random_bytes,
    sha256,
    text_of,
)

RECEIVE_SCHEMA = s.AnyOf(
    (
        s.Choice(("eof", "once", "none")),
        s.Fields(
            {
                "until": s.Str(),
                "length": s.Int(0),
                "eof": s.Bool(),
                "once": s.Bool(),
                "max_bytes": s.Int(1),
            },
            one_of=("until", "length", "eof", "once"),
            expected="{until: DELIM} | {length: N} | eof | once | none",
        ),
    )
)

SCHEMA = s.Fields(
    {
        "target": s.Str(),
        "send": s.Str(),
        "send_hex": s.Str(),
        "send_random": s.Fields(
            {"bytes": s.Int(1, 256 * 1024 * 1024), "seed": s.Int()}, required=("bytes",)
        ),
        "shutdown_write": s.Bool(),
        "hold": s.Num(0, 600),
        "receive": RECEIVE_SCHEMA,
        "timeout": TIMEOUT_SCHEMA,
    },
    required=("target",),
    exclusive=(("send", "send_hex", "send_random"),),
    expected="a tcp probe: {target, send, receive, timeout, ...}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "connected": "whether the TCP connection was established",
    "connect_time": "seconds to connect",
    "sent_bytes": "bytes sent",
    "sent_sha256": "SHA-256 of what was sent",
    "received": "what came back, as text",
    "received_bytes": "how many bytes came back",
    "sha256": "SHA-256 of what came back",
    "recv_calls": "how many recv() calls it took",
    "peer_closed": "whether the peer closed (EOF) during the exchange",
    "http_status": "the status code, when the reply starts with an HTTP status line",
    "throughput_kBps": "received kilobytes (1000 bytes) per second, from connect to the end",
}


def _payload(spec: dict) -> bytes:
    if "send_hex" in spec:
        return bytes.fromhex(re.sub(r"\s+", "", spec["send_hex"]))
    if "send_random" in spec:
        rnd = spec["send_random"]
        return random_bytes(rnd["bytes"], rnd.get("seed", 0))
    return str(spec.get("send", "")).encode("utf-8")


def _receive_mode(spec: dict) -> dict:
    receive = spec.get("receive", "none" if spec.get("hold") else "eof")
    if isinstance(receive, str):
        return {receive: True}
    return receive


def run(spec: dict, ctx: ProbeContext) -> dict:
    payload = _payload(spec)
    mode = _receive_mode(spec)
    deadline = Deadline(Timeouts.parse(spec.get("timeout")))
    start = deadline.start
    host, port = ctx.resolve(spec["target"])
    out: dict[str, Any] = {
        "connected": False,
        "sent_bytes": 0,
        "sent_sha256": sha256(payload),
        "received_bytes": 0,
        "recv_calls": 0,
        "peer_closed": False,
    }
    received = bytearray()
    phase, sock = "connect", None
    sender: threading.Thread | None = None
    send_error: list[BaseException] = []
    try:
        sock = socket.create_connection((host, port), timeout=deadline.for_phase("connect"))
        out["connected"] = True
        out["connect_time"] = time.monotonic() - start
        phase = "write"
        sock.settimeout(deadline.for_phase("write"))
        if len(payload) > 256 * 1024 and not mode.get("none"):
            sender = threading.Thread(
                target=_send_all, args=(sock, payload, spec, send_error), daemon=True
            )
            sender.start()
        else:
            sock.sendall(payload)
            if spec.get("shutdown_write"):
                sock.shutdown(socket.SHUT_WR)
        out["sent_bytes"] = len(payload)
        if spec.get("hold"):
            ctx.sleep(float(spec["hold"]))
        phase = "read"
        _receive(sock, mode, received, out, deadline)
        if sender is not None:
            sender.join(timeout=deadline.for_phase("write"))
            if send_error:
                raise send_error[0]
        out.update(ok_output())
    except Exception as exc:
        kind, detail = classify(exc, phase)
        out.update(error=kind, error_detail=detail)
    finally:
        if sock is not None:
            sock.close()
    out["received"] = text_of(bytes(received))
    out["received_bytes"] = len(received)
    out["sha256"] = sha256(bytes(received))
    match = re.match(rb"HTTP/\d\.\d (\d{3})", bytes(received[:32]))
    out["http_status"] = int(match.group(1)) if match else None
    out["elapsed"] = time.monotonic() - start
    moving = out["elapsed"] - out.get("connect_time", 0.0)
    out["throughput_kBps"] = len(received) / 1000.0 / moving if moving > 0 else 0.0
    return out


def _send_all(sock: socket.socket, payload: bytes, spec: dict, errors: list[BaseException]) -> None:
    try:
        sock.sendall(payload)
        if spec.get("shutdown_write"):
            sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        errors.append(exc)


def _receive(
    sock: socket.socket, mode: dict, received: bytearray, out: dict, deadline: Deadline
) -> None:
    if mode.get("none"):
        return
    until = str(mode["until"]).encode() if "until" in mode else None
    length = mode.get("length")
    cap = mode.get("max_bytes", 64 * 1024 * 1024)
    while True:
        if length is not None and len(received) >= length:
            return
        if until is not None and until in received:
            return
        sock.settimeout(deadline.for_phase("read"))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise deadline.timed_out("read") or TimeoutError("timed out") from None
        out["recv_calls"] += 1
        if not chunk:
            out["peer_closed"] = True
            if mode.get("eof") or mode.get("once"):
                return
            from lab.scenario.errors import ProbeError

            raise ProbeError("eof", f"peer closed after {len(received)} bytes")
        received += chunk
        if mode.get("once") or len(received) >= cap:
            return
