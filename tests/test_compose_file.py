"""compose.yaml, the Dockerfile and the fault proxy's config agree with services/ports.py.

Every port number in compose.yaml is checked against the one table of ports, so a
number is never written in two places without a test tying them. No engine needed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.images import APP_IMAGE, DEFAULT_BASE
from services.ports import (
    BY_NAME,
    ENDPOINTS,
    PROXY_OFFSET,
    SERVICES,
    VIA_PROXY,
    all_endpoint_names,
    default_port,
    env_var_for,
)

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = "/var/lib/wirelab"
PORT_SPEC = re.compile(r"^127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)/(tcp|udp)$")
# Which command-line flag carries each endpoint's port (the services' fixed command lines).
PORT_FLAGS = {
    "rawhttp": "--port",
    "rawhttp.echo": "--echo-port",
    "rawhttp.line": "--line-port",
    "rawhttp.https": "--https-port",
    "rawhttp.blocking": "--port",
    "udpstream": "--port",
    "restapi": "--port",
    "faultproxy": "--port",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def flags(command: list[str]) -> dict[str, str]:
    out = {}
    for arg in command:
        if arg.startswith("--"):
            key, _, value = arg.partition("=")
            out[key] = value
    return out


def published(service: dict) -> set[tuple[str, int, int, str]]:
    """(env var, default host port, container port, proto) for each published port."""
    out = set()
    for spec in service.get("ports", []):
        m = PORT_SPEC.match(spec)
        assert m, f"port {spec!r} must be 127.0.0.1:${{VAR:-DEFAULT}}:PORT/PROTO"
        out.add((m[1], int(m[2]), int(m[3]), m[4]))
    return out


def expected_ports(service: str) -> set[tuple[str, int, int, str]]:
    names = [e.name for e in ENDPOINTS if e.service == service]
    if service == "faultproxy":
        names += [e.name + VIA_PROXY for e in ENDPOINTS if e.proxied]
    out = set()
    for name in names:
        base = BY_NAME[name.removesuffix(VIA_PROXY)]
        port = base.port + (PROXY_OFFSET if name.endswith(VIA_PROXY) else 0)
        out.add((env_var_for(name), port, port, base.proto))
    return out


def test_compose_names_every_service_and_the_runner(compose):
    assert set(compose["services"]) == {*SERVICES, "lab"}
    assert compose["services"]["lab"]["profiles"] == ["runner"]
    for name, service in compose["services"].items():
        assert service["image"] == "${WIRELAB_IMAGE:-" + APP_IMAGE + "}", name
        assert service["networks"] == ["lab"], name


@pytest.mark.parametrize("service", SERVICES)
def test_published_ports_match_services_ports(compose, service):
    assert published(compose["services"][service]) == expected_ports(service)


def test_rawhttp_is_told_every_published_port(compose):
    """Its index page lists the ports a host client uses, not the in-network defaults."""
    value = compose["services"]["rawhttp"]["environment"]["WIRELAB_PUBLISHED_PORTS"]
    entries = dict(item.split("=", 1) for item in value.split(","))
    host_published = {n for n in all_endpoint_names() if n != "console"}
    assert set(entries) == host_published
    for name, text in entries.items():
        assert text == f"${{{env_var_for(name)}:-{default_port(name, {})}}}", name


def test_runner_publishes_nothing(compose):
    assert "ports" not in compose["services"]["lab"]


@pytest.mark.parametrize("service", SERVICES)
def test_command_ports_match_services_ports(compose, service):
    command = compose["services"][service]["command"]
    assert command[:3] == ["python", "-m", "services." + service.split("-")[0]]
    given = flags(command)
    assert given["--host"] == "0.0.0.0"
    for ep in ENDPOINTS:
        if ep.service == service:
            assert given[PORT_FLAGS[ep.name]] == str(ep.port), ep.name


def test_command_modes(compose):
    assert flags(compose["services"]["rawhttp"]["command"])["--mode"] == "selectors"
    blocking = flags(compose["services"]["rawhttp-blocking"]["command"])
    assert blocking["--mode"] == "blocking" and "--http-only" in blocking


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_protocol_healthcheck(compose, service):
    check = compose["services"][service]["healthcheck"]
    assert check["test"] == ["CMD", "python", "/opt/wirelab/healthcheck.py", service]
    assert check["interval"] == "${WIRELAB_HEALTH_INTERVAL:-2s}" and check["retries"] >= 3


def test_proxy_starts_after_healthy_upstreams(compose):
    depends = compose["services"]["faultproxy"]["depends_on"]
    assert depends == {s: {"condition": "service_healthy"} for s in SERVICES if s != "faultproxy"}
    runner = compose["services"]["lab"]["depends_on"]
    assert runner == {s: {"condition": "service_healthy"} for s in SERVICES}


def test_state_volume_and_docroot_mount(compose):
    assert "state" in compose["volumes"]
    for service in ("rawhttp", "restapi"):
        assert f"state:{STATE_DIR}" in compose["services"][service]["volumes"]
        assert flags(compose["services"][service]["command"])["--state-dir"] == STATE_DIR
    # The runner reads the lab CA from the same volume, where rawhttp writes it.
    from services.common.lab_ca import ca_files

    runner = compose["services"]["lab"]
    assert "state:/lab-state:ro" in runner["volumes"]
    assert runner["environment"]["WIRELAB_DOCKER_CA"] == str(ca_files("/lab-state").ca_cert)
    assert runner["environment"]["WIRELAB_DOCKER_IN_NETWORK"] == "1"
    rawhttp = compose["services"]["rawhttp"]
    docroot = flags(rawhttp["command"])["--docroot"]
    assert f"./services/rawhttp/docroot:{docroot}:ro" in rawhttp["volumes"]


def test_faultproxy_config_is_generated_from_lab_proxies(compose):
    spec = importlib.util.spec_from_file_location(
        "make_faultproxy_config", REPO / "docker" / "make_faultproxy_config.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (REPO / "docker" / "faultproxy.json").read_text()
    assert committed == module.render(), "regenerate: python docker/make_faultproxy_config.py"
    proxies = json.loads(committed)
    assert {p["name"] for p in proxies} == {e.proxy_name for e in ENDPOINTS if e.proxied}
    by_name = {p["name"]: p for p in proxies}
    assert by_name["rawhttp_echo"]["upstream"] == "rawhttp:9000"
    assert by_name["udpstream"]["protocol"] == "udp"
    mount = "./docker/faultproxy.json:/etc/wirelab/faultproxy.json:ro"
    assert mount in compose["services"]["faultproxy"]["volumes"]
    assert flags(compose["services"]["faultproxy"]["command"])["--config"] == (
        "/etc/wirelab/faultproxy.json"
    )


def test_dockerfile_base_arg_non_root_and_layer_order():
    text = (REPO / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={DEFAULT_BASE}" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    lines = text.splitlines()
    # The dependency layer comes before any code, so a code change reuses it.
    deps = next(i for i, ln in enumerate(lines) if ln.startswith("COPY --from=deps"))
    code = min(i for i, ln in enumerate(lines) if re.match(r"COPY (services|lab)/", ln))
    assert deps < code


def test_compose_build_arg_defaults_to_the_same_base(compose):
    args = compose["services"]["rawhttp"]["build"]["args"]
    assert args["BASE_IMAGE"] == "${WIRELAB_BASE_IMAGE:-" + DEFAULT_BASE + "}"


def test_healthcheck_script_rejects_an_unknown_service():
    proc = subprocess.run(
        [sys.executable, str(REPO / "docker" / "healthcheck.py"), "nosuch"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2
    assert "usage: healthcheck.py" in proc.stderr


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
            return ["docker", "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_itself_accepts_the_file():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither docker compose nor docker-compose is installed")
    proc = subprocess.run(
        [*cli, "-f", str(REPO / "compose.yaml"), "--profile", "runner", "config", "--services"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {*SERVICES, "lab"}


def test_debootstrap_tag_is_a_stable_hash_of_the_recipe():
    from lab.images import debootstrap_tag

    tag = debootstrap_tag()
    assert tag == debootstrap_tag() and re.fullmatch(r"wirelab-base:bookworm-[0-9a-f]{10}", tag)
    assert debootstrap_tag(packages=("python3",)) != tag


def test_image_reference_split_keeps_a_registry_port():
    from lab.images import _split_reference

    assert _split_reference("python:3.11-slim") == ("python", "3.11-slim")
    assert _split_reference("python") == ("python", "latest")
    assert _split_reference("localhost:5000/python") == ("localhost:5000/python", "latest")
    assert _split_reference("localhost:5000/python:3.11") == ("localhost:5000/python", "3.11")


def test_image_requirements_are_pyprojects_dependencies():
    import tomllib

    from lab.images import _wheel_platforms, runtime_requirements

    with open(REPO / "pyproject.toml", "rb") as fh:
        assert runtime_requirements() == tomllib.load(fh)["project"]["dependencies"]
    platforms = _wheel_platforms("amd64")
    assert "manylinux_2_36_x86_64" in platforms and "manylinux2014_x86_64" in platforms
    assert all(p.endswith("_aarch64") for p in _wheel_platforms("arm64"))


def test_dockerignore_keeps_what_the_dockerfile_copies():
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = re.findall(r"^COPY (?!--from)(\S+)", (REPO / "Dockerfile").read_text(), re.M)
    assert copied, "the Dockerfile copies nothing from the context?"
    for source in copied:
        top = source.strip("/").split("/")[0]
        assert top not in ignored and source.strip("/") not in ignored, source
    assert {".git", ".venv", "tests", ".lab"} <= ignored  # a lean, stable build context
