"""Docker tests are required under CI=true when an engine answers: a skip fails the run.

Where no engine exists they skip with a one-line reason. A skip in CI with a working
engine means the docker backend went untested, which must not pass silently.
"""

from __future__ import annotations

import os

import pytest


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and item.get_closest_marker("docker") and _ci()):
        return
    if hasattr(report, "wasxfail"):
        return
    from lab.backends.docker_backend import engine_available

    if engine_available():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"docker test skipped under CI=true although a Docker engine answers: {reason}"
        )
