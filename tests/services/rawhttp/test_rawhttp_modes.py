"""The concurrency modes side by side, and the process: start, stop, bad input."""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, run_module, service_process
from tests.services.rawhttp.conftest import (
    Server,
    connect,
    elapsed_since,
    get,
    health_ready,
    read_one,
    recv_until_eof,
    start_args,
)


def http_only(tmp_path, mode: str, *extra: str):
    server = Server(free_port(), state_dir=tmp_path / "state")
    args = start_args(server, mode, "--http-only", *extra)
    return server, service_process(args, lambda: health_ready(server.port), timeout=30)


def timed_get(port: int, timeout: float) -> tuple[float, int | None]:
    """Seconds until a GET /healthz is answered (status), or (timeout, None)."""
    start = time.monotonic()
    try:
        with connect(port, timeout=timeout) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = recv_until_eof(sock, timeout=timeout)
        return elapsed_since(start), int(data.split(b" ", 2)[1])
    except (TimeoutError, IndexError):
        return elapsed_since(start), None


@pytest.mark.parametrize("mode", ["blocking", "selectors"])
def test_one_slow_client_stalls_only_the_blocking_server(tmp_path, mode):
    server, proc = http_only(tmp_path, mode, "--header-timeout", "3")
    with proc, connect(server.port, timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # ...and the rest never comes
        time.sleep(0.3)  # let the server pick the slow client first
        waited, status = timed_get(server.port, timeout=8)
        slow_answer = recv_until_eof(slow, timeout=8)
    assert status == 200
    assert b" 408 " in slow_answer.split(b"\r\n", 1)[0]
    if mode == "blocking":
        # Served only once the slow client's 3 s head deadline ended its connection.
        assert waited >= 2.0, waited
    else:
        assert waited < 1.5, waited  # served at once, beside the slow client


def test_threads_mode_idle_keep_alive_clients_do_not_hold_workers(tmp_path):
    """Issue 19: with a thread per connection, 2 idle keep-alive clients filled a pool of 2
    and everyone else got 503. Idle connections now wait in the selector, not a worker."""
    server, proc = http_only(tmp_path, "threads", "--workers", "2", "--idle-timeout", "10")
    with proc:
        holders: list[socket.socket] = []
        try:
            for _ in range(10):
                sock = connect(server.port)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                assert read_one(sock).status == 200
                holders.append(sock)
            waited, status = timed_get(server.port, timeout=5)
            assert status == 200 and waited < 1.5, (status, waited)
            for sock in holders:  # and every holder is still served on its connection
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                assert read_one(sock).status == 200
        finally:
            for sock in holders:
                sock.close()


@pytest.mark.parametrize("mode", ["selectors", "threads"])
def test_a_dribbled_body_gets_408_at_the_minimum_rate(tmp_path, mode):
    """The body deadline no longer moves on every byte: 10 bytes/s against a minimum of
    20 bytes/s after 1 s of grace ends at t = 1 + 10t/20, about 2 s (the old rule: never)."""
    server, proc = http_only(
        tmp_path, mode, "--header-timeout", "1", "--min-body-rate", "20", "--idle-timeout", "30"
    )
    with proc, connect(server.port, timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        data = b""
        sent = 0
        sock.settimeout(0.1)
        while elapsed_since(start) < 8:
            try:
                sent += sock.send(b"x")
                data = sock.recv(65536)
                if data:
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        waited = elapsed_since(start)
        data += recv_until_eof(sock, timeout=5)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data[:80]
    assert b"slower than 20 bytes/s" in data
    # Bytes kept coming every 0.1 s: only a minimum rate can end this. The server's
    # deadline for the bytes it had: 1 s + sent / 20 (plus its 0.1 s sweep and load).
    due = 1 + sent / 20
    assert due - 0.2 <= waited <= due + 1.0, (waited, sent)


def test_threads_mode_serves_slow_clients_side_by_side(tmp_path):
    server, proc = http_only(tmp_path, "threads", "--workers", "4", "--header-timeout", "3")
    with proc, connect(server.port, timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        waited, status = timed_get(server.port, timeout=8)
    assert status == 200 and waited < 1.5


@pytest.mark.parametrize("mode", ["blocking", "threads"])
def test_other_modes_speak_the_same_http(tmp_path, mode):
    server = Server(free_port(), free_port(), free_port(), free_port(), tmp_path / "state")
    with service_process(start_args(server, mode), lambda: health_ready(server.port), timeout=30):
        with connect(server.port) as sock:  # pipelined and kept alive
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 2
                + b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            assert [read_one(sock).status for _ in range(3)] == [200, 200, 404]
        ctx = ssl.create_default_context(cafile=str(server.state_dir / "tls" / "ca.pem"))
        with socket.create_connection(("127.0.0.1", server.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                assert recv_until_eof(tls).startswith(b"HTTP/1.1 200 OK\r\n")
        with connect(server.echo_port) as sock:
            sock.sendall(b"ping")
            sock.shutdown(socket.SHUT_WR)
            assert recv_until_eof(sock) == b"ping"


def test_default_docroot_explains_the_lab(tmp_path):
    server, proc = http_only(tmp_path, "selectors")
    with proc:
        page = get(server.port, "/")
        assert page.status == 200 and b"raw socket" in page.body
        assert get(server.port, "/lab.css").headers["content-type"] == "text/css; charset=utf-8"
        assert get(server.port, "/notes.txt").status == 200
        binary = get(server.port, "/pattern.bin")
        assert binary.headers["content-type"] == "application/octet-stream"
        assert binary.body == bytes(range(256)) * 4


@pytest.mark.parametrize("mode", ["selectors", "threads", "blocking"])
def test_sigterm_exits_promptly_and_cleanly(tmp_path, mode):
    server, proc_cm = http_only(tmp_path, mode)
    with proc_cm as proc, connect(server.port) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")  # a kept-alive client
        read_one(idle)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert elapsed_since(start) < 3.0


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return run_module("services.rawhttp", *args, timeout=timeout)


def test_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--http-only", "--state-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port}/tcp" in lines[0] and "already in use" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--mode", "fibers"], "invalid choice: 'fibers'"),
        (["--port", "http"], "not a port number"),
        (["--workers", "0"], "must be greater than 0"),
        (["--docroot", "/no/such/dir"], "does not exist"),
        (["--strict", "--lenient"], "not allowed with argument"),
        (["--min-body-rate", "0"], "must be greater than 0"),
    ],
)
def test_bad_command_lines_say_why(tmp_path, args, words):
    result = run_cli(*args, "--http-only", "--port", str(free_port()), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


def test_bad_port_env_var_says_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "services.rawhttp", "--http-only", "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        env={**__import__("os").environ, "WIRELAB_RAWHTTP_PORT": "eighty"},
    )
    assert result.returncode == 2
    assert "WIRELAB_RAWHTTP_PORT must be a port number, got 'eighty'" in result.stderr
    assert "Traceback" not in result.stderr


