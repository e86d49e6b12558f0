"""The console's logic without a browser: the guard, the burst rule, charts, rosters,
presets, and the static reports (self-contained: nothing fetched from anywhere)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from lab.console import presets
from lab.console.charts import Series, bursts, line_chart
from lab.console.roster import RosterError, load
from lab.console.security import allowed_hosts, refusal
from lab.console.views import burst_flags, udp_view

HOSTS = allowed_hosts(8475)
TOKEN = "t" * 43


def headers(**extra: str) -> dict[str, str]:
    return {"host": "127.0.0.1:8475", **{k.replace("_", "-"): v for k, v in extra.items()}}


def test_guard_lets_the_console_itself_through():
    assert refusal("GET", headers(), TOKEN, HOSTS) is None
    same = headers(origin="http://127.0.0.1:8475", sec_fetch_site="same-origin", x_lab_token=TOKEN)
    assert refusal("POST", same, TOKEN, HOSTS) is None


@pytest.mark.parametrize(
    ("method", "given", "why"),
    [
        ("POST", headers(), "token"),  # a form or a script without the token
        ("POST", headers(x_lab_token="x" * 43), "token"),  # a wrong one
        ("POST", headers(x_lab_token=TOKEN, origin="http://127.0.0.1:9999"), "origin"),
        ("POST", headers(x_lab_token=TOKEN, sec_fetch_site="cross-site"), "cross-site"),
        ("POST", headers(x_lab_token=TOKEN, sec_fetch_site="same-site"), "cross-site"),
        ("OPTIONS", headers(origin="http://evil.example"), "origin"),  # no CORS preflight
        ("GET", {"host": "evil.example:8475"}, "Host"),  # DNS rebinding reads no page
    ],
)
def test_guard_refuses(method, given, why):
    assert why in (refusal(method, given, TOKEN, HOSTS) or "")


def test_burst_rule_marks_outages_not_drizzle():
    assert burst_flags([20, 25, 15, 20, 22]) == [False] * 5
    assert burst_flags([0, 0, 90, 100, 0, 0, 0, 0]) == [False, False, True, True] + [False] * 4
    assert burst_flags([100, 100, 100]) == [True, True, True]
    assert burst_flags([0, 0, 0]) == [False, False, False]
    assert bursts([0.0, 0.1, 0.2, 0.3, 0.4], [False, True, True, False, True]) == [
        (0.1, 0.2),
        (0.4, 0.4),
    ]


def test_chart_has_a_point_per_value_and_escapes_labels():
    svg = line_chart("<t>", [0.0, 0.1, 0.2], [Series("a&b", [1, 2, 3], "s-ok")], "%", [(0.1, 0.1)])
    assert svg.count("<circle") == 3 and svg.count('class="burst"') == 1
    assert "<t>" not in svg and "&lt;t&gt;" in svg and "a&amp;b" in svg


def slices(lost: list[int]) -> list:
    return [
        SimpleNamespace(
            start_s=i / 10, expected=10, received=10 - n, lost=n, duplicates=0, jitter_ms=0.1
        )
        for i, n in enumerate(lost)
    ]


def test_udp_view_marks_the_burst():
    result = SimpleNamespace(
        intervals=slices([0, 0, 10, 10, 0, 0]), target="t", requested=60, size=64, rate=100,
        sent=60, received=40, lost=20, loss_pct=33.3, loss_bursts=1, longest_loss_burst=20,
        duplicates=0, out_of_order=0, max_reorder=0, jitter_ms=0.1, delay_p50_ms=0.1,
        delay_p99_ms=0.2, throughput_pps=100.0, end_reason="count", elapsed_s=0.6,
    )  # fmt: skip
    view = udp_view(result)
    assert view["bursts"] == [(0.2, 0.3)]
    assert all(c.count("<circle") >= 6 for c in view["charts"])


def test_roster_csv_json_and_clear_errors():
    roster = load("student,passed,failed,ex01,ex02\nann,1,1,pass,timeout\n", "g.csv")
    assert roster.columns == ["ex01", "ex02"]
    assert [c.verdict for c in roster.students[0].cells.values()] == ["pass", "timeout"]
    roster = load('[{"student": "bo", "results": {"3": {"passed": true, "outcomes": []}}}]')
    assert roster.columns == ["ex03"] and roster.students[0].cells["ex03"].verdict == "pass"
    for text, why in [
        ("", "empty"),
        ("name,score\n", "first line must start with 'student'"),
        ("student,passed\nann,1\n", "no exercise columns"),
        ("student,passed,failed,ex01\nann,1,0,great\n", "line 2, ex01: unknown verdict 'great'"),
        ("student,passed,failed,ex01\nann,1\n", "line 2: 2 cells"),
        ("{nope", "not valid JSON"),
        ('{"students": [{"name": "x"}]}', "students[0]"),
    ]:
        with pytest.raises(RosterError, match=re.escape(why)):
            load(text)


def test_presets_are_ordinary_toxics_with_a_common_prefix():
    flaky = presets.BY_SLUG["flaky-api"]
    [toxic] = flaky.toxics_for("tcp")
    assert toxic == {
        "name": "preset_flaky_api_0",
        "toxicity": 0.2,
        "type": "http_status",
        "stream": "downstream",
        "attributes": {"status": 503},
    }
    assert flaky.toxics_for("udp") == []
    wifi = presets.BY_SLUG["lossy-wifi"].toxics_for("udp")
    assert wifi[0]["type"] == "loss" and wifi[0]["attributes"]["r"] < 1
    assert presets.applied(flaky, [{"name": "preset_flaky_api_0"}])
    assert not presets.applied(flaky, [{"name": "latency_downstream"}])
    assert {p.slug for p in presets.presets_for("udp")} == {"slow-3g", "lossy-wifi", "blackhole"}


def test_reports_are_self_contained(tmp_path):
    from lab.console.reports import grades_report, scenario_report

    journal = {
        "backend": "local", "passed": False, "counts": {"failed": 1}, "duration": 0.1,
        "interrupted": False,
        "scenarios": [{
            "name": "s", "theme": "t", "status": "failed", "duration": 0.1, "reason": "",
            "failure": "status: expected 299, got 404", "lesson": "L",
            "steps": [{"name": "GET /", "expectations": [
                {"what": "status", "expected": 299, "actual": 404, "ok": False}], "nested": []}],
            "rollback": [{"what": "remove toxic x", "ok": True, "detail": ""}], "leftovers": [],
        }],
    }  # fmt: skip
    scenario_report(tmp_path / "run.html", journal)
    html = (tmp_path / "run.html").read_text()
    assert "<style>" in html and "299" in html and "remove toxic x" in html
    assert not re.search(r"""(src|href)=["']?(https?:|//|/)""", html)
    assert "<script" not in html and "lab-token" not in html
    grades_report(tmp_path / "grades.html", [], [])
    assert "<style>" in (tmp_path / "grades.html").read_text()
