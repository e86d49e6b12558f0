"""The HTTP fault engine with no sockets: bytes in, bytes (and due times) out."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from services.faultproxy.core.toxic_types import ToxicError
from services.faultproxy.http.exchange import FIN, RESET, HttpExchange
from services.faultproxy.http.matching import MatchError, RequestHead, parse_match
from services.faultproxy.http.plan import plan_request
from services.faultproxy.http.toxic_specs import register_http_toxics

TYPES = {t.name: t for t in register_http_toxics()}


@dataclass
class FakeToxic:
    """The fields of the core's Toxic that the planner reads."""

    name: str
    type: str
    stream: str
    toxicity: float
    runtime: Any


def toxic(kind: str, stream: str = "downstream", toxicity: float = 1.0, **attrs) -> FakeToxic:
    values = TYPES[kind].normalize(attrs)
    return FakeToxic(f"{kind}_{stream}", kind, stream, toxicity, TYPES[kind].factory(values))


class Harness:
    def __init__(self, *toxics: FakeToxic, seed: int = 1):
        self.toxics = list(toxics)
        self.counts: dict[tuple[str, str], int] = {}
        rng = random.Random(seed)
        self.ex = HttpExchange(lambda head: plan_request(head, self.toxics, rng, self.count), rng)

    def count(self, t: FakeToxic, outcome: str, detail: dict) -> None:
        self.counts[(t.name, outcome)] = self.counts.get((t.name, outcome), 0) + 1

    def upstream_bytes(self) -> bytes:
        out = b"".join(o.data for o in self.ex.to_upstream)
        self.ex.to_upstream.clear()
        return out

    def client_bytes(self) -> bytes:
        out = b"".join(o.data for o in self.ex.to_client)
        self.ex.to_client.clear()
        return out


GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"


def test_untouched_traffic_is_forwarded_byte_for_byte_in_any_split():
    requests = GET + b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello" + GET
    responses = OK + CHUNKED + b"HTTP/1.1 204 No Content\r\n\r\n"
    h = Harness(toxic("http_status", status=500, match={"path": "/nowhere"}))
    for i in range(0, len(requests), 7):
        h.ex.from_client(requests[i : i + 7], 0.0)
    assert h.upstream_bytes() == requests
    for i in range(0, len(responses), 5):
        h.ex.from_upstream(responses[i : i + 5], 0.0)
    assert h.client_bytes() == responses
    assert h.ex.stats.requests == 3 and h.ex.stats.responses == 3


def test_status_answer_waits_its_turn_behind_an_upstream_response():
    h = Harness(
        toxic(
            "http_status",
            status=429,
            headers={"Retry-After": "7"},
            body="slow down",
            match={"path": "/limited"},
        )
    )
    h.ex.from_client(GET + b"GET /limited HTTP/1.1\r\nHost: x\r\n\r\n" + GET, 0.0)
    assert h.upstream_bytes() == GET + GET  # the answered request never reaches upstream
    assert h.client_bytes() == b""  # the answer must not overtake the first response
    h.ex.from_upstream(OK + OK, 0.0)
    out = h.client_bytes()
    assert out.startswith(OK)
    assert out.endswith(OK)
    answer = out[len(OK) : -len(OK)]
    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"Retry-After: 7\r\n" in answer and b"Content-Length: 9\r\n" in answer
    assert answer.endswith(b"\r\n\r\nslow down")
    assert h.counts == {
        ("http_status_downstream", "matched"): 1,
        ("http_status_downstream", "faulted"): 1,
    }


def test_status_body_of_the_request_is_swallowed_and_head_gets_no_body():
    h = Harness(toxic("http_status", status=404, body="gone"))
    h.ex.from_client(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 0.0)
    h.ex.from_client(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 0.0)
    assert h.upstream_bytes() == b""
    out = h.client_bytes()
    assert out.count(b"HTTP/1.1 404 Not Found") == 2
    assert out.endswith(b"Content-Length: 4\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")


def test_a_client_that_asks_to_close_gets_connection_close_and_a_fin():
    h = Harness(toxic("http_status", status=503))
    h.ex.from_client(b"GET / HTTP/1.0\r\n\r\n", 0.0)
    out = list(h.ex.to_client)
    assert b"Connection: close" in out[0].data
    assert out[-1].action == FIN
    assert h.ex.to_upstream[-1].action == FIN


