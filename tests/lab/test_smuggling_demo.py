"""lab.smuggling_demo and the scenario built on it (smuggling-strict-vs-lenient).

The framing and the response reading are checked on bytes; the demo itself runs as a
user runs it (a subprocess) against real rawhttp processes, and the scenario's own
expectations are judged on its output: they hold against a strict server and fail when
the "strict" server is in fact lenient (the plausible wrong lab).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.scenario.expectations import check
from lab.scenario.model import load_scenario
from lab.smuggling_demo import Smuggle, answers_of, crlf_requests, parse_address
from services.common.paths import REPO_ROOT
from services.common.processes import free_port, service_process, wait_tcp

SCENARIO = REPO_ROOT / "scenarios/transport/smuggling-strict-vs-lenient.yaml"


def test_the_wire_bytes_are_llhttps_missing_cr_case() -> None:
    wire = Smuggle("abcd").wire()
    assert wire == (
        b"GET /?run=abcd HTTP/1.1\r\nHost: lab\r\nDummy: x\nContent-Length: 32\r\n\r\n"
        b"GET /?run=abcd HTTP/1.1\r\nDummy: "  # the 32 bytes a lenient reader takes as body
        b"GET /admin?run=abcd HTTP/1.1\r\nHost: lab\r\n\r\n"
    )


def test_a_crlf_only_front_end_sees_two_gets_and_no_admin() -> None:
    first, second = crlf_requests(Smuggle("abcd").wire())
    assert (first.method, first.target, first.body) == ("GET", "/?run=abcd", b"")
    assert first.headers == [("Host", "lab"), ("Dummy", "x\nContent-Length: 32")]
    assert (second.target, second.body) == ("/?run=abcd", b"")
    assert second.headers == [("Dummy", "GET /admin?run=abcd HTTP/1.1"), ("Host", "lab")]


def test_the_framer_honours_content_length_when_the_line_end_is_a_crlf() -> None:
    # The wrong reading (LF as a line end) is what the lenient server does: the framer must
    # then find the body and the hidden request, or "the front end sees no /admin" proves nothing.
    wire = Smuggle("abcd").wire().replace(b"x\nContent", b"x\r\nContent")
    first, second = crlf_requests(wire)
    assert first.body == b"GET /?run=abcd HTTP/1.1\r\nDummy: "
    assert second.target == "/admin?run=abcd"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n", "unterminated head"),
        (b"GET /\r\n\r\n", "not a request line"),
        (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", "without a colon"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "Content-Length only"),
    ],
)
def test_the_framer_refuses_what_it_cannot_frame(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        crlf_requests(data)


def test_answers_are_read_by_their_framing_and_a_truncated_one_is_not_counted() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    bad = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    assert answers_of(ok + ok) == [(200, b"hi"), (200, b"hi")]
    assert answers_of(ok + bad) == [(200, b"hi"), (400, b"nope")]
    assert answers_of(ok + ok[:-1]) == [(200, b"hi")]
    assert answers_of(b"") == []


@pytest.mark.parametrize("text", ["rawhttp", "host:", ":80", "h:99999", "h:x"])
def test_a_bad_address_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)


def demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.smuggling_demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.fixture(scope="module")
def rawhttp_servers() -> Iterator[dict[str, int]]:
    """A strict and a lenient rawhttp, as the CLI starts them."""
    strict, lenient = free_port(), free_port()
    base = ["-m", "services.rawhttp", "--host", "127.0.0.1", "--http-only", "--port"]
    with (
        service_process([*base, str(strict)], lambda: wait_tcp(strict, timeout=0.5)),
        service_process([*base, str(lenient), "--lenient"], lambda: wait_tcp(lenient, timeout=0.5)),
    ):
        yield {"strict": strict, "lenient": lenient}


def scenario_outcomes(output: dict) -> list:
    [step] = load_scenario(SCENARIO).steps
    return check(step.expect, output)


def test_the_scenario_holds_against_a_strict_server(rawhttp_servers: dict[str, int]) -> None:
    done = demo("--strict-target", f"127.0.0.1:{rawhttp_servers['strict']}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["strict"]["statuses"] == [400]
    assert report["lenient"]["statuses"] == [200, 404]
    assert report["lenient"]["smuggled"] == [report["hidden"].removeprefix("GET ")]
    failed = [o.line() for o in scenario_outcomes({"exit_code": 0, "json": report}) if not o.ok]
    assert failed == []


def test_the_scenario_fails_when_the_labs_server_is_lenient(
    rawhttp_servers: dict[str, int],
) -> None:
    done = demo("--strict-target", f"127.0.0.1:{rawhttp_servers['lenient']}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    failed = {o.what for o in scenario_outcomes({"exit_code": 0, "json": report}) if not o.ok}
    assert {"$.strict.statuses", "$.strict.hidden_served", "$.strict.served"} <= {
        w.removeprefix("json ") for w in failed
    }, failed


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    no_target = demo(env={"PATH": "/usr/bin:/bin"})
    assert no_target.returncode == 2
    assert "STRICT_TARGET" in no_target.stderr and "Traceback" not in no_target.stderr
    bad = demo("--strict-target", "rawhttp")
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: expected HOST:PORT, got 'rawhttp'")
    down = demo("--strict-target", f"127.0.0.1:{free_port()}")
    assert down.returncode == 2
    assert "refused" in down.stderr.lower() and "Traceback" not in down.stderr
