"""A real lab, a real `lab console` process, and a real Chromium driven by selenium.

Under CI=true a missing browser fails these tests (the journeys must run in CI); on a
workstation without chromium and chromium-driver they are skipped with the reason
(`make system-deps` installs both from Debian's archive).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, service_process

SCREENSHOTS = REPO_ROOT / ".lab" / "screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")

# A scenario that passes, and the same with a wrong expectation (expected vs actual).
GOOD = """name: console-good-404
summary: rawhttp answers an unknown path with 404.
lesson: A 404 is a complete answer.
steps:
  - http: {target: rawhttp, path: /no/such/page.html, timeout: 2}
    expect:
      status: 404
"""
BAD = GOOD.replace("console-good-404", "console-wrong-expectation").replace(
    "status: 404", "status: 299"
)


def _missing(why: str) -> None:
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"browser tests must run in CI: {why} (run `make system-deps`)")
    pytest.skip(f"{why}: install Debian's chromium and chromium-driver (`make system-deps`)")


@pytest.fixture(scope="session")
def console(local_lab, tmp_path_factory) -> Iterator[dict]:
    """`lab console` on a free port against the session's lab, with a tmp scenario library."""
    library = tmp_path_factory.mktemp("console-scenarios")
    (library / "demo").mkdir()
    (library / "demo" / "good.yaml").write_text(GOOD)
    (library / "demo" / "wrong.yaml").write_text(BAD)
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def ready() -> None:
        httpx.get(url + "/healthz", timeout=1, trust_env=False).raise_for_status()

    args = ["-m", "lab.cli", "console", "--port", str(port), "--scenarios-dir", str(library)]
    with service_process(args, ready, timeout=30):
        token = (Path(os.environ["WIRELAB_STATE_DIR"]) / "console" / "token").read_text().strip()
        yield {"url": url, "port": port, "token": token, "lab": local_lab}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[dev]')")
    binary = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _missing(f"no {'chromium' if binary is None else 'chromedriver'} on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,800")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    # Page weights are measured cold: no cache, so transferSize counts every byte.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        yield driver
    finally:
        driver.quit()


WEIGHTS: dict[str, int] = {}


def page_weight(driver) -> int:
    """Bytes transferred for the page and its assets (the Resource Timing API)."""
    return int(
        driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return (n ? n.transferSize : 0) + performance.getEntriesByType('resource')"
            ".reduce((sum, r) => sum + r.transferSize, 0);"
        )
    )


def shoot(driver, name: str) -> None:
    """A screenshot of the page at desktop and phone sizes, then back to desktop."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES.values():
        driver.set_window_size(width, height)
        driver.execute_script("window.scrollTo(0, 0)")
        # No sideways scrolling at either size: a page wider than the window is unusable.
        wide = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert wide <= 1, f"{name} at {width}px scrolls sideways by {wide}px"
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{width}x{height}.png"))
    driver.set_window_size(*SIZES["desktop"])


def record_weight(driver, name: str) -> int:
    weight = page_weight(driver)
    WEIGHTS[name] = weight
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "page-weights.json").write_text(json.dumps(WEIGHTS, indent=2, sort_keys=True))
    return weight
