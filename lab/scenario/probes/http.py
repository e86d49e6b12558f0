"""``http``: one HTTP/1.1 exchange (with optional redirects and retries) on h11.

The client is written on sockets and h11 rather than a full client library so that each
timeout is exact and attributable: connect, write and read bound each socket
operation, and ``total`` bounds the whole exchange. A slow-dripping body trips
``total_timeout`` while every single read is quick; a stalled upstream trips
``read_timeout``.
"""

from __future__ import annotations

import json as jsonlib
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import h11

from lab.scenario import schema as s
from lab.scenario.errors import ERROR_KINDS, ProbeError, classify
from lab.scenario.probes.base import (
    COMMON_OUTPUTS,
    TIMEOUT_SCHEMA,
    Deadline,
    ProbeContext,
    Timeouts,
    ok_output,
    sha256,
    text_of,
)
from lab.scenario.restapi_isolation import register_settings_undo

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
RETRY_ON = tuple(k for k in ERROR_KINDS if k not in ("hung", "exec_timeout"))

RETRIES_SCHEMA = s.Fields(
    {
        "max": s.Int(0, 100),
        "on": s.ListOf(s.AnyOf((s.Int(100, 599), s.Choice(RETRY_ON))), allow_single=True),
        "backoff": s.Num(0, 60),
        "exponential": s.Bool(),
        "honour_retry_after": s.Bool(),
        "max_wait": s.Num(0, 120),
    },
    required=("max",),
    expected="{max, on, backoff, honour_retry_after}",
)

SCHEMA = s.Fields(
    {
        "target": s.Str(),
        "url": s.Str(),
        "method": s.Str(lambda m: None if str(m).upper() in METHODS else f"unknown method {m!r}"),
        "path": s.Str(),
        "query": s.Fields({}, extra=s.AnyValue()),
        "headers": s.Fields({}, extra=s.AnyValue()),
        "body": s.Str(),
        "json": s.AnyValue(),
        "timeout": TIMEOUT_SCHEMA,
        "follow_redirects": s.Bool(),
        "max_redirects": s.Int(0, 50),
        "retries": RETRIES_SCHEMA,
        "tls": s.Bool(),
        "verify": s.Bool(),
        "body_limit": s.Int(0),
    },
    exclusive=(("target", "url"), ("body", "json")),
    one_of=("target", "url"),
    expected="an http probe: {target or url, method, path, headers, body, timeout, ...}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "status": "the final status code (None when there was no response)",
    "reason": "the reason phrase",
    "headers": "response headers (case-insensitive in expectations)",
    "body": "the body as text",
    "body_bytes": "the body length in bytes",
    "sha256": "SHA-256 of the body",
    "json": "the body parsed as JSON (for JSON-path expectations)",
    "ttfb": "seconds from start to the response headers",
    "connect_time": "seconds to connect (and handshake TLS)",
    "attempts": "how many requests were sent (retries included)",
    "statuses": "the status (or error) of each attempt",
    "retry_waits": "seconds waited before each retry",
    "redirects": "how many redirects were followed",
    "url": "the final URL",
    "http_version": "the response's HTTP version",
    "throughput_kBps": "body kilobytes (1000 bytes) per second over the last exchange",
}


def _target_url(spec: dict, ctx: ProbeContext) -> str:
    if "url" in spec:
        url = spec["url"]
    else:
        host, port = ctx.resolve(spec["target"])
        scheme = "https" if spec.get("tls") else "http"
        url = f"{scheme}://{host}:{port}{spec.get('path', '/')}"
    if spec.get("query"):
        url += ("&" if "?" in url else "?") + urlencode(
            {k: str(v) for k, v in spec["query"].items()}
        )
    return url


