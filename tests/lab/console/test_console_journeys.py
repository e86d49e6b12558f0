"""The console's journeys in a real Chromium against a real lab (see conftest.py).

Each test saves screenshots of the page it visits at 1280x800 and 390x844 under
.lab/screenshots/ and records the page's weight (bytes transferred, cache off).
"""

from __future__ import annotations

import http.server
import threading
import time

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from lab.faultproxy_client import FaultProxyClient
from tests.lab.console.conftest import record_weight, shoot

pytestmark = pytest.mark.slow


def wait(driver, timeout: float = 20):
    return WebDriverWait(driver, timeout)


@pytest.fixture
def proxy_api(console):
    client = FaultProxyClient(console["lab"].faultproxy_url())
    client.reset()
    yield client
    client.reset()  # whatever a journey added, the next starts clean
    client.close()


def test_overview_shows_every_service_healthy_and_a_live_feed(browser, console):
    browser.get(console["url"] + "/")
    cards = browser.find_elements(By.CSS_SELECTOR, "article.service")
    states = {c.get_attribute("data-service"): c.get_attribute("data-state") for c in cards}
    assert states == {
        "rawhttp": "healthy",
        "rawhttp-blocking": "healthy",
        "udpstream": "healthy",
        "restapi": "healthy",
        "faultproxy": "healthy",
    }
    text = browser.find_element(By.ID, "services").text
    for label in ("HTTP", "echo", "line", "HTTPS", "UDP", "API", "rawhttp.echo · echo"):
        assert f"\n{label}\n" in f"\n{text}\n", label
    host, port = console["lab"].address("rawhttp.https")
    assert f"{host}:{port}/tcp" in text
    assert "local" in browser.find_element(By.CSS_SELECTOR, ".top .backend").text
    record_weight(browser, "overview")
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "feed-state"), "live"))
    # A request to rawhttp shows up in the feed without a reload.
    marker = f"/console-feed-{int(time.time() * 1000)}"
    httpx.get(console["lab"].url("rawhttp") + marker, trust_env=False)
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "feed"), marker))
    shoot(browser, "overview")


def _fill_toxic_form(driver, proxy: str, type_: str, attributes: dict[str, str]) -> None:
    form = driver.find_element(By.ID, "toxic-form")
    Select(form.find_element(By.NAME, "proxy")).select_by_value(proxy)
    Select(form.find_element(By.NAME, "type")).select_by_value(type_)
    for name, value in attributes.items():
        field = form.find_element(By.CSS_SELECTOR, f'#attr-fields input[name="{name}"]')
        field.clear()
        field.send_keys(value)
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()


def _timed_get(url: str) -> float:
    t0 = time.monotonic()
    assert httpx.get(url, timeout=10, trust_env=False).status_code == 200
    return time.monotonic() - t0


def test_latency_toxic_from_the_form(browser, console, proxy_api):
    lab = console["lab"]
    via_proxy = lab.url("rawhttp.via_proxy") + "/"
    before = min(_timed_get(via_proxy) for _ in range(3))
    browser.get(console["url"] + "/faults")
    record_weight(browser, "faults")
    # A bad value comes back from faultproxy and is shown beside its field.
    _fill_toxic_form(browser, "rawhttp", "latency", {"latency": "-5"})
    error = browser.find_element(By.CSS_SELECTOR, '.field-error[data-for="latency"]')
    wait(browser).until(lambda d: ">= 0" in error.text)
    assert "latency" in error.text
    assert proxy_api.toxics("rawhttp") == []
    # A good one is added, listed on the page, and is what the API reports.
    _fill_toxic_form(browser, "rawhttp", "latency", {"latency": "400"})
    row = '.proxy[data-proxy="rawhttp"] tr[data-toxic="latency_downstream"]'
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    [toxic] = proxy_api.toxics("rawhttp")
    assert (toxic["type"], toxic["stream"], toxic["attributes"]["latency"]) == (
        "latency",
        "downstream",
        400,
    )
    after = _timed_get(via_proxy)
    assert after >= 0.38 and after - before >= 0.35, (before, after)
    shoot(browser, "faults")
    # Removing it from the page removes it from the proxy.
    browser.find_element(By.CSS_SELECTOR, row + " .js-remove").click()
    wait(browser).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, row)))
    assert proxy_api.toxics("rawhttp") == []


