"""The server's state machine driven with a fake clock: amplification, caps, keepalive, fuzz."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from services.udpstream import wire
from services.udpstream.control import Caps, encode
from services.udpstream.engine import Engine

A = ("127.0.0.1", 40000)
B = ("127.0.0.1", 40001)
MS = 1_000_000


def ctl(message: dict, pad: int = 512) -> bytes:
    return wire.build_control(encode(message), pad_to=pad)


def replies(out) -> list[dict]:
    return [json.loads(d[4:]) for d, _ in out if bytes(d[:4]) == wire.REPLY_PREFIX]


def engine(**caps) -> Engine:
    return Engine(Caps(**caps), secret=b"k" * 32, wall_ns=lambda: 0)


def pump(e: Engine, start_ns: int, end_ns: int, step_ns: int = MS) -> list[tuple[bytes, tuple]]:
    """Run the send side from start to end; return copies of what it sent."""
    sent = []
    for now in range(start_ns, end_ns, step_ns):
        sent += [(bytes(d), a) for d, a in e.send_due(now)]
    return sent


def start_msg(**extra) -> dict:
    return {"op": "start", "rate": 1000, "size": 1200, "count": 1000, "id": "r1", **extra}


def test_unvalidated_address_gets_at_most_three_times_what_it_sent():
    e = engine()
    request = ctl(start_msg())
    out = e.receive(request, A, 0)
    accept = replies(out)[0]
    assert accept["type"] == "accept" and accept["validated"] is False and accept["count"] == 1000
    out += pump(e, 0, 2000 * MS)
    received = len(request)
    sent = sum(len(d) for d, _ in out)
    assert 0 < sent <= 3 * received
    assert (
        sum(1 for d, _ in out if d[3] == wire.KIND_DATA) == 1
    )  # 1536 - accept leaves room for one
    assert e.counters["amplification_blocked"] >= 1
    assert e.clients[A].bytes_out == sent


def test_validation_with_the_token_resumes_the_stream_without_a_burst():
    e = engine()
    accept = replies(e.receive(ctl(start_msg(count=100)), A, 0))[0]
    pump(e, 0, 50 * MS)  # blocked after one datagram
    validated = replies(
        e.receive(ctl({"op": "validate", "token": accept["token"]}, pad=0), A, 50 * MS)
    )
    assert validated == [{"type": "validated"}]
    first = pump(e, 50 * MS, 51 * MS, 100_000)
    assert (
        sum(1 for d, _ in first if d[3] == wire.KIND_DATA) == 1
    )  # re-paced from now: no catch-up burst
    rest = pump(e, 51 * MS, 200 * MS)
    seqs = [wire.unpack_data(d).seq for d, _ in first + rest if d[3] == wire.KIND_DATA]
    assert seqs == list(range(1, 100))
    ends = [r for r in replies(rest) if r["type"] == "end"]
    end = {
        "type": "end",
        "stream": accept["stream"],
        "reason": "count",
        "sent": 100,
        "stalled_ms": 0.0,
    }
    assert ends == [end] * 3


def test_token_is_bound_to_the_address_and_expires():
    e = engine(token_lifetime=10)
    accept = replies(e.receive(ctl(start_msg()), A, 0))[0]
    err = replies(e.receive(ctl({"op": "validate", "token": accept["token"]}), B, 0))
    assert err[0]["type"] == "error" and "not valid for this address" in err[0]["error"]
    assert not e.token_valid(accept["token"], A, 11 * 10**9)
    assert not e.token_valid("zz.nothex", A, 0)


def test_token_in_a_later_start_validates_at_once():
    e = engine()
    token = replies(e.receive(ctl(start_msg(count=1)), A, 0))[0]["token"]
    again = replies(e.receive(ctl(start_msg(id="r2", count=1, token=token)), A, MS))[0]
    assert again["validated"] is True


def test_retransmitted_start_gets_the_same_accept_not_a_second_stream():
    e = engine()
    first = e.receive(ctl(start_msg()), A, 0)
    second = e.receive(ctl(start_msg()), A, MS)
    assert first[0][0] == second[0][0] and len(e.streams) == 1


def test_caps_refuse_with_the_cause():
    e = engine(max_streams_per_client=1, max_streams=2, max_client_seconds=5, client_window=100)
    e.receive(ctl(start_msg(count=1000)), A, 0)
    err = replies(e.receive(ctl(start_msg(id="r2")), A, 0))[0]
    assert err == {"type": "error", "error": err["error"], "id": "r2"}
    assert "too many streams: this client already has 1 (cap 1)" in err["error"]
    e.receive(ctl(start_msg(count=1000)), B, 0)
    third = replies(e.receive(ctl(start_msg()), ("127.0.0.1", 40002), 0))[0]
    assert "the server is running 2 (cap 2)" in third["error"]
    e.receive(ctl({"op": "stop", "stream": next(iter(e.clients[A].streams))}), A, 0)
    # 1 s used, 5 allowed: a 4.5 s stream would make 5.5
    over = replies(e.receive(ctl(start_msg(id="r3", count=4500)), A, 0))[0]
    assert "total duration cap: this client used 1 of 5 stream-seconds" in over["error"]
    ok = replies(e.receive(ctl(start_msg(id="r4", count=4500)), A, 101 * 10**9))[0]  # window passed
    assert ok["type"] == "accept"


def test_stop_ends_only_ones_own_stream():
    e = engine()
    sid = replies(e.receive(ctl(start_msg()), A, 0))[0]["stream"]
    err = replies(e.receive(ctl({"op": "stop", "stream": sid}), B, 0))[0]
    assert f"no stream {sid} for this address" in err["error"]
    ends = replies(e.receive(ctl({"op": "stop", "stream": sid}), A, 0))
    assert ends[0] == {
        "type": "end",
        "stream": sid,
        "reason": "stopped",
        "sent": 0,
        "stalled_ms": 0.0,
    }
    assert not e.streams


def test_silent_client_stream_stops_on_keepalive_timeout():
    e = engine(keepalive_timeout=0.5)
    accept = replies(e.receive(ctl(start_msg(count=10_000, rate=1000, size=100)), A, 0))[0]
    e.receive(ctl({"op": "validate", "token": accept["token"]}), A, 0)
    e.receive(ctl({"op": "keepalive", "stream": accept["stream"]}, pad=0), A, 400 * MS)
    out = pump(e, 0, 1000 * MS)
    assert accept["stream"] in e.streams  # heard at 0.4 s: alive until 0.9 s
    out += pump(e, 1000 * MS, 1100 * MS)
    ends = [r for r in replies(out) if r["type"] == "end"]
    assert ends and ends[0]["reason"] == "keepalive" and 900 <= ends[0]["sent"] <= 1001
    assert not e.streams and e.counters["ended_keepalive"] == 1


def test_echo_comes_back_unchanged_and_health_answers():
    e = engine()
    echo = wire.build_echo(7, 123, size=100) + b"tail"
    assert e.receive(echo, A, 0) == [(echo, A)]
    health = replies(e.receive(ctl({"op": "health"}), A, 5 * 10**9))[0]
    assert health["service"] == "udpstream" and health["uptime_s"] == 5.0
    assert health["counters"]["echo"] == 1


def test_tiny_control_request_gets_a_pad_hint_within_budget():
    e = engine()
    out = e.receive(ctl({"op": "health"}, pad=0), A, 0)  # 19 bytes in: 57 allowed back
    assert out == [] or sum(len(d) for d, _ in out) <= 57
    assert e.counters["amplification_blocked"] >= 1


def test_bad_input_is_counted_and_answered_where_useful():
    e = engine()
    assert e.receive(b"garbage!", A, 0) == []
    assert e.receive(b"WU", A, 0) == []
    version = replies(e.receive(b"WU\x09C" + b" " * 200, A, 0))
    assert "unsupported version 9" in version[0]["error"]
    bad_json = replies(e.receive(ctl({"op": "start"}, pad=0)[:-3] + b"   " + b" " * 300, A, 0))
    assert "not JSON" in bad_json[0]["error"]
    unknown = replies(
        e.receive(ctl({"op": "start", "rate": 1, "size": 64, "count": 1, "x": 1}), A, 0)
    )
    assert "unknown field 'x'" in unknown[0]["error"]
    assert e.receive(wire.build_data(1, 2, 3), A, 0) == []  # data has no business at the server
    c = e.counters
    assert (
        c["bad_magic"],
        c["truncated"],
        c["bad_version"],
        c["bad_request"],
        c["unexpected_kind"],
    ) == (1, 1, 1, 2, 1)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.binary(max_size=300) | st.builds(lambda b: b"WU\x01C" + b, st.binary(max_size=200)),
        max_size=20,
    )
)
def test_fuzz_never_raises_and_never_amplifies(datagrams):
    e = engine()
    now = 0
    for data in datagrams:
        out = e.receive(data, A, now)
        out += [(bytes(d), a) for d, a in e.send_due(now)]
        now += MS
    client = e.clients.get(A)
    if client is not None:
        assert client.validated or client.bytes_out <= 3 * client.bytes_in


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["op", "rate", "size", "count", "duration", "pattern", "id", "token", "stream", "x"]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.lists(st.integers(), max_size=2),
    )
)
def test_fuzz_json_requests_get_an_answer_or_nothing(request):
    e = engine()
    out = e.receive(ctl(request, pad=1024), A, 0)
    for reply in replies(out):
        assert reply["type"] in ("accept", "error", "health", "validated", "end")
