"""Real health probes: each one speaks the endpoint's protocol, a TCP connect is not enough.

Every probe returns a short description of what it saw, or raises ProbeError with why not.
"""

from __future__ import annotations

import socket
import ssl

from services.ports import Endpoint


class ProbeError(Exception):
    pass


def _recv_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _http_get(sock: socket.socket, host: str, path: str) -> str:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    head = _recv_until(sock, b"\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProbeError(f"not an HTTP answer: {head[:60]!r}")
    if parts[1] != "200":
        raise ProbeError(f"GET {path} answered {status_line!r}")
    return status_line


def probe_http(host: str, port: int, path: str = "/healthz", timeout: float = 1.0) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            return _http_get(sock, host, path)
    except OSError as exc:
        raise ProbeError(f"{host}:{port}: {exc.strerror or exc}") from None


def probe_tls(host: str, port: int, cafile: str | None, timeout: float = 2.0) -> str:
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    if not cafile:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
                return _http_get(sock, host, "/healthz") + " (TLS verified)" * bool(cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"{host}:{port}: {exc}") from None


def probe_echo(host: str, port: int, timeout: float = 1.0) -> str:
    payload = b"wirelab-health\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = sock.recv(len(payload) - len(got))
                if not chunk:
                    break
                got += chunk
    except OSError as exc:
        raise ProbeError(f"{host}:{port}: {exc.strerror or exc}") from None
    if got != payload:
        raise ProbeError(f"echo returned {got!r}, sent {payload!r}")
    return "echoed 15 bytes"


def probe_line(host: str, port: int, timeout: float = 1.0) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"LIST\n")
            line = _recv_until(sock, b"\n")
    except OSError as exc:
        raise ProbeError(f"{host}:{port}: {exc.strerror or exc}") from None
    if not line.endswith(b"\n"):
        raise ProbeError(f"LIST got no line back ({line[:60]!r})")
    return "LIST -> " + line.strip().decode("utf-8", "replace")[:40]


def probe_udp(host: str, port: int, timeout: float = 1.0) -> str:
    try:
        from services.udpstream.health import probe

        reply = probe(host, port, timeout)
        return f"health rtt {reply.get('rtt_ms', '?')} ms, {reply.get('streams', 0)} streams"
    except Exception as exc:  # the probe's own error types vary; the message is what matters
        raise ProbeError(f"{host}:{port}/udp: {exc}") from None


def probe_proxies(host: str, port: int, names: list[str], timeout: float = 1.0) -> str:
    """The fault proxy answers and holds every standard proxy, each enabled and listening."""
    import json

    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(
                f"GET /proxies HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    except OSError as exc:
        raise ProbeError(f"{host}:{port}: {exc.strerror or exc}") from None
    head, _, body = raw.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise ProbeError(f"GET /proxies answered {head[:40]!r}")
    try:
        proxies = json.loads(body)
    except ValueError:
        raise ProbeError("GET /proxies did not return JSON") from None
    missing = [n for n in names if n not in proxies]
    if missing:
        raise ProbeError(f"proxies missing: {', '.join(missing)}")
    disabled = [n for n in names if not proxies[n].get("enabled", True)]
    if disabled:
        raise ProbeError(f"proxies disabled: {', '.join(disabled)}")
    return f"{len(proxies)} proxies"


def probe_endpoint(ep: Endpoint, host: str, port: int, cafile: str | None = None) -> str:
    if ep.kind == "http":
        return probe_http(host, port, "/version" if ep.service == "faultproxy" else "/healthz")
    if ep.kind == "tls":
        return probe_tls(host, port, cafile)
    if ep.kind == "echo":
        return probe_echo(host, port)
    if ep.kind == "line":
        return probe_line(host, port)
    if ep.kind == "udp":
        return probe_udp(host, port)
    raise ValueError(f"no probe for kind {ep.kind!r}")
