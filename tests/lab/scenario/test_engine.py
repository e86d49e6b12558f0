"""The runner: judging, stopping at a failure, bounds, parallel steps, reports, and the
rollback after a pass, a failure and an exception, against a real faultproxy process."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.faultproxy_client import FaultProxyClient
from lab.scenario.engine import QuietListener, Runner, ScenarioResult
from lab.scenario.journal import journal
from lab.scenario.junit import junit_xml
from lab.targets import split_host_port
from services.common.processes import free_port, service_process, wait_tcp
from tests.lab.scenario import servers
from tests.lab.scenario.helpers import load, load_named


def runner(proxy_api: FaultProxyClient | None = None, listener=None) -> Runner:
    return Runner(None, proxy_api, listener, resolve=lambda t: split_host_port(t))


def run_on_server(
    tmp_path: Path, handler: Callable[[socket.socket], None], name: str, steps: str
) -> ScenarioResult:
    """Run scenario ``name`` (``steps``: its YAML, with ``{port}`` for the server's) against
    a TCP server answering with ``handler``."""
    with servers.tcp_server(handler) as port:
        [result] = runner().run([load_named(tmp_path, name, steps.format(port=port))])
    return result


JUDGED_STEPS = """
steps:
  - name: passes
    http: {{target: "127.0.0.1:{port}", timeout: 2}}
    expect: {{status: 200, json: {{"$.items": {{length: 3}}}}}}
  - name: fails
    http: {{target: "127.0.0.1:{port}", timeout: 2}}
    expect: {{status: 404, elapsed: {{max: 5}}}}
  - name: never runs
    sleep: 5
teardown:
  - name: always runs
    http: {{target: "127.0.0.1:{port}", timeout: 2}}
    expect: {{status: 200}}
"""


def test_pass_fail_stop_and_teardown(tmp_path: Path) -> None:
    result = run_on_server(tmp_path, servers.ok_json, "judged", JUDGED_STEPS)
    assert result.status == "failed"
    assert [r.step.name for r in result.records] == ["passes", "fails", "always runs"]
    assert result.failure_line() == "fails: status: expected 404, got 200"
    assert [o.ok for o in result.records[1].outcomes] == [False, True]
    assert result.duration < 4


HANGS_STEPS = """
steps:
  - bound: 0.5
    http: {{target: "127.0.0.1:{port}"}}
    expect: {{error: hung, hung: true, elapsed: {{min: 0.45, max: 1.5}}}}
"""


def test_bound_cuts_a_client_without_timeout(tmp_path: Path) -> None:
    result = run_on_server(tmp_path, servers.silent, "hangs", HANGS_STEPS)
    assert result.status == "passed", result.failure_line()


SIDE_BY_SIDE_STEPS = """
steps:
  - parallel:
      - name: a
        http: {{target: "127.0.0.1:{port}", timeout: 2}}
        expect: {{status: 200}}
      - name: b
        delay: 0.1
        http: {{target: "127.0.0.1:{port}", timeout: {{read: 2, total: 0.5}}}}
        expect: {{error: read_timeout}}
"""


def test_parallel_steps_overlap_and_judge_each(tmp_path: Path) -> None:
    result = run_on_server(tmp_path, servers.dripping, "side-by-side", SIDE_BY_SIDE_STEPS)
    [record] = result.records
    assert result.status == "failed"
    assert [c.step.name for c in record.nested] == ["a", "b"]
    assert record.nested[0].status == "passed"
    assert "b: error: expected 'read_timeout', got 'total_timeout'" in result.failure_line()
    assert record.duration < 2.8  # 1.5 s and 0.6 s side by side, not one after the other


def test_needs_a_capability_is_skipped_with_a_reason(tmp_path: Path) -> None:
    scenario = load(
        tmp_path, "name: p\nsummary: s\nlesson: l\nneeds: [partition]\nsteps: [{sleep: 0}]\n"
    )
    [result] = runner().run([scenario])
    assert result.status == "skipped" and "partition" in result.reason


def test_reports_journal_and_junit(tmp_path: Path) -> None:
    with servers.tcp_server(servers.ok_json) as port:
        good = load(
            tmp_path,
            f"name: good\nsummary: s\nlesson: L1\nsteps: [{{http: {{target: '127.0.0.1:{port}', timeout: 1}}, expect: {{status: 200}}}}]\n",
        )
        bad_path = tmp_path / "tests" / "bad.yaml"
        bad_path.write_text(
            f"name: bad\nsummary: s\nlesson: L2\nsteps: [{{http: {{target: '127.0.0.1:{port}', timeout: 1}}, expect: {{status: 500}}}}]\n"
        )
        from lab.scenario.model import load_scenario

        results = runner().run([good, load_scenario(bad_path)])
    data = json.loads(json.dumps(journal(results, "none", 0.0)))
    assert data["counts"] == {"passed": 1, "failed": 1} and data["passed"] is False
    step = data["scenarios"][1]["steps"][0]
    assert step["probe"] == "http" and step["output"]["status"] == 200
    assert step["expectations"] == [
        {"what": "status", "expected": "500", "actual": 200, "ok": False}
    ]
    assert step["probe_time"] <= step["duration"]
    root = ET.fromstring(junit_xml(results))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = root.find(".//testcase[@name='bad']/failure")
    assert failure is not None and "expected 500, got 200" in failure.get("message", "")


# -- rollback against a real fault proxy ---------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[tuple[FaultProxyClient, int]]:
    """A faultproxy process with one proxy named `rawhttp` in front of an echo server."""
    with servers.tcp_server(servers.echo) as upstream:
        api_port = free_port()
        args = ["-m", "services.faultproxy", "--host", "127.0.0.1", "--port", str(api_port)]
        with service_process(args, lambda: wait_tcp(api_port, timeout=0.5)):
            api = FaultProxyClient(f"http://127.0.0.1:{api_port}")
            listen = free_port()
            api._call(
                "POST",
                "/proxies",
                {
                    "name": "rawhttp",
                    "listen": f"127.0.0.1:{listen}",
                    "upstream": f"127.0.0.1:{upstream}",
                },
            )
            try:
                yield api, listen
            finally:
                api.close()


SCENARIO = """
name: with-faults
summary: s
lesson: l
setup:
  - toxic:
      add: {{proxy: rawhttp, type: latency, attributes: {{latency: 300}}}}
  - proxy: {{disable: rawhttp}}
  - proxy: {{enable: rawhttp}}
steps:
  - tcp: {{target: "127.0.0.1:{port}", send: hi, shutdown_write: true, receive: eof, timeout: 3}}
    expect: {{received: hi, elapsed: {elapsed}}}
  - name: second
    sleep: 0.01
"""


def test_rollback_after_pass_and_failure(
    tmp_path: Path, proxy: tuple[FaultProxyClient, int]
) -> None:
    api, port = proxy
    passing = load(tmp_path, SCENARIO.format(port=port, elapsed="{min: 0.28}"))
    [result] = runner(api).run([passing])
    assert result.status == "passed", result.failure_line()
    assert api.dirty() == [] and api.toxics("rawhttp") == []
    assert [a.what for a in result.rollback][0] == "remove toxic latency_downstream from rawhttp"
    assert all(a.ok for a in result.rollback)

    failing = load(tmp_path, SCENARIO.format(port=port, elapsed="{max: 0.1}"))
    [result] = runner(api).run([failing])
    assert result.status == "failed" and "elapsed" in result.failure_line()
    assert api.dirty() == [] and result.leftovers == []


class ExplodingListener(QuietListener):
    """Raises when the second step starts: an engine failure in the middle of a run."""

    def step_started(self, scenario, step) -> None:
        if step.name == "second":
            raise RuntimeError("listener broke")


def test_rollback_after_an_exception(tmp_path: Path, proxy: tuple[FaultProxyClient, int]) -> None:
    api, port = proxy
    scenario = load(tmp_path, SCENARIO.format(port=port, elapsed="{min: 0}"))
    [result] = runner(api, ExplodingListener()).run([scenario])
    assert result.status == "error" and "listener broke" in result.reason
    assert api.toxics("rawhttp") == [] and api.dirty() == []


def test_a_fault_the_proxy_refuses_is_an_error_and_still_rolled_back(
    tmp_path: Path, proxy: tuple[FaultProxyClient, int]
) -> None:
    api, port = proxy
    scenario = load_named(
        tmp_path,
        "refused",
        """
        setup:
          - toxic: {add: {proxy: rawhttp, type: latency, attributes: {latency: 10}}}
          - toxic: {add: {proxy: rawhttp, type: slicer, attributes: {average_size: 0}}}
        steps: [{sleep: 0}]
        """,
    )
    [result] = runner(api).run([scenario])
    assert result.status == "error"
    assert "slicer" in result.failure_line() or "average_size" in result.failure_line()
    assert api.dirty() == []


def test_repeat_runs_and_the_report_counts_passes(tmp_path: Path) -> None:
    from rich.console import Console

    from lab.scenario.progress import print_report

    with servers.tcp_server(servers.ok_json) as port:
        scenario = load(
            tmp_path,
            f"name: again\nsummary: s\nlesson: the lesson line\nsteps: [{{http: {{target: '127.0.0.1:{port}', timeout: 1}}, expect: {{status: 200}}}}]\n",
        )
        results = runner().run([scenario], repeat=3)
    assert [r.iteration for r in results] == [1, 2, 3] and {r.status for r in results} == {"passed"}
    console = Console(record=True, width=120)
    print_report(console, results)
    text = console.export_text()
    assert "over 3 runs" in text and "3/3" in text and "again: the lesson line" in text
