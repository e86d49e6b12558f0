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
    "http_valid": "whether the reply parses as one correct HTTP/1.1 response (checked with h11)",
    "http_problem": "why the reply is not a correct HTTP response (empty when it is)",
    "http_headers": "the reply's headers, when it parses as HTTP",
    "http_body": "the reply's body as text, when it parses as HTTP",
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
    out.update(http_check(bytes(received), _request_method(payload)))
    out["elapsed"] = time.monotonic() - start
    moving = out["elapsed"] - out.get("connect_time", 0.0)
    out["throughput_kBps"] = len(received) / 1000.0 / moving if moving > 0 else 0.0
    return out


def _request_method(payload: bytes) -> str:
    word = payload.split(b" ", 1)[0]
    return word.decode("ascii", "replace") if word.isalpha() and word.isupper() else "GET"


def http_check(data: bytes, method: str = "GET") -> dict[str, Any]:
    """Parse ``data`` as the answer to one request, with h11 (a strict, independent parser).

    A student's server passes only if its bytes form one complete, well-framed response.
    """
    import h11

    result: dict[str, Any] = {
        "http_valid": False,
        "http_problem": "",
        "http_headers": {},
        "http_body": "",
    }
    if not data:
        result["http_problem"] = "no bytes received"
        return result
    conn = h11.Connection(h11.CLIENT)
    try:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "lab")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(data)
        conn.receive_data(b"")  # the exchange is over: what is there is all there is
        body = b""
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                result["http_headers"] = {
                    k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers
                }
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                result["http_valid"] = True
                break
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                result["http_problem"] = "the response ended before it was complete"
                break
        result["http_body"] = text_of(body)
    except h11.ProtocolError as exc:
        result["http_problem"] = f"not valid HTTP/1.1: {exc}"
    return result


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