def test_flaky_api_preset_applies_and_removes(browser, console, proxy_api):
    browser.get(console["url"] + "/faults")
    card = '.proxy[data-proxy="restapi"]'
    browser.find_element(By.CSS_SELECTOR, f'{card} .js-preset[data-preset="flaky-api"]').click()
    applied = f'{card} .js-preset.applied[data-preset="flaky-api"]'
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, applied)))
    [toxic] = proxy_api.toxics("restapi")
    assert toxic["type"] == "http_status" and toxic["attributes"]["status"] == 503
    assert toxic["toxicity"] == pytest.approx(0.2)
    url = console["lab"].url("restapi.via_proxy") + "/healthz"
    with httpx.Client(trust_env=False, timeout=5) as client:
        statuses = [client.get(url).status_code for _ in range(150)]
    # 20 % of 150 is 30; the bounds are ~4 standard deviations either side.
    assert 8 <= statuses.count(503) <= 55, statuses.count(503)
    assert statuses.count(503) + statuses.count(200) == 150
    shoot(browser, "faults-preset")
    browser.find_element(By.CSS_SELECTOR, applied).click()
    wait(browser).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, applied)))
    assert proxy_api.toxics("restapi") == []


def _run(driver, console, selector: str) -> None:
    driver.get(console["url"] + "/scenarios")
    driver.find_element(By.CSS_SELECTOR, f'.js-run[data-selector="{selector}"]').click()
    wait(driver).until(EC.url_contains("/runs/"))
    wait(driver, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".journal")))


def test_run_a_scenario_then_a_failing_one(browser, console):
    browser.get(console["url"] + "/scenarios")
    record_weight(browser, "scenarios")
    names = [
        e.get_attribute("data-name") for e in browser.find_elements(By.CSS_SELECTOR, ".scenario")
    ]
    assert names == ["console-good-404", "console-wrong-expectation"]
    assert "A 404 is a complete answer." in browser.find_element(By.CSS_SELECTOR, ".lesson").text
    shoot(browser, "scenarios")
    _run(browser, console, "console-good-404")
    journal = browser.find_element(By.CSS_SELECTOR, ".journal")
    assert journal.get_attribute("data-passed") == "yes"
    result = browser.find_element(By.CSS_SELECTOR, '.result[data-scenario="console-good-404"]')
    assert result.get_attribute("data-status") == "passed"
    _run(browser, console, "console-wrong-expectation")
    record_weight(browser, "run")
    journal = browser.find_element(By.CSS_SELECTOR, ".journal")
    assert journal.get_attribute("data-passed") == "no"
    bad = browser.find_element(By.CSS_SELECTOR, "table.checks tr.bad")
    assert bad.find_element(By.CSS_SELECTOR, ".expected").text == "299"
    assert bad.find_element(By.CSS_SELECTOR, ".actual").text == "404"
    assert browser.find_elements(By.CSS_SELECTOR, "details.rollback")
    shoot(browser, "run-failed")
    # Both runs are listed on the Scenarios page from their journals.
    browser.get(console["url"] + "/scenarios")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows[:2]] == [
        "console-wrong-expectation",
        "console-good-404",
    ]


def test_udp_measurement_draws_charts(browser, console, proxy_api):
    proxy_api.add_toxic(
        "udpstream", {"type": "loss", "stream": "downstream", "attributes": {"probability": 0.2}}
    )
    browser.get(console["url"] + "/udp")
    record_weight(browser, "udp")
    form = browser.find_element(By.ID, "udp-form")
    Select(form.find_element(By.NAME, "target")).select_by_visible_text("udpstream.via_proxy")
    duration = form.find_element(By.NAME, "duration")
    duration.clear()
    duration.send_keys("2")
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(browser, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "svg.chart")))
    charts = browser.find_elements(By.CSS_SELECTOR, "#udp-result svg.chart")
    assert len(charts) == 3
    points = charts[0].find_elements(By.CSS_SELECTOR, "circle.pt")
    assert len(points) >= 2 * 15  # received and lost, one per 100 ms slice of 2 s
    lost = [float(p.get_attribute("data-y")) for p in points if "s-bad" in p.get_attribute("class")]
    assert 5 < sum(lost) / len(lost) < 40  # 20 % loss, per slice on average
    # Random loss is a drizzle, not bursts: few slices, if any, are marked (see
    # test_console_units for the burst rule).
    assert len(charts[0].find_elements(By.CSS_SELECTOR, "rect.burst")) < 5
    shoot(browser, "udp")


