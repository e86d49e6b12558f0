"""Exercise 01: a raw GET. Judged by rawhttp's request log, by its real answer, and by the
exact bytes the program sent.

The program talks to rawhttp through a tap (lab/exercise/tcp_tap.py) that records the
request bytes, so a bare LF that rawhttp forgives is still seen, and that hands the answer
back in small slices with pauses, as a real network may: one recv() then gets only a
piece of the head."""

from __future__ import annotations

import socket
import time

from lab.exercise import evidence
from lab.exercise.context import CheckContext
from lab.exercise.http_bytes import CRLF_HINT, bare_lf_line
from lab.exercise.tcp_tap import TcpTap


def real_head(host: str, port: int, path: str) -> list[str]:
    """The lab's own request for the same path: the status line and headers to compare."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1").split("\r\n")


def check(ctx: CheckContext) -> None:
    evidence.require("rawhttp")
    path = f"/exercise-01/{ctx.nonce()}"
    host, port = evidence.address("rawhttp")
    tap = TcpTap(
        (host, port),
        slice_size=ctx.param("slice_bytes", 8),
        slice_delay=ctx.param("slice_delay_ms", 20) / 1000,
    )
    since = time.time()
    with tap:
        env = {
            "WIRELAB_TARGET_HOST": "127.0.0.1",
            "WIRELAB_TARGET_PORT": str(tap.port),
            "WIRELAB_PATH": path,
        }
        run = ctx.run(env, timeout=ctx.param("timeout", 10.0))
    checked_at = time.time()
    ctx.expect_clean_exit(run)

    entries = [e for e in evidence.request_log("rawhttp", since) if float(e["time"]) <= checked_at]
    mine = [e for e in entries if e.get("path") == path]
    rejected = [e for e in entries if e.get("status") == 400 or e.get("path") == "-"]
    seen = ", ".join(f"{e.get('method')} {e.get('path')} -> {e.get('status')}" for e in entries)
    sent = next((bytes(c.sent) for c in tap.connections if path.encode() in c.sent), b"")
    bare = bare_lf_line(sent)
    if bare is not None:
        # A strict server refuses a bare \n at once, so judge the bytes the tap saw.
        ctx.expect(
            "the request was well-formed, every line ending in \\r\\n",
            False,
            f"the line {bare!r} ended in a bare \\n (rawhttp logged: {seen or 'nothing'})",
            CRLF_HINT,
        )
        return
    if not ctx.expect(
        f"rawhttp received a GET for {path}",
        bool(mine) and mine[0].get("method") == "GET",
        f"rawhttp logged: {seen or 'no request at all during the run'}",
        "send a request line `GET <path> HTTP/1.1`, a Host header, and an empty line "
        "(every line ends in \\r\\n), with sock.sendall()"
        if not rejected
        else "rawhttp rejected what you sent as malformed: HTTP/1.1 needs a Host header and "
        "\\r\\n line ends, and the head ends with an empty line",
    ):
        return
    status = int(mine[0]["status"])
    ctx.expect(
        "the request was well-formed, every line ending in \\r\\n",
        status not in (400, 505) and not rejected,
        f"rawhttp answered {status}; every line ended in \\r\\n",
        "check the request line and the Host header against RFC 9112",
    )

    head = real_head(host, port, path)
    one_recv = (
        f"the answer came in pieces ({tap.slice_size} bytes every "
        f"{tap.slice_delay * 1000:g} ms) and you printed only the first: one recv() "
        "returns what has arrived so far, not the whole answer. Loop on recv() until the "
        "empty line (\\r\\n\\r\\n)"
    )
    lines = [line.rstrip("\r") for line in run.stdout.splitlines() if line.strip()]
    printed_text, real_text = "\n".join(lines), "\n".join(head)
    cut_short = (
        bool(printed_text) and real_text.startswith(printed_text) and printed_text != real_text
    )
    printed_status = next((line for line in lines if line.startswith("HTTP/")), "")
    ctx.expect(
        "the program printed the real status line",
        printed_status == head[0],
        f"printed {printed_status or 'no status line'!r}, rawhttp sends {head[0]!r}",
        one_recv if cut_short else "print the first line of the answer exactly as it arrived",
    )
    # The values of Date and the like change between requests; the names and the length of
    # this 404 page do not, and only a program that read the answer can print them.
    wanted = [
        h
        for h in head[1:]
        if h.split(":", 1)[0].lower() not in ("date", "connection", "keep-alive")
    ]
    printed = {line.lower() for line in lines}
    missing = [h for h in wanted if h.lower() not in printed]
    ctx.expect(
        "the program printed the response headers",
        not missing,
        f"missing: {', '.join(missing)}" if missing else f"all {len(wanted)} headers printed",
        one_recv
        if cut_short
        else "read until the empty line (\\r\\n\\r\\n) and print every header line",
    )
