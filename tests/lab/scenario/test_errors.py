"""Error kinds are normalised from real exceptions raised by real sockets."""

from __future__ import annotations

import socket
import ssl

import pytest

from lab.scenario.errors import ERROR_KINDS, ProbeError, classify
from services.common.processes import free_port
from tests.lab.scenario import servers


def raised(func) -> BaseException:
    try:
        func()
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        return exc
    raise AssertionError("expected an exception")


def test_refused() -> None:
    port = free_port()
    exc = raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=1))
    assert classify(exc, "connect")[0] == "connect_refused"


def test_connect_timeout_on_a_full_backlog() -> None:
    with servers.full_backlog() as port:
        exc = raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.3))
    assert classify(exc, "connect")[0] == "connect_timeout"


def test_read_timeout_and_reset_and_eof() -> None:
    with servers.tcp_server(servers.silent) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        sock.sendall(b"hello")
        assert classify(raised(lambda: sock.recv(10)), "read")[0] == "read_timeout"
        sock.close()
    with servers.tcp_server(servers.resetting) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert classify(raised(lambda: sock.recv(10)), "read")[0] == "reset"
        sock.close()


def test_tls_error() -> None:
    with servers.tcp_server(servers.plaintext_http) as port:
        raw = socket.create_connection(("127.0.0.1", port), timeout=2)
        context = ssl.create_default_context()
        exc = raised(lambda: context.wrap_socket(raw, server_hostname="127.0.0.1"))
        raw.close()
    assert classify(exc, "connect")[0] == "tls_error"


def test_wrapped_causes_are_followed_and_probe_errors_pass_through() -> None:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError as inner:
            raise RuntimeError("library wrapper") from inner
    except RuntimeError as exc:
        assert classify(exc)[0] == "reset"
    assert classify(ProbeError("eof", "closed early")) == ("eof", "closed early")
    assert classify(ValueError("odd"))[0] == "error"


@pytest.mark.parametrize(
    "kind", ["connect_refused", "connect_timeout", "read_timeout", "reset", "eof", "tls_error"]
)
def test_the_issue_kinds_exist(kind: str) -> None:
    assert kind in ERROR_KINDS