def run(spec: dict, ctx: ProbeContext) -> dict:
    method = str(spec.get("method", "GET")).upper()
    headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
    body = b""
    if "json" in spec:
        body = jsonlib.dumps(spec["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "body" in spec:
        body = str(spec["body"]).encode()
    timeouts = Timeouts.parse(spec.get("timeout"))
    retries = spec.get("retries") or {"max": 0}
    retry_on = set(retries.get("on", [429, 502, 503, 504, "connect_refused", "reset", "eof"]))
    url = _target_url(spec, ctx)
    register_settings_undo(method, spec, ctx.rollback, ctx.restapi_reset)
    start = time.monotonic()
    attempts, statuses, waits = 0, [], []
    while True:
        attempts += 1
        result = _with_redirects(method, url, headers, body, timeouts, spec, ctx)
        outcome = result.get("status") if result.get("status") is not None else result["error"]
        statuses.append(outcome)
        if attempts > retries["max"] or outcome not in retry_on:
            break
        wait = _retry_wait(retries, attempts, result)
        waits.append(round(wait, 4))
        ctx.sleep(wait)
    result.update(
        attempts=attempts, statuses=statuses, retry_waits=waits, elapsed=time.monotonic() - start
    )
    return result


def _retry_wait(retries: dict, attempt: int, result: dict) -> float:
    wait = float(retries.get("backoff", 0.0))
    if retries.get("exponential"):
        wait *= 2 ** (attempt - 1)
    if retries.get("honour_retry_after", False):
        raw = (result.get("headers") or {}).get("retry-after")
        try:
            wait = max(wait, float(raw)) if raw is not None else wait
        except ValueError:
            pass  # an HTTP-date Retry-After: keep the backoff
    return min(wait, float(retries.get("max_wait", 60.0)))


def _with_redirects(
    method: str,
    url: str,
    headers: dict,
    body: bytes,
    timeouts: Timeouts,
    spec: dict,
    ctx: ProbeContext,
) -> dict:
    redirects = 0
    limit = spec.get("max_redirects", 10) if spec.get("follow_redirects") else 0
    while True:
        result = exchange(method, url, headers, body, timeouts, spec, ctx)
        location = (result.get("headers") or {}).get("location")
        if result.get("status") in (301, 302, 303, 307, 308) and location and redirects < limit:
            redirects += 1
            url = urljoin(url, location)
            if result["status"] == 303 or (result["status"] in (301, 302) and method == "POST"):
                method, body = "GET", b""
            continue
        result.update(redirects=redirects, url=url)
        return result


def exchange(
    method: str,
    url: str,
    headers: dict,
    body: bytes,
    timeouts: Timeouts,
    spec: dict,
    ctx: ProbeContext,
) -> dict:
    """One request and its response on a fresh connection; failures become ``error``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError("error", f"cannot request {url!r}: use an http:// or https:// URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = Deadline(timeouts)
    start = deadline.start
    phase, sock = "connect", None
    out: dict[str, Any] = {"status": None, "headers": {}, "body": "", "body_bytes": 0, "ttfb": None}
    try:
        sock = socket.create_connection(
            (parts.hostname, port), timeout=deadline.for_phase("connect")
        )
        if parts.scheme == "https":
            sock = _wrap_tls(sock, parts.hostname, spec, ctx)
        out["connect_time"] = time.monotonic() - start
        phase = "write"
        conn = h11.Connection(h11.CLIENT)
        names = {k.lower() for k in headers}
        request_headers = [(k, v) for k, v in headers.items()]
        if "host" not in names:
            request_headers.insert(0, ("Host", parts.netloc))
        if "user-agent" not in names:
            request_headers.append(("User-Agent", "wirelab-scenario/1"))
        if body and "content-length" not in names and "transfer-encoding" not in names:
            request_headers.append(("Content-Length", str(len(body))))
        data = conn.send(h11.Request(method=method, target=target, headers=request_headers))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        sock.settimeout(deadline.for_phase("write"))
        sock.sendall(data)
        phase = "read"
        chunks: list[bytes] = []
        limit = spec.get("body_limit", 64 * 1024 * 1024)
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                sock.settimeout(deadline.for_phase("read"))
                try:
                    received = sock.recv(65536)
                except TimeoutError:
                    raise deadline.timed_out("read") or TimeoutError("timed out") from None
                conn.receive_data(received)
                continue
            if isinstance(event, h11.Response):
                out["ttfb"] = time.monotonic() - start
                out["status"] = event.status_code
                out["reason"] = event.reason.decode("latin-1")
                out["http_version"] = event.http_version.decode()
                out["headers"] = _headers(event.headers)
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size <= limit:
                    chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        payload = b"".join(chunks)
        out.update(_body_fields(payload, size, out["headers"]))
        out.update(ok_output())
    except Exception as exc:
        kind, detail = classify(exc, phase)  # eof after the headers: the body was cut
        out.update(error=kind, error_detail=detail)
    finally:
        if sock is not None:
            sock.close()
    out["elapsed"] = time.monotonic() - start
    # Over the whole exchange, request included: with a bandwidth cap the first piece is
    # held back too, so this is the rate a client really gets.
    out["throughput_kBps"] = (
        out["body_bytes"] / 1000.0 / out["elapsed"] if out["elapsed"] > 0 else 0.0
    )
    return out


def _wrap_tls(sock: socket.socket, hostname: str, spec: dict, ctx: ProbeContext) -> socket.socket:
    if spec.get("verify", True):
        cafile = ctx.ca_path() if ctx.ca_path else None
        context = ssl.create_default_context(cafile=cafile)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname=hostname)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def _body_fields(payload: bytes, size: int, headers: dict) -> dict:
    fields: dict[str, Any] = {
        "body": text_of(payload),
        "body_bytes": size,
        "sha256": sha256(payload),
    }
    content_type = headers.get("content-type", "")
    if payload and ("json" in content_type or payload[:1] in (b"{", b"[")):
        try:
            fields["json"] = jsonlib.loads(payload)
        except ValueError:
            pass
    return fields