ROSTER_CSV = """student,passed,failed,ex01,ex02,ex03
alice,3,0,pass,pass,pass
bob,1,2,pass,fail,crash
carol,0,3,missing,timeout,fail
"""


def test_roster_from_a_grading_csv_and_json(browser, console, tmp_path):
    browser.get(console["url"] + "/exercises")
    record_weight(browser, "exercises")
    assert browser.find_elements(By.CSS_SELECTOR, "table.exercises tbody tr")
    shoot(browser, "exercises")
    csv_file = tmp_path / "grades.csv"
    csv_file.write_text(ROSTER_CSV)
    browser.find_element(By.CSS_SELECTOR, '#roster-form input[type="file"]').send_keys(
        str(csv_file)
    )
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "table.roster")))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.roster tbody tr")
    assert [r.get_attribute("data-student") for r in rows] == ["alice", "bob", "carol"]
    cells = [c.get_attribute("class") for c in rows[1].find_elements(By.CSS_SELECTOR, "td.v")]
    assert cells == ["v pass", "v fail", "v crash"]
    colour = rows[1].find_elements(By.CSS_SELECTOR, "td.v")[0].value_of_css_property("color")
    assert colour != rows[1].find_elements(By.CSS_SELECTOR, "td.v")[1].value_of_css_property(
        "color"
    )
    rows[2].find_element(By.CSS_SELECTOR, "a.js-student").click()
    details = browser.find_element(By.ID, "student-carol")
    wait(browser).until(lambda d: details.get_attribute("open") is not None)
    assert "ex02 timeout" in details.text
    shoot(browser, "exercises-roster")
    # A JSON grading file carries each expectation: the details show what was seen.
    json_file = tmp_path / "grades.json"
    json_file.write_text(
        '{"students": [{"student": "dave", "results": {"1": {"passed": false, "error": "",'
        ' "outcomes": [{"name": "sends a Host header", "passed": false, "seen": "no Host",'
        ' "hint": "HTTP/1.1 needs Host"}]}}}]}'
    )
    browser.find_element(By.CSS_SELECTOR, '#roster-form input[type="file"]').send_keys(
        str(json_file)
    )
    wait(browser).until(EC.presence_of_element_located((By.ID, "student-dave")))
    browser.find_element(By.CSS_SELECTOR, "a.js-student").click()
    assert "no Host" in browser.find_element(By.ID, "student-dave").text
    # A file that is neither says why, beside the field.
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    browser.find_element(By.CSS_SELECTOR, '#roster-form input[type="file"]').send_keys(str(bad))
    error = browser.find_element(By.CSS_SELECTOR, '#roster-form .field-error[data-for=""]')
    wait(browser).until(lambda d: "not a grading CSV" in error.text)


ATTACK = """<!doctype html><html><body>
<form id="f" method="POST" action="{console}/api/presets" enctype="text/plain">
<input name='{{"proxy":"restapi","preset":"blackhole","x":"' value='"}}'></form>
<p id="out">waiting</p>
<script>
fetch("{console}/api/presets", {{method: "POST", headers: {{"Content-Type": "application/json",
  "X-Lab-Token": "{token}"}}, body: JSON.stringify({{proxy: "rawhttp", preset: "blackhole"}})}})
  .then(r => r.status, e => "blocked: " + e)
  .then(s => {{ document.getElementById("out").textContent = "fetch " + s;
               document.getElementById("f").submit(); }});
</script></body></html>"""


def test_a_cross_origin_post_is_refused(browser, console, proxy_api, tmp_path):
    """A page on another local port, even one that knows the token, changes nothing."""
    page = ATTACK.format(console=console["url"], token=console["token"]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        # The fetch fails (its preflight is refused), then the form posts and the browser
        # lands on the console's refusal.
        wait(browser).until(EC.url_contains(console["url"]))
        assert "refused" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        server.shutdown()
        server.server_close()
    assert proxy_api.toxics("restapi") == [] and proxy_api.toxics("rawhttp") == []