def test_thirty_percent_toxicity_faults_about_thirty_percent_of_requests():
    h = Harness(toxic("http_status", status=503, toxicity=0.3), seed=99)
    for _ in range(1000):
        h.ex.from_client(GET, 0.0)
    faulted = h.counts[("http_status_downstream", "faulted")]
    assert h.counts[("http_status_downstream", "matched")] == 1000
    assert 240 <= faulted <= 360
    assert h.upstream_bytes() == GET * (1000 - faulted)


@pytest.mark.parametrize(
    ("match", "request_bytes", "hit"),
    [
        ({"method": "POST"}, GET, False),
        ({"method": ["get", "HEAD"]}, GET, True),
        ({"path": "/a"}, GET, True),
        ({"path": ["/b", "/c"]}, GET, False),
        ({"path": "/a"}, b"GET http://x/a?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (
            {"headers": {"X-Lab": "slow"}},
            b"GET / HTTP/1.1\r\nHost: x\r\nx-lab:  slow\r\n\r\n",
            True,
        ),
        (
            {"headers": {"X-Lab": "slow"}},
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Lab: fast\r\n\r\n",
            False,
        ),
        ({"header": {"X-Lab": None}}, b"GET / HTTP/1.1\r\nHost: x\r\nX-Lab: any\r\n\r\n", True),
    ],
)
def test_match_confines_the_fault(match, request_bytes, hit):
    h = Harness(toxic("http_status", status=418, match=match))
    h.ex.from_client(request_bytes, 0.0)
    assert (h.upstream_bytes() == b"") is hit
    assert h.counts.get(("http_status_downstream", "faulted"), 0) == int(hit)


