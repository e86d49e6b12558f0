"""``lab udp measure`` / ``lab udp ping`` against a real udpstream process."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lab.cli_udp import udp_app
from services.common.processes import free_port, service_process
from services.udpstream.health import probe
from tests.services.udpstream.udp_helpers import FaultyRelay

runner = CliRunner()


@pytest.fixture(scope="module")
def target():
    port = free_port("udp")
    with service_process(
        ["-m", "services.udpstream", "--host", "127.0.0.1", "--port", str(port)],
        ready=lambda: probe("127.0.0.1", port, timeout=0.3),
    ):
        yield f"127.0.0.1:{port}"


def invoke(*args: str):
    return runner.invoke(udp_app, list(args))


def test_measure_json(target):
    res = invoke(
        "measure",
        "--target",
        target,
        "--rate",
        "2000",
        "--size",
        "100",
        "--count",
        "1000",
        "--json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # JSON only: nothing else on stdout
    assert (data["sent"], data["received"], data["lost"], data["duplicates"]) == (1000, 1000, 0, 0)
    assert data["target"] == target and data["end_reason"] == "count"
    assert len(data["intervals"]) == 5 and data["intervals"][0]["expected"] == 200


def test_measure_table_and_interval_view(target):
    res = invoke(
        "measure", "--target", target, "--rate", "500", "--size", "64", "--duration", "0.4"
    )
    assert res.exit_code == 0, res.output
    for text in ("sent", "received", "lost", "0 (0.00 %)", "duplicated", "out of order", "jitter (RFC 3550)",
                 "one-way delay spread", "throughput", "sender's pace", "longest loss burst", "per 100 ms slice", "0.3 s"):  # fmt: skip
        assert text in res.output, text
    assert "200" in res.output


def test_ping_json_and_table(target):
    res = invoke("ping", "--target", target, "--count", "5", "--interval", "0.01", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["sent"], data["received"], data["lost"]) == (5, 5, 0)
    assert data["min_ms"] <= data["p50_ms"] <= data["p99_ms"] <= data["max_ms"]
    table = invoke("ping", "--target", target, "--count", "3", "--interval", "0.01")
    assert table.exit_code == 0 and "p99" in table.output and "0.0 %" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["measure", "--rate", "100", "--count", "5", "--duration", "1"],
            "give --count or --duration, not both",
        ),
        (["measure", "--rate", "10000000", "--count", "5"], "rate 10000000 out of bounds"),
        (["measure", "--size", "2000", "--count", "5"], "size 2000 out of bounds: 26..1472"),
        (["measure", "--duration", "0", "--count", "5"], "not both"),
        (["measure", "--duration", "-1"], "--duration must be more than 0"),
    ],
)
def test_bad_requests_are_one_line_errors(target, args, message):
    res = invoke(*args, "--target", target, "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout) == {"error": json.loads(res.stdout)["error"]}
    assert message in json.loads(res.stdout)["error"]
    plain = invoke(*args, "--target", target)
    assert plain.exit_code == 1 and message in plain.output and "Traceback" not in plain.output


def test_bad_target_and_nothing_listening():
    res = invoke("measure", "--target", "udpstreem", "--json")
    assert res.exit_code == 1 and "unknown target 'udpstreem'" in json.loads(res.stdout)["error"]
    port = free_port("udp")
    res = invoke("ping", "--target", f"127.0.0.1:{port}", "--count", "1")
    assert res.exit_code == 1 and f"nothing is listening on 127.0.0.1:{port}/udp" in res.output


def test_typer_rejects_nonsense_numbers():
    res = invoke("measure", "--rate", "fast")
    assert res.exit_code == 2 and "Invalid value" in res.output and "Traceback" not in res.output


def test_measure_shows_loss_through_a_damaging_relay(target):
    relay = FaultyRelay(int(target.rsplit(":", 1)[1]))
    relay.start()
    try:
        args = ["measure", "--target", f"127.0.0.1:{relay.port}", "--rate", "3000", "--size", "100"]
        res = invoke(*args, "--count", "3000")
    finally:
        relay.close()
    assert res.exit_code == 0, res.output
    # the relay drops 49 (one burst of 20), duplicates 30 and delays 30 by two places
    for text in (
        "49 (1.63 %)",
        "30 (max distance 2)",
        "20 (30 bursts)",
        "│ 0.3 s │      278 │   22 │",
    ):
        assert text in res.output, text
