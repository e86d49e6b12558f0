"""Real health probes: each one speaks the endpoint's protocol, a TCP connect is not enough.

Every probe returns a short description of what it saw, or raises HealthProbeError with why not.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator

from services.ports import Endpoint


class HealthProbeError(Exception):
    pass


def _faultproxy_headers(token: str | None = None) -> dict[str, str]:
    """The fault proxy's bearer token: ``token``, else $WIRELAB_FAULTPROXY_TOKEN, if any
    (`lab.faultproxy_client.auth_headers`). One process probes many labs in class mode.

    Imported here, not at the top: that module pulls in httpx, which would make every
    container healthcheck (one process every 2 s per service) four times slower to start.
    """
    from lab.faultproxy_client import auth_headers

    return auth_headers(token)


@contextlib.contextmanager
def _connected(host: str, port: int, timeout: float) -> Iterator[socket.socket]:
    """A TCP connection whose socket errors (TLS ones included) surface as HealthProbeError."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            yield sock
    except ssl.SSLError as exc:
        raise HealthProbeError(f"{host}:{port}: {exc}") from None
    except OSError as exc:
        raise HealthProbeError(f"{host}:{port}: {exc.strerror or exc}") from None


def _recv_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _http_get(
    sock: socket.socket,
    host: str,
    path: str,
    read_body: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    """GET ``path``; insist on a 200. Returns the status line, and the body when asked for.

    Without ``read_body`` only the status line is read, so a slow body cannot fail a probe.
    """
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()
    )
    data = _recv_until(sock, b"\r\n")
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HealthProbeError(f"not an HTTP answer: {data[:60]!r}")
    if parts[1] != "200":
        raise HealthProbeError(f"GET {path} answered {status_line!r}")
    if not read_body:
        return status_line, b""
    while chunk := sock.recv(65536):  # Connection: close, so the body ends at EOF
        data += chunk
    return status_line, data.partition(b"\r\n\r\n")[2]


def probe_http(
    host: str,
    port: int,
    path: str = "/healthz",
    timeout: float = 1.0,
    headers: dict[str, str] | None = None,
) -> str:
    with _connected(host, port, timeout) as sock:
        return _http_get(sock, host, path, headers=headers)[0]


def probe_tls(host: str, port: int, cafile: str | None, timeout: float = 2.0) -> str:
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    if not cafile:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with _connected(host, port, timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
            status_line = _http_get(sock, host, "/healthz")[0]
    return status_line + (" (TLS verified)" if cafile else "")


def probe_echo(host: str, port: int, timeout: float = 1.0) -> str:
    payload = b"wirelab-health\n"
    with _connected(host, port, timeout) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(len(payload) - len(got))
            if not chunk:
                break
            got += chunk
    if got != payload:
        raise HealthProbeError(f"echo returned {got!r}, sent {payload!r}")
    return f"echoed {len(payload)} bytes"


def probe_line(host: str, port: int, timeout: float = 1.0) -> str:
    with _connected(host, port, timeout) as sock:
        sock.sendall(b"LIST\n")
        line = _recv_until(sock, b"\n")
    if not line.endswith(b"\n"):
        raise HealthProbeError(f"LIST got no line back ({line[:60]!r})")
    return "LIST -> " + line.strip().decode("utf-8", "replace")[:40]


def probe_udp(host: str, port: int, timeout: float = 1.0) -> str:
    try:
        from services.udpstream.health import probe

        reply = probe(host, port, timeout)
        return f"health rtt {reply.get('rtt_ms', '?')} ms, {reply.get('streams', 0)} streams"
    except Exception as exc:  # the probe's own error types vary; the message is what matters
        raise HealthProbeError(f"{host}:{port}/udp: {exc}") from None


def probe_proxies(
    host: str, port: int, names: list[str], timeout: float = 1.0, token: str | None = None
) -> str:
    """The fault proxy answers and holds every standard proxy, each enabled and listening."""
    with _connected(host, port, timeout) as sock:
        body = _http_get(
            sock, host, "/proxies", read_body=True, headers=_faultproxy_headers(token)
        )[1]
    try:
        proxies = json.loads(body)
    except ValueError:
        raise HealthProbeError("GET /proxies did not return JSON") from None
    missing = [n for n in names if n not in proxies]
    if missing:
        raise HealthProbeError(f"proxies missing: {', '.join(missing)}")
    disabled = [n for n in names if not proxies[n].get("enabled", True)]
    if disabled:
        raise HealthProbeError(f"proxies disabled: {', '.join(disabled)}")
    return f"{len(proxies)} proxies"


def probe_endpoint(
    ep: Endpoint, host: str, port: int, cafile: str | None = None, token: str | None = None
) -> str:
    if ep.kind == "http":
        if ep.service == "faultproxy":  # its bearer token, when one is set
            return probe_http(host, port, "/version", headers=_faultproxy_headers(token))
        return probe_http(host, port, "/healthz")
    if ep.kind == "tls":
        return probe_tls(host, port, cafile)
    if ep.kind == "echo":
        return probe_echo(host, port)
    if ep.kind == "line":
        return probe_line(host, port)
    if ep.kind == "udp":
        return probe_udp(host, port)
    raise ValueError(f"no probe for kind {ep.kind!r}")
