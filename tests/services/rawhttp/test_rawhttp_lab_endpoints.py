"""rawhttp's /_lab/ endpoints change nothing: they answer reads only (issue 15, item 4).

restapi's /_lab/ writes refuse cross-site requests; rawhttp has no /_lab/ write at all
(`/_lab/requests` is the only one, a read of the request log). These tests keep it so:
the requests a web page could send cross-site without a preflight (a text/plain or form
POST) and every other write method get 405, and the log is left as it was.
"""

from __future__ import annotations

import json

import pytest

from tests.services.rawhttp.conftest import get, request

CROSS_SITE = "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n"


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("POST", "text/plain"),
        ("POST", "application/x-www-form-urlencoded"),
        ("POST", "multipart/form-data; boundary=x"),
        ("POST", "application/json"),
        ("PUT", "application/json"),
        ("DELETE", None),
        ("PATCH", "application/json"),
    ],
)
def test_lab_requests_refuses_every_write(rawhttp, method, content_type):
    body = b"{}"
    ctype = f"Content-Type: {content_type}\r\n" if content_type else ""
    raw = (
        f"{method} /_lab/requests HTTP/1.1\r\nHost: t\r\n{CROSS_SITE}{ctype}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    resp = request(rawhttp.port, raw, method=method)
    assert resp.status == 405, (method, resp.status)
    assert resp.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/_lab/reset", "/_lab/requests/clear", "/_lab/"])
def test_no_other_lab_path_accepts_a_write(rawhttp, path):
    raw = (
        f"POST {path} HTTP/1.1\r\nHost: t\r\n{CROSS_SITE}Content-Type: text/plain\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    ).encode()
    resp = request(rawhttp.port, raw, method="POST")
    assert resp.status in (404, 405), (path, resp.status)


def test_a_refused_write_leaves_the_log_readable(rawhttp):
    request(
        rawhttp.port,
        b"POST /_lab/requests HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n",
        method="POST",
    )
    log = json.loads(get(rawhttp.port, "/_lab/requests?limit=5").body)
    assert log["count"] >= 1
    assert any(e["method"] == "POST" and e["status"] == 405 for e in log["requests"])
