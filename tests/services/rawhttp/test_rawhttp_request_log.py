"""The request log behind /_lab/requests."""

from __future__ import annotations

from services.rawhttp.request_log import RequestLog


def test_request_log_is_a_bounded_ring_with_since_and_limit():
    log = RequestLog(capacity=3)
    for i in range(5):
        log.record(
            peer="p",
            method="GET",
            path=f"/{i}",
            status=200,
            nbytes=1,
            duration_s=0.002,
            when=100.0 + i,
        )
    assert [e["path"] for e in log.recent()] == ["/2", "/3", "/4"]
    assert [e["path"] for e in log.recent(since=102.5)] == ["/3", "/4"]
    assert [e["path"] for e in log.recent(limit=1)] == ["/4"]
    assert log.recent(limit=1)[0] == {
        "time": 104.0, "peer": "p", "method": "GET", "path": "/4", "status": 200, "bytes": 1, "duration_ms": 2.0,
    }  # fmt: skip
