"""Where `lab run` on the docker backend sends each scenario, and how the runner sees files.

No engine needed; the end-to-end run is in test_docker_backend.py.
"""

from __future__ import annotations

from pathlib import Path

from lab.backends.docker_runner import WHERE_HOST, WHERE_NETWORK, RunnerPlan, placement
from lab.scenario.library import load_all


def test_service_actions_stay_on_the_host_everything_else_goes_in_the_network():
    assert placement(["pause", "resume"]) == WHERE_HOST
    assert placement(["partition"]) == WHERE_HOST
    assert placement(["raw-transport"]) == WHERE_NETWORK
    assert placement([]) == WHERE_NETWORK
    where = {s.name: placement(s.needs) for s in load_all().scenarios}
    assert {n for n, w in where.items() if w == WHERE_HOST} == {
        "paused-service",
        "stopped-service",
        "partition",
    }


def test_scenario_folders_keep_their_paths_inside(tmp_path):
    a = tmp_path / "a" / "one.yaml"
    b = tmp_path / "b" / "two.yaml"
    plan = RunnerPlan([a, b, tmp_path / "a" / "three.yaml"])
    assert plan.mounts == {str(a.parent): str(a.parent), str(b.parent): str(b.parent)}
    assert plan.inside(a) == str(a)
    assert plan.to_host(str(b)) == str(b)


def test_a_folder_over_the_image_is_mounted_elsewhere_and_mapped_back():
    file = Path("/usr/share/wirelab/s.yaml")  # would hide the image's /usr
    app = Path("/app/scenarios/outages/x.yaml")  # would hide the image's code
    plan = RunnerPlan([file, app])
    assert plan.mounts == {
        "/usr/share/wirelab": "/scenarios/0",
        "/app/scenarios/outages": "/scenarios/1",
    }
    assert plan.inside(file) == "/scenarios/0/s.yaml"
    assert plan.to_host("/scenarios/1/x.yaml") == str(app)
    assert plan.to_host("/scenarios/10/x.yaml") == "/scenarios/10/x.yaml"  # no prefix confusion
