"""Two labs of one class on the docker backend: a compose project each, never meeting.

`lab class up --backend docker` for two students; each card's ports answer with the
card's CA and token; a toxic on one lab's proxy never shows in the other's; each token
opens only its own fault proxy; `lab use CARD` then `lab run` reaches the card's lab; and
`lab class down` leaves no container or network of either (`--purge`: no volume).
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lab.classroom.registry import load_class
from lab.health import probe_endpoint
from services.common.paths import REPO_ROOT
from services.ports import BY_NAME, SERVICES, VIA_PROXY
from tests.docker_stack import require_docker

pytestmark = pytest.mark.docker


def lab_cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def engine_objects(prefix: str) -> dict[str, list[str]]:
    import docker

    client = docker.from_env()
    return {
        "containers": [
            c.name for c in client.containers.list(all=True) if c.name.startswith(prefix)
        ],
        "networks": [n.name for n in client.networks.list() if n.name.startswith(prefix)],
        "volumes": [v.name for v in client.volumes.list() if v.name.startswith(prefix)],
    }


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    require_docker()
    folder = tmp_path_factory.mktemp("dclass")
    tag = f"t{os.getpid()}"  # projects wirelab-cls-t<pid>-a/-b: no other run's
    roster = folder.parent / f"{tag}-roster.txt"
    roster.write_text(f"{tag}-a\n{tag}-b\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    env |= {"WIRELAB_CLASS_DIR": str(folder), "WIRELAB_USE_FILE": str(folder / "use.json")}
    for key in ("WIRELAB_IMAGE", "WIRELAB_BASE_IMAGE"):  # which image, as CI chose it
        if key in os.environ:
            env[key] = os.environ[key]
    prefix = f"wirelab-cls-{tag}-"
    try:
        for _ in range(3):  # a random stretch of the plan: another class may hold slot 0
            slot = random.randrange(50, 700)
            done = lab_cli("class", "up", "--backend", "docker", "--roster", str(roster),
                           "--first-slot", str(slot), env=env)  # fmt: skip
            if done.returncode == 0:
                break
            lab_cli("class", "down", "--purge", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        yield folder, env, load_class(folder), prefix
    finally:
        lab_cli("class", "down", "--purge", env=env)
        assert engine_objects(prefix) == {"containers": [], "networks": [], "volumes": []}


def card_of(lab) -> dict:
    return json.loads((Path(lab.state_dir) / "card.json").read_text())


def api(card: dict, path: str, token: str | None = None, method: str = "GET", **kw):
    url = f"http://127.0.0.1:{card['ports']['faultproxy']}{path}"
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.request(method, url, headers=headers, timeout=5, trust_env=False, **kw)


def test_each_card_answers_with_its_own_ports_ca_token_and_data(klass):
    _, _, (a, b), prefix = klass
    cards = [card_of(a), card_of(b)]
    assert [c["compose_project"] for c in cards] == [prefix + "a", prefix + "b"]
    assert not set(cards[0]["ports"].values()) & set(cards[1]["ports"].values())
    for card in cards:
        for name, port in card["ports"].items():
            ep = BY_NAME[name.removesuffix(VIA_PROXY)]
            if ep.service not in SERVICES:
                continue  # `lab console` serves it from the student's own machine
            if name.endswith(VIA_PROXY) and ep.kind == "tls":
                continue  # the proxy relays TLS bytes: probed directly above
            probe_endpoint(ep, "127.0.0.1", port, card["ca_cert"], token=card["faultproxy_token"])
    # A CA of its own (each lab's state volume), copied where its card says.
    pems = [Path(c["ca_cert"]).read_bytes() for c in cards]
    assert pems[0].startswith(b"-----BEGIN CERTIFICATE") and pems[0] != pems[1]
    # The token reached each faultproxy (not in `ps`): each opens its own API only.
    ta, tb = (c["faultproxy_token"] for c in cards)
    assert ta != tb
    assert api(cards[0], "/proxies", ta).status_code == 200
    assert api(cards[0], "/proxies", tb).status_code == 401
    assert api(cards[1], "/proxies", ta).status_code == 401
    assert api(cards[1], "/proxies").status_code == 401
    # restapi data: a user made in A does not exist in B.
    base_a, base_b = (f"http://127.0.0.1:{c['ports']['restapi']}" for c in cards)
    made = httpx.post(f"{base_a}/api/users", json={"name": "only-in-a", "email": "a@example.org"},
                      headers={"Authorization": "Bearer alice-token"},
                      trust_env=False, timeout=5)  # fmt: skip
    assert made.status_code == 201, made.text
    names_b = [u["name"] for u in httpx.get(f"{base_b}/api/users", trust_env=False).json()]
    assert "only-in-a" not in names_b


def test_a_toxic_on_one_lab_is_not_seen_on_the_other(klass):
    _, _, (a, b), _ = klass
    ca, cb = card_of(a), card_of(b)
    toxic = {"name": "slow", "type": "latency", "stream": "downstream",
             "attributes": {"latency": 400, "jitter": 0}}  # fmt: skip
    made = api(ca, "/proxies/restapi/toxics", ca["faultproxy_token"], "POST", json=toxic)
    assert made.status_code == 200, made.text
    try:
        on_a = api(ca, "/proxies", ca["faultproxy_token"]).json()["restapi"]["toxics"]
        on_b = api(cb, "/proxies", cb["faultproxy_token"]).json()
        assert [t["name"] for t in on_a] == ["slow"]
        assert all(not p["toxics"] for p in on_b.values())
        # And on the wire: A's proxied restapi is 400 ms late, B's is not.
        for card, slow in ((ca, True), (cb, False)):
            url = f"http://127.0.0.1:{card['ports']['restapi.via_proxy']}/healthz"
            took = httpx.get(url, trust_env=False, timeout=5).elapsed.total_seconds()
            assert (took >= 0.38) if slow else (took < 0.3), (card["name"], took)
    finally:
        api(ca, "/proxies/restapi/toxics/slow", ca["faultproxy_token"], "DELETE")


def test_lab_use_then_lab_run_reaches_the_cards_lab(klass):
    folder, env, (a, b), prefix = klass
    assert lab_cli("use", str(folder / "cards" / f"{a.name}.html"), env=env).returncode == 0
    status = lab_cli("status", "--json", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    body = json.loads(status.stdout)
    assert body["backend"] == "docker"
    rows = {r["service"]: r for r in body["services"]}
    assert f"127.0.0.1:{card_of(a)['ports']['restapi']}/tcp" in rows["restapi"]["addresses"]
    # reset-peer runs in a runner container on A's network, with A's token.
    run = lab_cli("run", "outages/reset-peer", env=env)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-2000:] + run.stderr
    assert "lab network" in run.stdout


def test_grade_checks_each_student_against_their_own_docker_lab(klass, tmp_path):
    _, env, (a, b), _ = klass
    solution = (REPO_ROOT / "exercises" / "01-raw-requests" / "solution.py").read_text()
    (tmp_path / a.name).mkdir()
    (tmp_path / a.name / "01-raw-requests.py").write_text(solution)
    (tmp_path / b.name).mkdir()
    (tmp_path / b.name / "01-raw-requests.py").write_text("print('no request at all')\n")
    out = tmp_path / "grades.csv"
    done = lab_cli("class", "grade", str(tmp_path), "--only", "1", "--csv", str(out), env=env)
    assert done.returncode == 1, done.stdout + done.stderr  # B fails: not everyone passed
    rows = {row[0]: row for row in list(csv.reader(out.open()))[1:]}
    assert rows[a.name][1:4] == ["1", "1", "pass"], rows
    assert rows[b.name][1:3] == ["0", "1"] and rows[b.name][3] != "pass", rows


def test_class_down_leaves_nothing_of_either_lab(klass):
    _, env, _, prefix = klass
    down = lab_cli("class", "down", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    left = engine_objects(prefix)
    assert left["containers"] == [] and left["networks"] == []
    assert sorted(left["volumes"]) == [prefix + "a_state", prefix + "b_state"]  # data kept
    purge = lab_cli("class", "down", "--purge", env=env)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert engine_objects(prefix) == {"containers": [], "networks": [], "volumes": []}
