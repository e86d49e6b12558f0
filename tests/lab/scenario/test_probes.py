"""Probes against real sockets and real processes: values, error kinds and timings."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from lab.scenario.probes import exec as exec_probe
from lab.scenario.probes import http, line, repeat, tcp
from lab.scenario.probes.base import ProbeContext, random_bytes, sha256
from lab.scenario.rollback import Rollback
from lab.targets import split_host_port
from services.common.processes import free_port
from tests.lab.scenario import servers


@pytest.fixture
def ctx(tmp_path: Path) -> ProbeContext:
    return ProbeContext(
        resolve=lambda t: split_host_port(t), rollback=Rollback(), scenario_dir=tmp_path
    )


def addr(port: int) -> str:
    return f"127.0.0.1:{port}"


def test_http_ok_with_json_headers_and_timings(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.ok_json) as port:
        out = http.run({"target": addr(port), "path": "/x", "timeout": 2}, ctx)
    assert out["error"] == "none" and out["status"] == 200
    assert out["headers"]["x-test"] == "yes"
    assert out["json"] == {"status": "ok", "items": [1, 2, 3]}
    assert out["body_bytes"] == len(out["body"]) == 36
    assert 0 <= out["connect_time"] <= out["ttfb"] <= out["elapsed"] < 2
    assert out["attempts"] == 1 and out["statuses"] == [200]


def test_http_read_timeout_vs_total_timeout_on_a_drip(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.dripping) as port:
        slow_ok = http.run({"target": addr(port), "timeout": {"connect": 1, "read": 1}}, ctx)
        total = http.run(
            {"target": addr(port), "timeout": {"connect": 1, "read": 1, "total": 0.5}}, ctx
        )
        read = http.run({"target": addr(port), "timeout": {"connect": 1, "read": 0.08}}, ctx)
    assert slow_ok["status"] == 200 and slow_ok["body"] == "x" * 10 and slow_ok["elapsed"] >= 1.4
    # 10 bytes over the whole exchange (at least 1.4 s): at most ~0.007 kB/s.
    assert 0 < slow_ok["throughput_kBps"] <= 10 / 1000 / 1.4
    assert total["error"] == "total_timeout" and 0.45 <= total["elapsed"] < 1.4
    assert total["status"] == 200  # the headers came; the body did not finish in time
    assert read["error"] == "read_timeout" and read["elapsed"] < 1.4


def test_http_error_kinds(ctx: ProbeContext) -> None:
    refused = http.run({"target": addr(free_port()), "timeout": 1}, ctx)
    assert refused["error"] == "connect_refused" and refused["status"] is None
    with servers.full_backlog() as port:
        held = http.run({"target": addr(port), "timeout": 0.3}, ctx)
    assert held["error"] == "connect_timeout" and 0.25 <= held["elapsed"] < 1.5
    with servers.tcp_server(servers.resetting) as port:
        assert http.run({"target": addr(port), "timeout": 2}, ctx)["error"] == "reset"
    with servers.tcp_server(servers.closing) as port:
        assert http.run({"target": addr(port), "timeout": 2}, ctx)["error"] == "eof"
    with servers.tcp_server(servers.silent) as port:
        silent = http.run({"target": addr(port), "timeout": 0.2}, ctx)
    assert silent["error"] == "read_timeout" and 0.15 <= silent["elapsed"] < 1.2
    with servers.tcp_server(servers.plaintext_http) as port:
        tls = http.run({"url": f"https://127.0.0.1:{port}/", "timeout": 2}, ctx)
    assert tls["error"] == "tls_error"


def test_http_follows_redirects_only_when_asked(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.redirecting) as port:
        plain = http.run({"target": addr(port), "path": "/start", "timeout": 2}, ctx)
        followed = http.run(
            {"target": addr(port), "path": "/start", "timeout": 2, "follow_redirects": True}, ctx
        )
    assert plain["status"] == 302 and plain["headers"]["location"] == "/final"
    assert (
        followed["status"] == 200
        and followed["redirects"] == 1
        and followed["url"].endswith("/final")
    )


def test_http_retries_honour_retry_after(ctx: ProbeContext) -> None:
    counter = servers.Counter(limited=2)
    with servers.tcp_server(counter) as port:
        out = http.run(
            {
                "target": addr(port),
                "timeout": 2,
                "retries": {"max": 3, "on": [429], "honour_retry_after": True},
            },
            ctx,
        )
    assert out["status"] == 200 and out["attempts"] == 3 and out["statuses"] == [429, 429, 200]
    assert out["retry_waits"] == [0.3, 0.3] and out["elapsed"] >= 0.6
    impatient = servers.Counter(limited=10)
    with servers.tcp_server(impatient) as port:
        out = http.run(
            {"target": addr(port), "timeout": 2, "retries": {"max": 2, "on": [429]}}, ctx
        )
    assert out["status"] == 429 and out["attempts"] == 3 and out["elapsed"] < 0.5


def test_tcp_echo_sha256_and_receive_modes(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.echo) as port:
        big = tcp.run(
            {
                "target": addr(port),
                "send_random": {"bytes": 1_000_000, "seed": 5},
                "shutdown_write": True,
                "receive": {"length": 1_000_000},
                "timeout": 5,
            },
            ctx,
        )
        until = tcp.run(
            {"target": addr(port), "send": "a\nb\n", "receive": {"until": "\n"}, "timeout": 2}, ctx
        )
        eof = tcp.run(
            {
                "target": addr(port),
                "send": "bye",
                "shutdown_write": True,
                "receive": "eof",
                "timeout": 2,
            },
            ctx,
        )
    assert big["error"] == "none" and big["received_bytes"] == 1_000_000
    assert big["sha256"] == big["sent_sha256"] == sha256(random_bytes(1_000_000, 5))
    assert big["throughput_kBps"] > 0
    assert until["received"].startswith("a\n")
    assert eof["received"] == "bye" and eof["peer_closed"] is True


def test_tcp_http_status_and_errors(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.ok_json) as port:
        out = tcp.run(
            {"target": addr(port), "send": "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "receive": "once"},
            ctx,
        )
    assert out["http_status"] == 200 and out["recv_calls"] == 1
    assert tcp.run({"target": addr(free_port()), "timeout": 1}, ctx)["error"] == "connect_refused"


def test_line_naive_vs_framed_on_a_split_answer(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.gimme) as port:
        naive = line.run({"target": addr(port), "send": "GIMME x", "framing": "naive"}, ctx)
        framed = line.run({"target": addr(port), "send": "GIMME x", "framing": "framed"}, ctx)
    assert naive["status"] == "OKAY" and naive["complete"] is False and naive["recv_calls"] == 1
    assert framed["complete"] is True and framed["story_bytes"] == framed["length"] == 100
    assert framed["recv_calls"] >= 2


def test_exec_captures_output_exit_code_env_and_timeout(ctx: ProbeContext) -> None:
    code = "import os, sys, json; print(json.dumps({'t': os.environ['TARGET'], 'a': sys.argv[1:]})); sys.exit(3)"
    out = exec_probe.run(
        {
            "run": [sys.executable, "-c", code, "x y"],
            "timeout": 10,
            "targets": {"TARGET": "127.0.0.1:4242"},
        },
        ctx,
    )
    assert out["exit_code"] == 3 and out["error"] == "none"
    assert out["json"] == {"t": "127.0.0.1:4242", "a": ["x y"]}
    assert out["elapsed"] < 10
    slow = exec_probe.run({"run": "python -c 'import time; time.sleep(30)'", "timeout": 0.5}, ctx)
    assert slow["timed_out"] is True and slow["error"] == "exec_timeout" and slow["exit_code"] == -9
    assert 0.4 < slow["elapsed"] < 5
    missing = exec_probe.run({"run": ["/no/such/program"], "timeout": 1}, ctx)
    assert missing["error"] == "error" and "cannot run" in missing["error_detail"]


def test_repeat_with_concurrency_overlaps(ctx: ProbeContext) -> None:
    with servers.tcp_server(servers.dripping) as port:
        out = repeat.run(
            {
                "count": 4,
                "concurrency": 4,
                "http": {"target": addr(port), "timeout": {"connect": 1, "read": 1}},
            },
            ctx,
        )
    assert out["count"] == 4 and out["ok"] == 4 and out["max_in_flight"] == 4
    # Four 1.5 s exchanges side by side finish well before 4 x 1.5 s.
    assert out["elapsed"] < 4.5 and out["elapsed_min"] >= 1.4


def test_cancel_wakes_a_sleeping_probe(ctx: ProbeContext) -> None:
    from lab.scenario.probes import sleep

    threading.Timer(0.2, ctx.cancel.set).start()
    with pytest.raises(Exception, match="cancelled"):
        sleep.run(30, ctx)


def test_cancel_kills_a_running_program(ctx: ProbeContext, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    threading.Timer(0.5, ctx.cancel.set).start()
    with pytest.raises(Exception, match="cancelled"):
        exec_probe.run({"run": [sys.executable, "-c", code], "timeout": 20}, ctx)
    import os

    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the program is gone, not left running


def test_exec_background_server_runs_until_the_rollback(ctx: ProbeContext, tmp_path: Path) -> None:
    import os

    port = free_port()
    started = exec_probe.run(
        {
            "run": ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            "timeout": 15,
            "background": True,
            "ready_port": port,
        },
        ctx,
    )
    assert started["error"] == "none", started
    reply = tcp.run(
        {
            "target": addr(port),
            "send": "GET /nope HTTP/1.0\r\n\r\n",
            "receive": "eof",
            "timeout": 3,
        },
        ctx,
    )
    assert (
        reply["http_status"] == 404 and reply["http_valid"] is True and reply["http_problem"] == ""
    )
    assert ctx.rollback.pending() == [
        f"stop background program {Path(sys.executable).name} (pid {started['pid']})"
    ]
    [action] = ctx.rollback.run([])
    assert action.ok
    with pytest.raises(ProcessLookupError):
        os.kill(started["pid"], 0)
    dead = exec_probe.run(
        {
            "run": ["python", "-c", "import sys; sys.exit('no socket for you')"],
            "timeout": 5,
            "background": True,
            "ready_port": free_port(),
        },
        ctx,
    )
    assert dead["error"] == "error" and "no socket for you" in dead["error_detail"]
    ctx.rollback.run([])


def test_http_check_judges_the_bytes_with_h11() -> None:
    from lab.scenario.probes.tcp import http_check

    good = http_check(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc")
    assert good["http_valid"] is True and good["http_body"] == "abc"
    short = http_check(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nabc")
    assert short["http_valid"] is False and "expected 5" in short["http_problem"]
    assert http_check(b"404 not found")["http_valid"] is False
    assert http_check(b"")["http_problem"] == "no bytes received"
