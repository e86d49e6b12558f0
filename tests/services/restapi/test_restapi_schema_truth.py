"""What /openapi.json says matches what the server does, on the cases schemathesis found."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from services.common.paths import REPO_ROOT


@pytest.mark.parametrize("refill", [5e-324, 1e-300, 0.0009])
def test_a_tiny_refill_is_a_422_not_a_500(http: httpx.Client, refill: float) -> None:
    r = http.post("/_lab/ratelimit", json={"group": "api", "capacity": 1, "refill_per_s": refill})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"].endswith("refill_per_s")
    slowest = http.post(
        "/_lab/ratelimit", json={"group": "api", "capacity": 1_000_000, "refill_per_s": 0.001}
    )
    assert slowest.status_code == 200
    assert slowest.json()["groups"]["api"]["window_s"] == 1_000_000_000


def test_a_tiny_refill_on_the_command_line_is_one_line(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "services.restapi", "--rate-limit", "api=5/5e-324"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert "at least 0.001" in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_the_schema_says_what_the_server_accepts(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    update = schema["components"]["schemas"]["RateLimitUpdate"]
    assert sorted(update["dependentRequired"]["group"]) == ["capacity", "refill_per_s"]
    assert update["properties"]["refill_per_s"]["minimum"] == 0.001
    assert update["properties"]["group"]["enum"] == ["api", "practice", "*"]
    # Each field alone, or null, is refused, as the schema now says; 0 is not false.
    for bad in (
        {"group": "api"},
        {"capacity": 3},
        {"refill_per_s": 1},
        {"group": "api", "capacity": None, "refill_per_s": None},
        {"group": None},
        {"restore_defaults": 0},
        {"group": "api", "capacity": 1.5, "refill_per_s": 1},
    ):
        assert http.post("/_lab/ratelimit", json=bad).status_code == 422, bad
    assert http.post("/_lab/ratelimit", json={"enabled": None}).status_code == 200

    status_op = schema["paths"]["/status/{codes}"]["get"]
    pattern = next(p for p in status_op["parameters"] if p["name"] == "codes")["schema"]["pattern"]
    for codes, accepted in [("0" * 100, False), ("200:0", False), ("200:3,503:1", True)]:
        assert bool(re.fullmatch(pattern, codes)) is accepted
        status = http.get(f"/status/{codes}", params={"seed": 1}).status_code
        assert (status != 422) is accepted, codes

    drip = schema["paths"]["/drip"]["get"]["responses"]
    assert {"2XX", "3XX", "4XX", "5XX"} <= set(drip)
    assert http.get("/drip", params={"code": 598, "duration": 0}).status_code == 598

    create = schema["paths"]["/api/users"]["post"]["responses"]["422"]
    assert "Idempotency-Key" in create["description"]
