"""The HTTP screen's parser and its hand-over rule, without a network (issue 16, item 3).

h11 is the oracle: for generated request and response streams, split anywhere, the screen
must find exactly the message boundaries h11 finds, relay every byte once, and hold back
only from a boundary. The explicit cases are the plausible wrong answers: a fast parser
that trusts one of two lengths, reads past an obs-fold, frames a HEAD response by its
Content-Length, or forwards a request a toxic should answer.
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.faultproxy.http.framing import (
    CHUNKED,
    INFORMATIONAL,
    NOT_FRAMED,
    BodyScanner,
    parse_request_head,
    parse_response_head,
)
from services.faultproxy.http.matching import parse_match
from services.faultproxy.http.plan import Plan
from services.faultproxy.http.screen import HttpScreen
from services.faultproxy.http.toxic_specs import HttpToxicRule

FIELD_VALUE = st.text(alphabet="abcXYZ019 ;=,/.-_", min_size=0, max_size=20).map(str.strip)


def chunked(body: bytes, sizes: list[int], ext: bool, trailer: bool) -> bytes:
    out, pos = b"", 0
    for size in sizes:
        if pos >= len(body):
            break
        piece = body[pos : pos + max(size, 1)]
        pos += len(piece)
        out += f"{len(piece):x}{';x=1' if ext else ''}\r\n".encode() + piece + b"\r\n"
    if pos < len(body):
        out += f"{len(body) - pos:X}\r\n".encode() + body[pos:] + b"\r\n"
    return out + b"0\r\n" + (b"X-Sum: 1\r\n" if trailer else b"") + b"\r\n"


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]))
    path = "/" + draw(st.text(alphabet="abz09-_/.%", max_size=12))
    query = draw(st.sampled_from(["", "?a=1", "?q=x%20y&b"]))
    fields = draw(
        st.lists(
            st.tuples(st.sampled_from(["Accept", "X-Lab", "user-agent"]), FIELD_VALUE), max_size=4
        )
    )
    body = draw(st.binary(max_size=200))
    framing = draw(st.sampled_from(["none", "length", "chunked"])) if body else "none"
    head = f"{method} {path}{query} HTTP/1.1\r\nHost: lab\r\n"
    head += "".join(f"{n}:{' ' if draw(st.booleans()) else ''}{v}\r\n" for n, v in fields)
    if framing == "length":
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    if framing == "chunked":
        sizes = draw(st.lists(st.integers(1, 80), max_size=5))
        coded = chunked(body, sizes, draw(st.booleans()), draw(st.booleans()))
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + coded
    return (head + "\r\n").encode()


@st.composite
def responses(draw: st.DrawFn) -> tuple[str, bytes]:
    """(the request's method, the response to it), 1xx first now and then."""
    method = draw(st.sampled_from(["GET", "GET", "POST", "HEAD"]))
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 429, 500]))
    body = draw(st.binary(max_size=200))
    out = b"HTTP/1.1 100 Continue\r\n\r\n" if draw(st.booleans()) else b""
    head = f"HTTP/1.1 {status} Whatever\r\nServer: lab\r\n"
    if status in (204, 304):
        return method, out + (head + "\r\n").encode()
    if draw(st.booleans()):
        wire = b"" if method == "HEAD" else body
        return method, out + (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + wire
    sizes = draw(st.lists(st.integers(1, 80), max_size=4))
    wire = b"" if method == "HEAD" else chunked(body, sizes, draw(st.booleans()), False)
    return method, out + (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + wire


def h11_request_ends(stream: bytes) -> list[int]:
    """Where each request ends in ``stream``, by h11 (a new connection per message, as the
    exchange does)."""
    ends: list[int] = []
    offset, rest = 0, stream
    while rest:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(rest)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.EndOfMessage):
                break
        else:
            raise AssertionError("h11 needs more data: the generator made a bad stream")
        left = len(conn.trailing_data[0])
        offset += len(rest) - left
        ends.append(offset)
        rest = rest[len(rest) - left :]
    return ends


def relay(screen: HttpScreen, pieces: list[bytes]) -> tuple[bytes, bytes | None]:
    """Feed ``pieces`` as a copy pump would (it stops reading once something is held)."""
    out = b""
    for piece in pieces:
        passed, held = screen.client_bytes(piece)
        out += passed
        if held is not None:
            return out, held
    return out, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


def screen_with(plan_for: dict[str, Plan] | None = None) -> tuple[HttpScreen, list[int]]:
    ready: list[int] = []
    plans = plan_for or {}
    screen = HttpScreen(lambda head: plans.get(head.path, Plan()), lambda: ready.append(1))
    return screen, ready


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests(), min_size=1, max_size=5), st.lists(st.integers(0, 10_000), max_size=6))
def test_any_split_relays_every_byte_once_and_holds_only_from_a_boundary(
    reqs: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(reqs)
    ends = h11_request_ends(stream)
    assert len(ends) == len(reqs)
    screen, _ = screen_with()
    passed, held = relay(screen, split(stream, cuts))
    assert passed + (held or b"") == stream[: len(passed) + len(held or b"")]
    if held is None:
        assert passed == stream
        assert screen.requests == len(reqs)
    else:
        # A head cut by a read is h11's job: the hold starts where a request starts.
        assert len(passed) in [0, *ends]
        assert screen.requests == [0, *ends].index(len(passed))


@settings(max_examples=200, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=5), st.data())
def test_bodies_cut_anywhere_but_heads_whole_never_need_h11(
    reqs: list[bytes], data: st.DataObject
) -> None:
    """Splits only outside heads: the body scanner must follow lengths and chunks across reads."""
    pieces: list[bytes] = []
    for raw in reqs:
        head_end = raw.index(b"\r\n\r\n") + 4
        body = raw[head_end:]
        cuts = data.draw(st.lists(st.integers(0, max(len(body), 1)), max_size=4))
        body_pieces = split(body, cuts) if body else []
        pieces.append(raw[:head_end] + (body_pieces[0] if body_pieces else b""))
        pieces.extend(body_pieces[1:])
    screen, _ = screen_with()
    passed, held = relay(screen, pieces)
    assert held is None and passed == b"".join(reqs)
    assert screen.requests == len(reqs)


