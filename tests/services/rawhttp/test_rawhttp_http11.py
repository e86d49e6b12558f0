"""The sans-I/O request parser: rules, limits, and any fragmentation of any bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.rawhttp.http11 import (
    NEED_DATA,
    ExpectContinue,
    Limits,
    ProtocolError,
    Request,
    RequestParser,
)


def parse_all(
    pieces: list[bytes], limits: Limits | None = None, eof: bool = True, strict: bool = True
) -> list:
    """Feed ``pieces`` one by one; every event until NEED_DATA, stopping after an error."""
    parser = RequestParser(limits, strict=strict)
    events: list = []
    for piece in pieces:
        parser.feed(piece)
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                break
            events.append(event)
            if isinstance(event, ProtocolError):
                return events
    if eof:
        error = parser.feed_eof()
        if error is not None:
            events.append(error)
    return events


def one(data: bytes, limits: Limits | None = None, strict: bool = True):
    events = [
        e for e in parse_all([data], limits, strict=strict) if not isinstance(e, ExpectContinue)
    ]
    assert len(events) == 1, events
    return events[0]


def test_simple_get():
    req = one(b"GET /a?b=1 HTTP/1.1\r\nHost: example\r\nX-Thing:  spaced value \r\n\r\n")
    assert isinstance(req, Request)
    assert (req.method, req.target, req.version) == ("GET", "/a?b=1", "HTTP/1.1")
    assert req.path == "/a" and req.query == "b=1"
    assert req.headers == [("host", "example"), ("x-thing", "spaced value")]
    assert req.keep_alive is True and req.body == b""


def test_content_length_body_and_raw_bytes():
    raw = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    req = one(raw)
    assert req.body == b"hello" and req.raw == raw


def test_chunked_body_with_extension_and_trailer():
    raw = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    req = one(raw)
    assert req.body == b"hello world" and req.raw == raw


def test_pipelined_requests_come_out_in_order():
    data = (
        b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(3))
        + b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
    )
    events = parse_all([data])
    assert [e.target for e in events] == ["/0", "/1", "/2", "/x"]
    assert events[-1].body == b"ok"


def test_bare_lf_and_leading_blank_lines_are_accepted_when_lenient():
    req = one(b"\r\n\nGET / HTTP/1.1\nHost: h\n\n", strict=False)
    assert isinstance(req, Request) and req.headers == [("host", "h")]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "bare LF before the request line"),
        (b"GET / HTTP/1.1\nHost: h\n\n", "request line ends in a bare LF"),
        (b"GET / HTTP/1.1\r\nHost: h\n\n", "b'Host: h\\n'"),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\n", "bare LF in a CRLF head"),
    ],
)
def test_strict_refuses_bare_lf_at_once(raw, words):
    """Strict is the default: a bare LF is a 400 as soon as it arrives, not a timeout."""
    events = parse_all([raw], eof=False)
    assert len(events) == 1 and events[0].status == 400 and words in events[0].message


@pytest.mark.parametrize(
    ("version", "headers", "keep_alive"),
    [
        ("HTTP/1.1", "", True),
        ("HTTP/1.1", "Connection: close\r\n", False),
        ("HTTP/1.1", "Connection: Keep-Alive, Close\r\n", False),
        ("HTTP/1.0", "", False),
        ("HTTP/1.0", "Connection: keep-alive\r\n", True),
    ],
)
def test_keep_alive_rules(version, headers, keep_alive):
    req = one(f"GET / {version}\r\nHost: h\r\n{headers}\r\n".encode())
    assert req.keep_alive is keep_alive


def test_higher_minor_version_is_answered_as_1_1():
    assert one(b"GET / HTTP/1.7\r\nHost: h\r\n\r\n").version == "HTTP/1.1"


def test_expect_continue_comes_before_the_body():
    parser = RequestParser()
    parser.feed(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert isinstance(parser.next_event(), ExpectContinue)
    assert parser.next_event() is NEED_DATA
    parser.feed(b"abc")
    assert parser.next_event().body == b"abc"


ERRORS = [
    # (request bytes, status, words the message must contain)
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "whitespace before the colon"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  folded\r\n\r\n", 400, "obs-fold"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "without a Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "2 Host headers"),
    (b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400, "2 Host headers"),
    (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "method is not a token"),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "not supported"),
    (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, "not supported"),
    (b"GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400, "not an HTTP version"),
    (b"GET / HTTP/1.1.1\r\nHost: h\r\n\r\n", 400, "not an HTTP version"),
    (b"GET /\r\nHost: h\r\n\r\n", 400, "METHOD SP target SP version"),
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "METHOD SP target SP version"),
    (b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request target"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, "without a colon"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400, "control byte"),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400, "control byte"),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        "both Transfer-Encoding and Content-Length",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
        "conflicting Content-Length",
    ),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n", 400, "conflicting"),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "not a number"),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400, "not a number"),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
        "chunked must be last",
    ),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "chunked must be last"),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, "once"),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: bogus\r\n\r\n",
        501,
        "unknown transfer coding",
    ),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: bogus, chunked\r\n\r\n", 501, "'bogus'"),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
        "not implemented",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        "bad chunk size",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        400,
        "not followed by CRLF",
    ),
    (b"GET / HTTP/1.1\r\nHost: h\r\n", 400, "closed in the middle"),
]


@pytest.mark.parametrize(("raw", "status", "words"), ERRORS, ids=[e[2] for e in ERRORS])
def test_protocol_errors(raw, status, words):
    error = one(raw)
    assert isinstance(error, ProtocolError)
    assert (error.status, words in error.message) == (status, True), error.message


def test_error_names_the_offending_bytes():
    error = one(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n")
    assert "b'Host : h'" in error.message


SMALL = Limits(max_request_line=100, max_head=300, max_headers=5, max_body=50)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET /" + b"a" * 200, 414),  # no line break yet: answered without waiting for one
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 400 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * 5 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 51\r\n\r\n", 413),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n"
            + b"a" * 32
            + b"\r\n20\r\n",
            413,
        ),
    ],
)
def test_limits(raw, status):
    error = parse_all([raw], SMALL, eof=False)[-1]
    assert isinstance(error, ProtocolError) and error.status == status, error


def test_body_exactly_at_the_limit_is_fine():
    req = one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n" + b"x" * 50, SMALL)
    assert isinstance(req, Request) and len(req.body) == 50


def test_partial_request_state_for_deadlines():
    parser = RequestParser()
    assert not parser.has_partial_request
    parser.feed(b"\r\n")
    assert not parser.has_partial_request  # stray blank lines start nothing
    parser.feed(b"GE")
    assert parser.has_partial_request and parser.reading_head
    parser.feed(b"T / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n")
    assert parser.next_event() is NEED_DATA
    assert parser.has_partial_request and not parser.reading_head
    parser.feed(b"ok")
    assert isinstance(parser.next_event(), Request)
    assert not parser.has_partial_request


# -- property-based ---------------------------------------------------------------------


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def normalise(events: list) -> list:
    """Requests compare whole; errors by status (a message quotes what had arrived)."""
    return [
        e.status if isinstance(e, ProtocolError) else e
        for e in events
        if not isinstance(e, ExpectContinue)
    ]


REQUEST_ALPHABET = st.sampled_from(
    [
        b"GET",
        b"POST",
        b" ",
        b"/",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"\r\n",
        b"\n",
        b"\r",
        b"Host: h",
        b"Content-Length: 3",
        b"Transfer-Encoding: chunked",
        b"3",
        b"0",
        b"abc",
        b":",
        b"\t",
        b"Connection: close",
        b"X-A: b",
        b"Expect: 100-continue",
        b"\x00",
        b"\xff",
        b";x=y",
    ]
)
http_like = st.lists(REQUEST_ALPHABET, max_size=40).map(b"".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(st.binary(max_size=400), http_like),
    cuts=st.lists(st.integers(0, 500), max_size=12),
    strict=st.booleans(),
)
def test_any_bytes_any_fragmentation(data, cuts, strict):
    """No exception escapes; every event is a request or an error status; and the
    fragmentation never changes the answer, strict or lenient."""
    whole = parse_all([data], SMALL, strict=strict)
    pieces = parse_all(split(data, cuts), SMALL, strict=strict)
    for event in whole:
        assert isinstance(event, Request | ProtocolError | ExpectContinue)
        if isinstance(event, ProtocolError):
            assert 400 <= event.status <= 505 and event.message
    assert normalise(pieces) == normalise(whole)


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.text(alphabet="abcxyz/-._~%0123456789", max_size=30),
    headers=st.lists(st.tuples(token, st.text(alphabet="abc 123;=,/", max_size=20)), max_size=6),
    body=st.binary(max_size=60),
    chunked=st.booleans(),
    cuts=st.lists(st.integers(0, 1000), max_size=10),
)
def test_valid_requests_round_trip(method, path, headers, body, chunked, cuts):
    headers = [
        (n, v.strip())
        for n, v in headers
        if n not in ("host", "content-length", "transfer-encoding", "connection", "expect")
    ]
    lines = [f"{method} /{path} HTTP/1.1", "Host: example"] + [f"{n}: {v}" for n, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        framed = (
            b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7])
                for i in range(0, len(body), 7)
            )
            + b"0\r\n\r\n"
        )
    else:
        lines.append(f"Content-Length: {len(body)}")
        framed = body
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + framed
    events = normalise(parse_all(split(raw, cuts), Limits()))
    assert len(events) == 1
    req = events[0]
    assert isinstance(req, Request), req
    assert (req.method, req.target, req.body, req.raw) == (method, "/" + path, body, raw)
    assert [
        h for h in req.headers if h[0] not in ("host", "content-length", "transfer-encoding")
    ] == headers


def test_an_error_is_reported_once_and_is_final():
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n")
    assert isinstance(parser.next_event(), ProtocolError)
    parser.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # ignored: the connection is over
    assert parser.next_event() is NEED_DATA
    assert not parser.has_partial_request and parser.feed_eof() is None