def test_many_concurrent_clients_on_selectors(tmp_path):
    server, proc = http_only(tmp_path, "selectors")
    results: list[int] = []

    def client() -> None:
        with connect(server.port, timeout=10) as sock:
            for _ in range(20):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                results.append(read_one(sock, timeout=10).status)

    with proc:
        threads = [threading.Thread(target=client) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results == [200] * 400


def test_debug_log_shows_raw_requests_and_one_line_per_request(tmp_path):
    port = free_port()
    log_path = tmp_path / "rawhttp.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.rawhttp", "--http-only", "--port", str(port),
             "--state-dir", str(tmp_path), "--log-level", "debug"],
            cwd=REPO_ROOT, stdout=log_file, stderr=log_file,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    health_ready(port)
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None
                    time.sleep(0.1)
            get(port, "/notes.txt", "X-Student: hello there\r\n")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    text = log_path.read_text()
    assert "X-Student: hello there" in text  # the raw request, at debug level
    assert '"GET /notes.txt" 200' in text  # and the one-line summary


def test_bad_parsing_env_var_says_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "services.rawhttp", "--http-only", "--state-dir", str(tmp_path),
         "--port", str(free_port())],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=20,
        env={**__import__("os").environ, "WIRELAB_RAWHTTP_PARSING": "loose"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "WIRELAB_RAWHTTP_PARSING='loose': expected one of strict, lenient" in result.stderr
    assert "Traceback" not in result.stderr


LF_HEAD = b"GET /healthz HTTP/1.1\nHost: t\nConnection: close\n\n"


@pytest.mark.parametrize(
    ("env", "flag", "status"),
    [
        ({}, None, 400),  # strict by default
        ({"WIRELAB_RAWHTTP_PARSING": "lenient"}, None, 200),
        ({"WIRELAB_RAWHTTP_PARSING": "lenient"}, "--strict", 400),  # the flag wins
        ({}, "--lenient", 200),
    ],
)
def test_parsing_choice_from_flag_or_env(tmp_path, env, flag, status):
    server = Server(free_port(), state_dir=tmp_path / "state")
    args = start_args(server, "selectors", "--http-only", *([flag] if flag else []))
    environ = {**__import__("os").environ, **env}
    with service_process(args, lambda: health_ready(server.port), env=environ, timeout=30):
        with connect(server.port) as sock:
            sock.sendall(LF_HEAD)
            data = recv_until_eof(sock)
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