@settings(max_examples=300, deadline=None)
@given(st.lists(responses(), min_size=1, max_size=5), st.lists(st.integers(0, 10_000), max_size=8))
def test_responses_split_anywhere_end_where_h11_says(
    exchanges: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    screen, _ = screen_with()
    for method, _ in exchanges:
        passed, held = screen.client_bytes(f"{method} /x HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        assert held is None
    stream = b"".join(raw for _, raw in exchanges)
    pieces = split(stream, cuts)
    for piece in pieces:
        assert not screen.at_rest  # a response is still awaited until the last byte
        assert screen.upstream_bytes(piece) == (piece, None)
        assert not screen.opaque, screen.opaque
    assert screen.at_rest
    # h11 agrees that this stream is exactly these responses.
    for method, raw in exchanges:
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method=method, target="/x", headers=[("Host", "a")]))
        client.send(h11.EndOfMessage())
        client.receive_data(raw)
        events = []
        while (event := client.next_event()) is not h11.NEED_DATA:
            events.append(type(event))
            if event is h11.PAUSED or isinstance(event, h11.EndOfMessage):
                break
        assert events[-1] is h11.EndOfMessage and not client.trailing_data[0]


# ---- the plausible wrong answers -------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        # Both lengths: the smuggling shape. Trusting either one is the classic bug.
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa5\r\n\r\n",  # not ASCII digits
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n",  # obs-fold
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",  # space before the colon
        b"GET / HTTP/1.1\nHost: a\r\n\r\n",  # a bare LF
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"CONNECT lab:443 HTTP/1.1\r\nHost: lab:443\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
)
def test_heads_the_screen_must_not_frame_go_to_h11(head: bytes) -> None:
    assert parse_request_head(head) is None
    screen, ready = screen_with()
    assert screen.client_bytes(head + b"hello") == (b"", head + b"hello")
    assert screen.stopping and ready == [1]  # nothing awaited: the exchange takes over at once


def test_a_plain_head_is_read_exactly() -> None:
    parsed = parse_request_head(
        b"POST /api/x?y=1 HTTP/1.1\r\nHost: lab\r\nX-Lab:  slow \r\nContent-Length: 12\r\n\r\n"
    )
    assert parsed is not None
    head, framing = parsed
    assert (head.method, head.target, head.path, framing) == ("POST", "/api/x?y=1", "/api/x", 12)
    assert head.headers == (("host", "lab"), ("x-lab", "slow"), ("content-length", "12"))
    assert head.header("X-LAB") == "slow"


