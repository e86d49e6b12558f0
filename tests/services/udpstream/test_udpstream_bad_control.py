"""Control bodies that used to reach the internal-error handler: a clear error reply, a
quiet log, and the ``internal_errors`` counter in the health reply."""

from __future__ import annotations

import json
import logging
import select
import socket
from pathlib import Path

import pytest

from services.udpstream import wire
from services.udpstream.control import parse_json
from services.udpstream.health import probe
from services.udpstream.server import InternalErrorLog
from tests.services.udpstream.udp_helpers import start_server

HUGE_NUMBER = b'{"rate": ' + b"7" * 5000 + b', "size": 64, "count": 1}'
DEEP_NESTING = b'{"rate": ' + b"[" * 25_000 + b"]" * 25_000 + b"}"  # fits one datagram


def test_parse_json_names_the_cause_of_huge_numbers_and_deep_nesting() -> None:
    from services.udpstream.control import ControlError

    with pytest.raises(ControlError, match="number longer than 4300 digits"):
        parse_json(HUGE_NUMBER)
    with pytest.raises(ControlError, match="nested too deeply"):
        parse_json(DEEP_NESTING)


def test_service_answers_each_bad_body_with_an_error_and_logs_no_traceback(
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "udpstream.log"
    port, proc = start_server(log_path=log_path)
    with proc:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", port))
        errors: list[str] = []
        with sock:
            for body in [HUGE_NUMBER, DEEP_NESTING] * 10:
                # Both bodies are large, so the anti-amplification budget allows the reply.
                sock.send(wire.build_control(body))
                ready = select.select([sock], [], [], 2.0)[0]
                assert ready, "no reply to a bad control body"
                reply = sock.recv(65535)
                assert reply.startswith(wire.REPLY_PREFIX)
                errors.append(json.loads(reply[wire.PREFIX_SIZE :])["error"])
        health = probe("127.0.0.1", port, timeout=2.0)
    assert errors[0] == "control body has a number longer than 4300 digits"
    assert errors[1] == "control body is nested too deeply"
    assert errors == errors[:2] * 10
    assert health["counters"]["internal_errors"] == 0
    assert health["counters"]["bad_request"] == 20
    text = log_path.read_text()
    assert "Traceback" not in text and "internal error" not in text, text


def test_internal_errors_log_one_traceback_per_interval_and_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    errors = InternalErrorLog(interval_s=60.0, clock=lambda: now[0])
    caplog.set_level(logging.ERROR, logger="udpstream")
    for i in range(1000):
        now[0] += 0.01  # a flood: 1,000 in 10 s
        errors.note(ValueError(f"bug {i}"), ("127.0.0.1", 5000), b"Wl\x01C{}")
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None  # the first one shows where the bug is
    assert "bug 0" in caplog.records[0].getMessage()
    now[0] += 60.0
    errors.note(ValueError("later"), ("127.0.0.1", 5000), b"")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[1] == "999 more internal errors in the last 60 s were not logged one by one"
    assert "later" in messages[2]
