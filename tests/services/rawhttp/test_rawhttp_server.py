"""rawhttp over real sockets: routes, every error case, keep-alive, pipelining, timeouts,
traversal, TLS with the lab CA, TCP echo and the line protocol."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.services.rawhttp.conftest import (
    SECRET,
    connect,
    elapsed_since,
    every_status,
    get,
    parse_responses,
    read_one,
    recv_until_eof,
    request,
)

# -- routes -------------------------------------------------------------------------------


def test_healthz(rawhttp):
    resp = get(rawhttp.port, "/healthz")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert json.loads(resp.body) == {"status": "ok", "service": "rawhttp", "mode": "selectors"}


def test_root_serves_the_index_page(rawhttp):
    resp = get(rawhttp.port, "/")
    assert resp.status == 200 and b"wirelab test" in resp.body
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["server"] == "wirelab-rawhttp" and resp.headers["date"].endswith(" GMT")


@pytest.mark.parametrize(
    ("path", "ctype", "size"),
    [
        ("/style.css", "text/css; charset=utf-8", 19),
        ("/sub/data.bin", "application/octet-stream", 256),
    ],
)
def test_static_content_types(rawhttp, path, ctype, size):
    resp = get(rawhttp.port, path)
    assert (resp.status, resp.headers["content-type"], len(resp.body)) == (200, ctype, size)


def test_head_has_the_length_and_no_body(rawhttp):
    with connect(rawhttp.port) as sock:
        sock.sendall(
            b"HEAD /sub/data.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        head = read_one(sock, "HEAD")
        after = read_one(sock)
    assert head.status == 200 and head.headers["content-length"] == "256" and head.body == b""
    assert after.status == 200  # the next response starts right where HEAD's head ended


def test_etag_if_none_match_gives_304(rawhttp):
    first = get(rawhttp.port, "/style.css")
    etag = first.headers["etag"]
    second = get(rawhttp.port, "/style.css", f"If-None-Match: {etag}\r\n")
    assert second.status == 304 and second.body == b"" and second.headers["etag"] == etag


def test_range_gives_206_and_416(rawhttp):
    part = get(rawhttp.port, "/sub/data.bin", "Range: bytes=10-19\r\n")
    assert part.status == 206 and part.body == bytes(range(10, 20))
    assert part.headers["content-range"] == "bytes 10-19/256"
    outside = get(rawhttp.port, "/sub/data.bin", "Range: bytes=300-\r\n")
    assert outside.status == 416 and outside.headers["content-range"] == "bytes */256"


def test_unknown_path_gets_a_real_404_page(rawhttp):
    resp = get(rawhttp.port, "/no/such/page")
    assert resp.status == 404
    assert resp.headers["content-type"].startswith("text/html") and b"404 Not Found" in resp.body


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/healthz"), ("DELETE", "/style.css"), ("PUT", "/_lab/requests")]
)
def test_wrong_method_gets_405_with_allow(rawhttp, method, path):
    resp = request(
        rawhttp.port,
        f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode(),
    )
    assert resp.status == 405 and resp.headers["allow"] == "GET, HEAD"
    assert method.encode() in resp.body


def test_echo_returns_the_exact_request_bytes(rawhttp):
    raw = (
        b"PATCH /echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Odd:   spaces  \r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n3;ext\r\nabc\r\n0\r\n\r\n"
    )
    resp = request(rawhttp.port, raw)
    assert resp.status == 200 and resp.headers["content-type"] == "text/plain"
    assert resp.body == raw


def test_request_log(rawhttp):
    marker = f"/no-such-{time.time_ns()}"
    before = time.time()
    get(rawhttp.port, marker)
    log = json.loads(get(rawhttp.port, f"/_lab/requests?since={before - 0.001}").body)
    entry = next(e for e in log["requests"] if e["path"] == marker)
    assert entry["method"] == "GET" and entry["status"] == 404 and entry["bytes"] > 100
    assert entry["peer"].startswith("127.0.0.1:") and entry["duration_ms"] >= 0
    assert before - 1 < entry["time"] < time.time() + 1
    limited = json.loads(get(rawhttp.port, "/_lab/requests?limit=1").body)
    assert limited["count"] == 1 and len(limited["requests"]) == 1
    bad = get(rawhttp.port, "/_lab/requests?limit=lots")
    assert bad.status == 400 and b"limit" in bad.body


# -- every error case: a correct response that says why, then a close ---------------------

ERROR_CASES = [
    (
        "space before colon",
        b"GET / HTTP/1.1\r\nHost : t\r\n\r\n",
        400,
        b"whitespace before the colon",
    ),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400, b"obs-fold"),
    ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400, b"without a Host"),
    ("duplicate host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, b"2 Host headers"),
    (
        "CL and TE",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        b"both Transfer-Encoding and Content-Length",
    ),
    (
        "conflicting CL",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
        b"conflicting Content-Length",
    ),
    (
        "chunked not last",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
        b"chunked must be last",
    ),
    (
        "unknown coding",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: rot13\r\n\r\n",
        501,
        b"unknown transfer coding 'rot13'",
    ),
    ("bad method", b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400, b"method is not a token"),
    ("bad version", b"GET / HTTP/one\r\nHost: t\r\n\r\n", 400, b"not an HTTP version"),
    (
        "unsupported version",
        b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        505,
        b"HTTP/2.0 is not supported",
    ),
    (
        "long request line",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        414,
        b"longer than 8190",
    ),
    (
        "big header",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n",
        431,
        b"longer than 16384",
    ),
    (
        "many headers",
        b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-N: 1\r\n" * 101 + b"\r\n",
        431,
        b"more than 100",
    ),
    (
        "big body",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100001\r\n\r\n" + b"x" * 100001,
        413,
        b"larger than 100000",
    ),
    (
        "big chunked body",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"10000\r\n"
        + b"x" * 65536
        + b"\r\n10000\r\n",
        413,
        b"grows past 100000",
    ),
    (
        "bad chunk",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        400,
        b"bad chunk size line: b'xyz'",
    ),
]


@pytest.mark.parametrize(
    ("raw", "status", "reason"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_cases(rawhttp, raw, status, reason):
    with connect(rawhttp.port) as sock:
        sock.sendall(raw)
        data = recv_until_eof(sock)  # the server closes: this returns, it does not time out
    resp = parse_responses(data, ["GET"])[0]
    assert resp.status == status
    assert resp.headers["connection"] == "close"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert reason in resp.body, resp.body


def test_error_is_logged_in_the_request_log(rawhttp):
    before = time.time()
    request(rawhttp.port, b"GET / HTTP/1.1\r\nHost : t\r\n\r\n")
    log = json.loads(get(rawhttp.port, f"/_lab/requests?since={before - 0.001}").body)
    assert 400 in [e["status"] for e in log["requests"]]


def test_slowloris_gets_408_after_the_header_deadline(rawhttp):
    with connect(rawhttp.port, timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        for _ in range(3):  # trickle bytes: progress must not extend the head deadline
            time.sleep(0.2)
            sock.sendall(b"X-A: b\r\n")
        data = recv_until_eof(sock, timeout=10)
        waited = elapsed_since(start)
    resp = parse_responses(data, ["GET"])[0]
    assert resp.status == 408 and b"did not arrive within 1 s" in resp.body
    assert 0.9 <= waited < 4.0, waited  # deadline 1 s; the loop sweeps every 0.1 s


# -- keep-alive and pipelining --------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(rawhttp):
    with connect(rawhttp.port) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            resp = read_one(sock)
            assert resp.status == 200 and "connection" not in resp.headers


def test_http10_closes_unless_it_asks_for_keep_alive(rawhttp):
    with connect(rawhttp.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = recv_until_eof(sock)
    assert parse_responses(data, ["GET"])[0].headers["connection"] == "close"
    with connect(rawhttp.port) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            resp = read_one(sock)
            assert resp.status == 200 and resp.headers["connection"] == "keep-alive"


def test_connection_close_is_honoured(rawhttp):
    with connect(rawhttp.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = recv_until_eof(sock)
    assert parse_responses(data, ["GET"])[0].headers["connection"] == "close"


def test_pipelined_requests_are_answered_in_order(rawhttp):
    pipeline = (
        b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
        b"HEAD /sub/data.bin HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        b"GET /never-answered HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    with connect(rawhttp.port) as sock:
        for i in range(0, len(pipeline), 7):  # and fragmented on the way
            sock.sendall(pipeline[i : i + 7])
        data = recv_until_eof(sock)
    responses = parse_responses(data, ["GET", "POST", "HEAD", "GET", "GET"])
    assert [r.status for r in responses] == [200, 200, 200, 404, 200]
    assert responses[1].body.endswith(b"\r\n\r\nfirst")
    assert b"never-answered" not in data


def test_idle_keep_alive_connection_is_closed(rawhttp):
    with connect(rawhttp.port, timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        read_one(sock)
        start = time.monotonic()
        assert sock.recv(100) == b""  # idle timeout 2 s: closed without a response
        assert 1.8 <= elapsed_since(start) < 5.0


def test_expect_100_continue(rawhttp):
    with connect(rawhttp.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"body")
        resp = read_one(sock, "POST")
    assert resp.status == 200 and resp.body.endswith(b"\r\n\r\nbody")


# -- traversal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub/%2E%2E/%2E%2E/secret.txt",
        "/link-out.txt",
        "/dir-out/secret.txt",
        "//etc/passwd",
        "/..%5csecret.txt",
        "http://t/../secret.txt",
    ],
)
def test_traversal_gets_404_and_never_the_file(rawhttp, target):
    resp = request(
        rawhttp.port, f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    )
    assert resp.status == 404
    assert SECRET.encode() not in resp.body and b"root:" not in resp.body


# -- TLS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1"])
def test_https_verifies_with_the_lab_ca(rawhttp, server_name):
    ctx = ssl.create_default_context(cafile=str(rawhttp.state_dir / "tls" / "ca.pem"))
    with socket.create_connection(("127.0.0.1", rawhttp.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as sock:
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            data = recv_until_eof(sock)
    health, css = parse_responses(data, ["GET", "GET"])
    assert health.status == 200 and json.loads(health.body)["status"] == "ok"
    assert css.body == b"body { color: red }"


def test_https_is_refused_without_the_lab_ca(rawhttp):
    ctx = ssl.create_default_context()  # the system CAs do not know the lab CA
    with socket.create_connection(("127.0.0.1", rawhttp.https_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert get(rawhttp.port, "/healthz").status == 200  # and the loop is fine afterwards


# -- TCP echo ---------------------------------------------------------------------------------


def test_echo_half_close_ends_after_the_last_byte(rawhttp):
    payload = bytes(range(256)) * 800  # 200 KiB, more than one recv()
    with connect(rawhttp.echo_port, timeout=10) as sock:
        for i in range(0, len(payload), 50_000):
            sock.sendall(payload[i : i + 50_000])
        sock.shutdown(socket.SHUT_WR)
        start = time.monotonic()
        echoed = recv_until_eof(sock, timeout=10)
    assert echoed == payload
    assert elapsed_since(start) < 3.0  # ended by the half-close, not by a timeout


def test_echo_keeps_a_conversation(rawhttp):
    with connect(rawhttp.echo_port) as sock:
        for word in (b"one", b"two\n", b"\x00\xff"):
            sock.sendall(word)
            got = b""
            while len(got) < len(word):
                got += sock.recv(100)
            assert got == word


# -- line protocol ------------------------------------------------------------------------


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def test_line_protocol_byte_by_byte(rawhttp):
    script = b"LIST\nGIMME nagle\nGIMME nothing-here\nPUT mine 5\nab\ncdGIMME mine\nQUIT\n"
    with connect(rawhttp.line_port) as sock:
        for byte in script:
            sock.sendall(bytes([byte]))
        data = recv_until_eof(sock)
    keys, rest = data.split(b"\n", 1)
    assert keys.startswith(b"KEYS ") and b"nagle" in keys.split()
    head, rest = rest.split(b"\n", 1)
    assert head.startswith(b"OKAY ")
    length = int(head.split()[1])
    story, rest = rest[:length], rest[length:]
    assert b"delayed ACK" in story
    assert rest == b"MISSING\nSTORED mine 5\nOKAY 5\nab\ncdBYE\n"


def test_line_protocol_over_long_line_gets_an_error_not_a_hang(rawhttp):
    with connect(rawhttp.line_port) as sock:
        sock.sendall(b"G" * 5000)  # no newline at all
        assert read_line(sock) == b"ERROR line longer than 1024 bytes\n"
        sock.sendall(b"still the same line\nGIMME nagle\n")
        assert read_line(sock).startswith(b"OKAY ")


def test_line_protocol_unknown_command(rawhttp):
    with connect(rawhttp.line_port) as sock:
        sock.sendall(b"HELLO there\n")
        assert read_line(sock).startswith(b"ERROR unknown command b'HELLO there'")


# -- fuzzing the live server ----------------------------------------------------------------

fuzz_pieces = st.lists(
    st.one_of(
        st.binary(max_size=60),
        st.sampled_from(
            [b"GET / HTTP/1.1\r\n", b"Host: t\r\n", b"\r\n", b"Content-Length: 4\r\n",
             b"Transfer-Encoding: chunked\r\n", b"4\r\nabcd\r\n", b"0\r\n\r\n", b"POST /echo HTTP/1.1\r\n"]
        ),
    ),
    max_size=12,
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=fuzz_pieces)
def test_any_bytes_over_a_socket_get_http_answers_or_nothing(rawhttp, pieces):
    """Arbitrary bytes in arbitrary pieces: every answer is well-formed HTTP (h11 parses
    it), every error says why, and the server keeps serving."""
    with connect(rawhttp.port) as sock:
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)  # the end of input ends the conversation
        data = recv_until_eof(sock)
    for status in every_status(data):
        assert 100 <= status < 600
    assert get(rawhttp.port, "/healthz").status == 200


def test_a_stalled_tls_handshake_does_not_block_other_https_clients(rawhttp):
    ctx = ssl.create_default_context(cafile=str(rawhttp.state_dir / "tls" / "ca.pem"))
    with connect(rawhttp.https_port) as stalled:
        stalled.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then nothing
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", rawhttp.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                assert recv_until_eof(sock).startswith(b"HTTP/1.1 200 OK\r\n")
        assert elapsed_since(start) < 2.0


def test_wrong_method_on_a_missing_file_is_404(rawhttp):
    raw = b"DELETE /no-such.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    assert request(rawhttp.port, raw).status == 404