@pytest.mark.parametrize(
    ("head", "method", "framing"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", "GET", 7),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", "HEAD", 0),  # HEAD: never a body
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", "GET", 0),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", 0),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", CHUNKED),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "POST", INFORMATIONAL),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "GET", NOT_FRAMED),
        (b"HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", NOT_FRAMED),
        (b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", "GET", NOT_FRAMED),  # until the close
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "GET", None),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET",
            None,
        ),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "GET", None),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "GET", None),
    ],
)
def test_response_framing(head: bytes, method: str, framing: int | None) -> None:
    assert parse_response_head(head, method) == framing


@pytest.mark.parametrize(
    ("body", "broken"),
    [
        (b"5\r\nhello\r\n0\r\n\r\n", False),
        (b"5;name=value\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", False),
        (b"zz\r\nhello\r\n0\r\n\r\n", True),  # not a size
        (b"5\r\nhelloXX0\r\n\r\n", True),  # no CRLF after the data
        (b"5\nhello\r\n0\r\n\r\n", True),  # a bare LF
        (b"0\r\nbad trailer\r\n\r\n", True),
    ],
)
def test_chunked_bodies_byte_by_byte(body: bytes, broken: bool) -> None:
    scanner = BodyScanner(CHUNKED)
    for i in range(len(body)):
        if scanner.done or scanner.broken:
            break
        assert scanner.feed(body[i : i + 1], 0) == 1
    assert scanner.broken == broken
    assert scanner.done == (not broken)


def rule(kind: str, **attrs: object) -> HttpToxicRule:
    return HttpToxicRule(kind, dict(attrs), parse_match(attrs.get("match")))


def test_a_request_a_toxic_answers_is_held_until_earlier_responses_are_relayed() -> None:
    answer = Plan(terminal=rule("http_status", status=429))
    screen, ready = screen_with({"/limited": answer})
    pipelined = b"".join(
        f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in ("/a", "/limited", "/b")
    )
    passed, held = screen.client_bytes(pipelined)
    first = pipelined.index(b"GET /limited")
    # The wrong answer relays /limited upstream; a right one stops just before it.
    assert (passed, held) == (pipelined[:first], pipelined[first:])
    assert screen.planned is not None and screen.planned[1] is answer
    assert ready == []  # /a's response is still awaited
    screen.upstream_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    assert ready == []
    screen.upstream_bytes(b"o")
    assert ready == []
    screen.upstream_bytes(b"k")
    assert ready == [1]


@pytest.mark.parametrize(
    "plan",
    [
        Plan(request_delay=0.1),
        Plan(response_delay=0.1),
        Plan(drip=(3, 1.0)),
        Plan(terminal=rule("http_reset", mode="reset")),
    ],
)
def test_any_plan_that_changes_something_hands_over(plan: Plan) -> None:
    screen, ready = screen_with({"/x": plan})
    request = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    assert screen.client_bytes(request) == (b"", request)
    assert ready == [1]


def test_a_byte_toxic_waits_for_the_request_body_and_the_response() -> None:
    screen, ready = screen_with()
    head = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
    assert screen.client_bytes(head + b"12345") == (head + b"12345", None)
    screen.request_stop()
    assert ready == []  # mid-body: the body goes on first
    after = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    assert screen.client_bytes(b"67890" + after) == (b"67890", after)
    assert ready == []  # the POST's response is still awaited
    screen.upstream_bytes(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert ready == [1] and screen.ready


def test_a_response_it_cannot_frame_makes_the_connection_opaque_and_releases_a_hold() -> None:
    screen, ready = screen_with({"/x": Plan(request_delay=1.0)})
    screen.client_bytes(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
    request = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    assert screen.client_bytes(request) == (b"", request)
    assert ready == []
    # A close-delimited response: the screen cannot know where it ends, and says so.
    screen.upstream_bytes(b"HTTP/1.0 200 OK\r\n\r\nstream...")
    assert screen.opaque and ready == [1]
    # From then on everything is relayed as it comes.
    assert screen.client_bytes(b"anything") == (b"anything", None)


def test_bytes_no_request_asked_for_make_the_connection_opaque() -> None:
    screen, _ = screen_with()
    assert screen.upstream_bytes(b"220 lab ESMTP ready\r\n") == (b"220 lab ESMTP ready\r\n", None)
    assert "no request asked for" in screen.opaque