def test_reset_empty_and_malformed_end_the_connection():
    h = Harness(toxic("http_reset"))
    h.ex.from_client(GET, 0.0)
    assert [o.action for o in h.ex.to_client] == [RESET]
    h = Harness(toxic("http_reset", mode="empty"))
    h.ex.from_client(GET, 0.0)
    assert [(o.data, o.action) for o in h.ex.to_client] == [(b"", FIN)]
    h = Harness(toxic("http_malformed"))
    h.ex.from_client(GET + GET, 0.0)
    first, last = h.ex.to_client
    assert first.data.startswith(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz")
    assert last.action == FIN
    assert h.upstream_bytes() == b""  # nothing reaches upstream, not even the second request


def test_delay_request_and_response_headers():
    h = Harness(
        toxic("http_delay", stream="upstream", latency=300), toxic("http_delay", latency=200)
    )
    h.ex.from_client(GET, 10.0)
    assert [o.due for o in h.ex.to_upstream] == [pytest.approx(10.3)]
    h.ex.from_upstream(OK, 11.0)
    assert [o.due for o in h.ex.to_client][0] == pytest.approx(11.2)


def test_drip_sends_headers_then_slices_over_the_duration():
    h = Harness(toxic("http_drip", chunks=4, duration=2000))
    h.ex.from_client(GET, 0.0)
    body = b"0123456789abcdef"
    h.ex.from_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n" + body, 5.0)
    outs = list(h.ex.to_client)
    assert outs[0].due == 5.0 and outs[0].data.endswith(b"\r\n\r\n")
    assert [o.data for o in outs[1:]] == [b"0123", b"4567", b"89ab", b"cdef"]
    assert [o.due for o in outs[1:]] == pytest.approx([5.5, 6.0, 6.5, 7.0])


def test_non_http_traffic_passes_through_untouched():
    h = Harness(toxic("http_status", status=500))
    h.ex.from_client(b"\x16\x03\x01 binary \x00 stuff\r\n\r\n", 0.0)
    h.ex.from_client(b"more", 0.0)
    assert h.upstream_bytes() == b"\x16\x03\x01 binary \x00 stuff\r\n\r\nmore"
    h.ex.from_upstream(b"anything back", 0.0)
    assert h.client_bytes() == b"anything back"
    assert h.ex.stats.not_http


def test_websocket_upgrade_switches_to_a_raw_relay():
    h = Harness(toxic("http_status", status=500, match={"path": "/api"}))
    upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    h.ex.from_client(upgrade + b"\x81\x05frame", 0.0)
    assert h.upstream_bytes() == upgrade + b"\x81\x05frame"
    switched = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    h.ex.from_upstream(switched + b"\x81\x02hi", 0.0)
    assert h.client_bytes() == switched + b"\x81\x02hi"
    h.ex.from_client(b"GET /api HTTP/1.1\r\n\r\n", 0.0)  # websocket payload now, not a request
    assert h.upstream_bytes() == b"GET /api HTTP/1.1\r\n\r\n"


def test_close_delimited_response_and_eofs_pass_through():
    h = Harness(toxic("http_delay", latency=0))
    h.ex.from_client(GET, 0.0)
    h.ex.from_upstream(b"HTTP/1.1 200 OK\r\n\r\nuntil close", 0.0)
    h.ex.upstream_eof(0.0)
    assert h.client_bytes() == b"HTTP/1.1 200 OK\r\n\r\nuntil close"
    h.ex.client_eof(0.0)
    assert h.ex.to_upstream[-1].action == FIN


def test_abandon_hands_on_a_half_received_request():
    h = Harness(toxic("http_delay", latency=0))
    h.ex.from_client(b"GET / HTTP/1.1\r\nHo", 0.0)
    assert not h.ex.idle
    h.ex.abandon()
    assert h.upstream_bytes() == b"GET / HTTP/1.1\r\nHo"
    h.ex.from_client(b"st: x\r\n\r\n", 0.0)
    assert h.upstream_bytes() == b"st: x\r\n\r\n"


@pytest.mark.parametrize(
    ("kind", "attrs", "message"),
    [
        ("http_status", {"status": 99}, "http_status.status must be >= 200"),
        ("http_status", {"headers": {"Bad Name": "x"}}, "not a valid header name"),
        ("http_status", {"headers": {"X": "a\r\nb"}}, "must not contain CR"),
        ("http_status", {"headers": {"Content-Length": "1"}}, "set by the proxy"),
        ("http_status", {"match": {"verb": "GET"}}, "unknown key"),
        ("http_status", {"match": "GET"}, "match must be an object"),
        ("http_reset", {"mode": "explode"}, "must be one of"),
        ("http_drip", {"chunks": 0}, "http_drip.chunks must be >= 1"),
    ],
)
def test_bad_attributes_are_rejected_with_the_cause(kind, attrs, message):
    with pytest.raises(ToxicError, match=message):
        TYPES[kind].normalize(attrs)


def test_parse_match_rejects_paths_without_a_slash():
    with pytest.raises(MatchError, match="start with '/'"):
        parse_match({"path": "api"})
    assert parse_match({}).matches(RequestHead("GET", "/", ()))


# -- property tests: any split, any garbage ------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PIPELINE = (
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    b"PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
)
RESPONSES = OK + CHUNKED + b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.integers(0, len(data)), max_size=12).map(
        lambda cuts: [
            data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True)
        ]
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(splits(PIPELINE), splits(RESPONSES))
def test_any_split_of_untouched_traffic_is_forwarded_exactly(
    requests: list[bytes], responses: list[bytes]
):
    h = Harness(toxic("http_status", status=500, match={"path": "/nowhere"}))
    for part in requests:
        h.ex.from_client(part, 0.0)
    for part in responses:
        h.ex.from_upstream(part, 0.0)
    assert h.upstream_bytes() == PIPELINE
    assert h.client_bytes() == RESPONSES


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=64)), max_size=20), st.integers(0, 3))
def test_arbitrary_bytes_either_way_never_raise(chunks: list[tuple[bool, bytes]], which: int):
    kinds = [
        toxic("http_status", status=429, toxicity=0.5),
        toxic("http_drip", chunks=3, duration=10),
        toxic("http_reset", mode="empty"),
        toxic("http_delay", stream="upstream", latency=5),
    ]
    h = Harness(kinds[which])
    for from_client, data in chunks:
        if from_client:
            h.ex.from_client(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + data, 0.0)
        else:
            h.ex.from_upstream(data, 0.0)
    h.ex.client_eof(1.0)
    h.ex.upstream_eof(1.0)
    assert all(isinstance(o.data, bytes) for o in [*h.ex.to_client, *h.ex.to_upstream])


def test_a_line_protocol_is_recognised_as_not_http_at_its_first_line():
    h = Harness(toxic("http_status", status=500))
    h.ex.from_client(b"GIMME", 0.0)
    assert h.upstream_bytes() == b""  # could still become "GIMME / HTTP/1.1"
    h.ex.from_client(b" file.txt\n", 0.0)
    assert h.upstream_bytes() == b"GIMME file.txt\n"
    assert "not an HTTP/1.x request line" in h.ex.stats.not_http


def test_a_head_that_never_completes_is_relayed_after_the_head_timeout():
    h = Harness(toxic("http_status", status=500))
    h.ex.from_client(b"ping", 5.0)
    assert h.ex.head_started == 5.0 and h.upstream_bytes() == b""
    h.ex.head_timed_out(6.0)
    assert h.upstream_bytes() == b"ping"
    h.ex.from_client(b"pong", 6.1)
    assert h.upstream_bytes() == b"pong"
