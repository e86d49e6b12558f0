"""Wire format and control-request validation, with no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.udpstream import control, wire
from services.udpstream.control import Caps, ControlError


def test_data_header_layout_is_documented_bytes():
    data = wire.build_data(0x01020304, 5, 6, b"xy")
    assert data == (
        b"WU\x01D"
        + bytes.fromhex("01020304")
        + (5).to_bytes(8, "big")
        + (6).to_bytes(8, "big")
        + b"\x00\x02xy"
    )
    assert wire.DATA_HEADER_SIZE == 26
    assert wire.unpack_data(data) == wire.DataHeader(0x01020304, 5, 6, 2)


def test_64_bit_fields_round_trip_and_timestamp_wraps():
    top = (1 << 64) - 1
    h = wire.unpack_data(wire.build_data(1, top, (1 << 64) + 7))
    assert (h.seq, h.sent_ns) == (top, 7)


def test_pack_into_reuses_a_buffer():
    buf = bytearray(wire.DATA_HEADER_SIZE) + b"p" * 10
    wire.pack_data_into(buf, 9, 42, 1234)
    assert wire.unpack_data(bytes(buf)) == wire.DataHeader(9, 42, 1234, 10)


@pytest.mark.parametrize(
    ("data", "reason", "names"),
    [
        (b"WU", "truncated", "b'WU'"),
        (b"XX\x01D" + bytes(22), "bad_magic", "b'XX'"),
        (b"WU\x02D" + bytes(22), "bad_version", "version 2"),
        (b"WU\x01Z", "bad_kind", "b'Z'"),
        (b"WU\x01D" + bytes(10), "truncated", "14 bytes"),
        (
            wire.build_data(1, 2, 3, b"abc")[:-1],
            "bad_length",
            "says 3 payload bytes, datagram carries 2",
        ),
    ],
)
def test_bad_datagrams_name_the_bytes(data, reason, names):
    with pytest.raises(wire.WireError) as info:
        wire.unpack_data(data)
    assert info.value.reason == reason
    assert names in str(info.value)


def test_echo_and_control_framing():
    echo = wire.build_echo(3, 99, size=64)
    assert len(echo) == 64 and echo.startswith(wire.ECHO_PREFIX)
    assert wire.unpack_echo(echo) == (3, 99)
    ctl = wire.build_control(b'{"op":"health"}', pad_to=100)
    assert len(ctl) == 100 and control.parse_json(ctl[4:]) == {"op": "health"}


def test_payload_patterns():
    assert wire.make_payload("zeros", 30) == bytes(4)
    assert wire.make_payload("ramp", 26 + 300)[255:258] == b"\xff\x00\x01"
    assert wire.make_payload("random", 100, 7) == wire.make_payload("random", 100, 7)
    with pytest.raises(ValueError, match="unknown pattern 'x'"):
        wire.make_payload("x", 100)


def start(**fields):
    return control.parse_start({"op": "start", **fields}, Caps())


def test_start_request_accepted_and_duration_becomes_count():
    req = start(rate=1000, size=64, duration=2.5, pattern="ramp", id="a")
    assert (req.rate, req.size, req.count, req.pattern, req.request_id) == (
        1000,
        64,
        2500,
        "ramp",
        "a",
    )
    assert start(rate=10, size=26, count=3.0).count == 3  # 3.0 is a whole number


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rate": 10, "size": 64, "count": 1, "colour": "red"}, "unknown field 'colour'"),
        ({"rate": 0, "size": 64, "count": 1}, "rate 0 out of bounds"),
        ({"rate": 10**9, "size": 64, "count": 1}, "rate 1000000000 out of bounds"),
        ({"rate": True, "size": 64, "count": 1}, "rate must be a number"),
        ({"rate": 1.5, "size": 64, "count": 1}, "rate must be a whole number"),
        ({"rate": 10, "size": 25, "count": 1}, "size 25 out of bounds: 26..1472"),
        ({"rate": 10, "size": 9000, "count": 1}, "size 9000 out of bounds"),
        ({"rate": 10, "size": 64}, "exactly one of 'count' or 'duration'"),
        ({"rate": 10, "size": 64, "count": 1, "duration": 1}, "exactly one of"),
        ({"rate": 10, "size": 64, "duration": 1e9}, "at most 60 s"),
        ({"rate": 10, "size": 64, "duration": float("nan")}, "duration must be a number"),
        ({"rate": 1, "size": 64, "count": 61}, "more than the 60 s cap"),
        ({"rate": 100_000, "size": 1472, "count": 1}, "exceeds the 125000000 bytes/s cap"),
        ({"rate": 10, "size": 64, "count": 1, "pattern": "x"}, "unknown pattern 'x'"),
        ({"size": 64, "count": 1}, "needs 'rate'"),
    ],
)
def test_start_request_errors_name_the_cause(fields, message):
    with pytest.raises(ControlError, match=message.replace("(", r"\(")):
        start(**fields)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
    ],
)
def test_bad_json_is_named(body, message):
    with pytest.raises(ControlError, match=message):
        control.parse_json(body)


def test_other_ops():
    assert control.op_of({}) == "start"
    with pytest.raises(ControlError, match="unknown op 'fly'"):
        control.op_of({"op": "fly"})
    assert control.parse_other({"op": "stop", "stream": 5}, "stop") == (5, None)
    with pytest.raises(ControlError, match="stop request needs 'stream'"):
        control.parse_other({"op": "stop"}, "stop")
    with pytest.raises(ControlError, match="stream must be a stream id"):
        control.parse_other({"op": "keepalive", "stream": -1}, "keepalive")
    with pytest.raises(ControlError, match="validate request needs 'token'"):
        control.parse_other({"op": "validate"}, "validate")


@given(st.binary(max_size=80) | st.builds(lambda b: b"WU\x01D" + b, st.binary(max_size=60)))
def test_any_bytes_parse_or_raise_wire_error(data):
    try:
        header = wire.unpack_data(data)
    except wire.WireError as exc:
        assert exc.reason in ("truncated", "bad_magic", "bad_version", "bad_kind", "bad_length")
    else:
        assert len(data) == wire.DATA_HEADER_SIZE + header.payload_len
