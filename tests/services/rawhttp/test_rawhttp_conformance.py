"""The conformance table (``conformance_cases.py``) over real sockets: every case, in
one write with a probe after it, against every mode, parsing strict and lenient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.processes import free_port, service_process
from tests.services.rawhttp.conformance_cases import CASES, PROBE, Case
from tests.services.rawhttp.conftest import Server, connect, every_status, health_ready, start_args

MODES = ("selectors", "threads", "blocking")
PARSINGS = ("strict", "lenient")
# Long enough that a connection wrongly kept open is seen as open, not idled shut.
IDLE_S = 30
READ_S = 4.0


@pytest.fixture(scope="module", params=[(m, p) for m in MODES for p in PARSINGS], ids=str)
def server(request, tmp_path_factory) -> Iterator[tuple[Server, str]]:
    mode, parsing = request.param
    server = Server(free_port(), state_dir=tmp_path_factory.mktemp("conf") / "state")
    args = start_args(server, mode, "--http-only", f"--{parsing}", "--idle-timeout", str(IDLE_S))
    with service_process(args, lambda: health_ready(server.port), timeout=30):
        yield server, parsing


def exchange(port: int, raw: bytes) -> tuple[list[int], bool]:
    """Send ``raw`` and the probe in one write; the statuses, and whether EOF came."""
    with connect(port, timeout=READ_S) as sock:
        sock.sendall(raw + PROBE)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
            eof = True
        except TimeoutError:
            eof = False
    return every_status(data), eof


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_conformance(server, case: Case):
    srv, parsing = server
    expect = case.expect(parsing == "strict")
    statuses, eof = exchange(srv.port, case.raw)
    assert eof, f"the connection was left open after {statuses}"
    want = list(expect.statuses) + ([200] if expect.open else [])
    # With the probe answered the connection stayed open; without it, it was closed.
    assert statuses == want, f"{case.name} ({parsing}): got {statuses}, want {want}"


def test_the_table_covers_every_vector_of_issue_19():
    names = {c.name for c in CASES}
    assert len(names) == len(CASES), "case names must be unique"
    for needed in (
        "te-chunked-nbsp", "cl-nbsp-4", "te-empty", "te-empty-with-cl",
        "missing-cr-between-headers", "crlf-then-lf-ends-head", "chunk-ext-nul", "chunk-ext-cr",
        "chunk-ext-lf", "chunk-ext-unbalanced-quote", "chunk-ext-bare-semicolon",
        "chunk-size-trailing-space", "chunk-size-lf", "trailer-nul", "host-comma",
        "host-space", "host-userinfo", "http10-te", "options-asterisk", "unknown-method",
    ):  # fmt: skip
        assert needed in names, needed
