"""The docker backend: the Compose stack in compose.yaml, driven by compose and the SDK.

``up`` and ``down`` run ``docker compose`` (v2) or ``docker-compose`` (v1), whichever is
installed, because compose.yaml is what users run by hand too. Everything else
(pause, stop, partition, logs, status) uses the ``docker`` SDK on the containers compose
labelled with our project name.

Host ports come from ``services.ports`` (plus ``ports``/``port_offset``) and reach
compose.yaml as its ``WIRELAB_*_PORT`` variables; inside the network every service keeps
its default port. ``address`` reads the port the container really published.

Inside the network (the compose ``lab`` runner, ``WIRELAB_DOCKER_IN_NETWORK=1``) the
backend only addresses and probes services by their DNS names: it has no engine access
(no service actions), but no docker-proxy either (``raw-transport``).
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cached_property
from pathlib import Path

from lab.backends.base import Backend, BackendError, ServiceStatus
from lab.health import HealthProbeError, probe_endpoint
from services.common.paths import state_dir as resolve_state_dir
from services.ports import (
    BY_NAME,
    ENDPOINTS,
    PROXY_OFFSET,
    SERVICES,
    VIA_PROXY,
    all_endpoint_names,
    env_var_for,
)
from services.ports import default_port as ports_default_port

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
DEFAULT_PROJECT = "wirelab"
NETWORK = "lab"  # compose.yaml's network; the engine names it <project>_lab
CONTAINER_STATE_DIR = "/var/lib/wirelab"
ACTIONS = frozenset({"pause", "resume", "stop", "start", "partition", "heal"})
# From the host, clients reach published ports through the engine's userland proxy
# (docker-proxy): it accepts every TCP connection itself, so a refused connection or a
# peer's RST arrives as accept-then-EOF, and it drops UDP datagrams in bursts. Only the
# runner inside the Compose network talks to the services directly.
RAW_TRANSPORT = "raw-transport"
# On the scenario runner containers `lab run` starts in the lab network (value: the
# project), so `lab down` removes them even after a `lab run` that was killed outright.
RUNNER_LABEL = "org.wirelab.runner"
_ENGINE_TIMEOUT = 2.0
TOKEN_ENV = "WIRELAB_FAULTPROXY_TOKEN"  # what faultproxy reads (services/faultproxy/service.py)


def engine_available() -> bool:
    """True when a Docker engine answers a ping within two seconds (``--backend auto``)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=_ENGINE_TIMEOUT)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure means "no usable engine", which is the answer
        return False


def auto_backend() -> tuple[str, str]:
    """``lab up --backend auto``: ("docker", "") when an engine answers and the lab's image
    can be made, else ("local", one line saying why, with the command that enables Docker).
    """
    if not engine_available():
        return "local", (
            "using the local backend: no Docker engine answers (to use Docker, install and "
            "start it: sudo systemctl start docker)"
        )
    from lab.images import ImageError, docker_client, image_blocker

    try:
        blocked = image_blocker(docker_client())
    except ImageError as exc:
        return "local", f"using the local backend: {exc}"
    if blocked is None:
        return "docker", ""
    why, fix = blocked
    return "local", f"using the local backend: {why} (to use Docker: {fix})"


@functools.cache
def compose_command() -> list[str]:
    """``docker compose`` when the v2 plugin exists, else ``docker-compose``, else a clear error."""
    docker_cli = shutil.which("docker")
    if docker_cli:
        probe = subprocess.run(
            [docker_cli, "compose", "version"], capture_output=True, text=True, timeout=10
        )
        if probe.returncode == 0:
            return [docker_cli, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise BackendError(
        "neither `docker compose` (v2) nor `docker-compose` is installed: install the compose "
        "plugin (apt-get install docker-compose-plugin) or docker-compose, or use --backend local"
    )


def _in_network_port(endpoint: str) -> int:
    """The port an endpoint listens on inside the Compose network (its default)."""
    if endpoint.endswith(VIA_PROXY):
        return BY_NAME[endpoint.removesuffix(VIA_PROXY)].port + PROXY_OFFSET
    return BY_NAME[endpoint].port


def _owner(endpoint: str) -> str:
    """The Compose service that listens on an endpoint (proxied twins live on faultproxy)."""
    return "faultproxy" if endpoint.endswith(VIA_PROXY) else BY_NAME[endpoint].service


def _proto(endpoint: str) -> str:
    return BY_NAME[endpoint.removesuffix(VIA_PROXY)].proto


def isolated_ports(low: int = 20000, high: int = 32000) -> dict[str, int]:
    """Free host ports for every endpoint, for a second lab beside a running one (tests, bench).

    Picked below the kernel's ephemeral range (32768+), where outgoing connections take
    their local ports, so nothing grabs one between this check and the engine's bind.
    """
    import random

    from lab.backends.local import port_free

    rng = random.Random()
    chosen: dict[str, int] = {}
    for name in all_endpoint_names():
        while True:
            port = rng.randrange(low, high)
            if port not in chosen.values() and port_free("127.0.0.1", port, _proto(name)):
                chosen[name] = port
                break
    return chosen


class DockerBackend(Backend):
    name = "docker"
    capabilities = ACTIONS

    def __init__(
        self,
        ports: Mapping[str, int] | None = None,
        port_offset: int | None = None,
        project: str | None = None,
        compose_file: str | os.PathLike[str] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        build: bool = True,
        base_image: str | None = None,
        in_network: bool | None = None,
        token: str | None = None,
    ) -> None:
        raw_project = project or os.environ.get("WIRELAB_COMPOSE_PROJECT") or DEFAULT_PROJECT
        # The name compose itself uses (v1 lowercases and drops other characters), so the
        # labels and the network name we look for are the ones it created.
        self.project = re.sub(r"[^-_a-z0-9]", "", raw_project.lower())
        if not self.project:
            raise BackendError(
                f"project name {raw_project!r} has no usable characters: use [a-z0-9_-]"
            )
        self._port_cache: dict[str, tuple[float, dict]] = {}
        self._ips: dict[str, str] = {}
        self.compose_file = Path(compose_file or COMPOSE_FILE)
        self.state = resolve_state_dir(state_dir)
        self.build = build
        self.base_image = base_image
        if in_network is None:
            in_network = os.environ.get("WIRELAB_DOCKER_IN_NETWORK") == "1"
        self.in_network = in_network
        # The runner has no engine (no service actions) but no docker-proxy either.
        self.capabilities = frozenset({RAW_TRANSPORT}) if in_network else ACTIONS
        env = dict(os.environ)
        if port_offset is not None:
            env["WIRELAB_PORT_OFFSET"] = str(port_offset)
        for endpoint, port in (ports or {}).items():
            if endpoint not in all_endpoint_names():
                raise BackendError(f"unknown endpoint {endpoint!r} in ports")
            env[env_var_for(endpoint)] = str(port)
        try:
            # Every host port, resolved once: these are what compose.yaml publishes.
            self.host_ports = {name: ports_default_port(name, env) for name in all_endpoint_names()}
        except ValueError as exc:
            raise BackendError(str(exc)) from None
        # faultproxy's bearer token: compose hands it to the container (compose.yaml), the
        # probes and the runner send it. Per backend, not per process: a class's status
        # probes many labs, each with its own token, from one process.
        if token is not None:
            env[TOKEN_ENV] = token
        self.token = env.get(TOKEN_ENV) or None
        self._env = env

    def capability_note(self, capability: str) -> str | None:
        """Why this backend lacks ``capability`` and where the scenario runs instead.

        `lab run` on the host sends each scenario where it can run (see
        lab/backends/docker_runner.py), so these reasons show only for a scenario that needs
        both raw transport and a service action, or for a runner started by hand.
        """
        if self.in_network and capability in ACTIONS:
            return (
                "the runner inside the Compose network has no Docker engine to act on "
                "services: run it from the host (`lab up --backend docker`, then `lab run`)"
            )
        if not self.in_network and capability == RAW_TRANSPORT:
            return (
                "Docker's published ports go through docker-proxy, which hides refused/RST "
                "and drops UDP bursts; `lab run` runs it in a runner container on the lab "
                "network, where no service action is possible (or use the local backend)"
            )
        return super().capability_note(capability)

    # -- engine and compose ---------------------------------------------------------------
    @cached_property
    def client(self):
        if self.in_network:
            raise BackendError(
                "the lab runner inside the Compose network has no Docker engine: run this "
                "from the host with `lab ... --backend docker`"
            )
        try:
            import docker
        except ImportError:
            raise BackendError(
                "the `docker` Python package is missing: pip install -e . (or pip install docker)"
            ) from None
        try:
            client = docker.from_env(timeout=60)
            client.ping()
        except Exception as exc:
            raise BackendError(
                f"no Docker engine answers ({type(exc).__name__}): start it "
                "(systemctl start docker) or use --backend local"
            ) from None
        return client

    def compose_env(self) -> dict[str, str]:
        env = dict(self._env)
        for name, port in self.host_ports.items():
            env[env_var_for(name)] = str(port)
        if self.base_image:
            env["WIRELAB_BASE_IMAGE"] = self.base_image
        return env

    def _compose(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        if not self.compose_file.is_file():
            raise BackendError(f"{self.compose_file} is missing: run lab from a wirelab checkout")
        cmd = [*compose_command(), "-f", str(self.compose_file), "-p", self.project, *args]
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.compose_file.parent,
                env=self.compose_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"`compose {' '.join(args)}` took more than {timeout:.0f}s: see `lab logs SERVICE`"
            ) from None
        if proc.returncode != 0:
            raise BackendError(self._explain_compose_error(args[0], proc.stderr or proc.stdout))
        return proc

    def _explain_compose_error(self, verb: str, output: str) -> str:
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        text = " ".join(lines)
        for name, port in self.host_ports.items():
            if f":{port} failed" in text or f":{port}: bind" in text:
                return (
                    f"port {port}/{_proto(name)} for {name} is already in use: stop whatever holds "
                    f"it (`ss -lntup | grep :{port}`) or move it with `lab up --port {name}=<port>`, "
                    f"{env_var_for(name)}=<port>, or `--port-offset N`"
                )
        for ln in reversed(lines):
            if "unhealthy" in ln:
                return f"{ln} (see `lab logs SERVICE`)"
        last = lines[-1] if lines else "no output"
        return f"compose {verb} failed: {last[:300]}"

    # -- containers ------------------------------------------------------------------------
    def _containers(self) -> dict[str, object]:
        """The project's service containers by service name (the runner excluded)."""
        found = {}
        for c in self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        ):
            service = c.labels.get("com.docker.compose.service", "")
            if service in SERVICES and c.labels.get("com.docker.compose.oneoff") != "True":
                found[service] = c
        return found

    def _container(self, service: str):
        if service not in SERVICES:
            raise BackendError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")
        container = self._containers().get(service)
        if container is None:
            raise BackendError(
                f"{service} has no container in project {self.project!r}: run `lab up --backend docker`"
            )
        return container

    def network_name(self) -> str:
        # compose v1 strips characters the engine does not allow; v2 keeps [a-z0-9_-].
        return f"{self.project}_{NETWORK}"

    def _network(self):
        import docker.errors

        try:
            return self.client.networks.get(self.network_name())
        except docker.errors.NotFound:
            raise BackendError(
                f"network {self.network_name()} does not exist: run `lab up --backend docker`"
            ) from None

    def _on_network(self, container) -> bool:
        return self.network_name() in (container.attrs["NetworkSettings"].get("Networks") or {})

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_images(self) -> None:
        """Build (or reuse from the build cache) the one image every service runs.

        With ``$WIRELAB_IMAGE`` set (an image made elsewhere and `docker load`-ed, say) or
        ``build=False``, that image is used as it is, and must exist.
        """
        from lab.images import APP_IMAGE, ensure_app_image

        preset = self._env.get("WIRELAB_IMAGE")
        if preset or not self.build:
            import docker.errors

            image = preset or APP_IMAGE
            try:
                self.client.images.get(image)
                return
            except docker.errors.ImageNotFound:
                if preset:
                    raise BackendError(
                        f"image {image} (from WIRELAB_IMAGE) is not in the engine: `docker load` "
                        "it, or unset WIRELAB_IMAGE to build wirelab:local"
                    ) from None
        self.base_image = ensure_app_image(self.client, base=self.base_image)

    def _preflight_ports(self, services: list[str]) -> None:
        from lab.backends.local import port_free

        running = {s for s, c in self._containers().items() if c.status in ("running", "paused")}
        for name, port in self.host_ports.items():
            if _owner(name) not in services or _owner(name) in running:
                continue
            if not port_free("127.0.0.1", port, _proto(name)):
                raise BackendError(
                    f"port {port}/{_proto(name)} for {name} is already in use: stop whatever holds "
                    f"it (`ss -lntup | grep :{port}`) or move it with `lab up --port {name}=<port>`, "
                    f"{env_var_for(name)}=<port>, or `--port-offset N`"
                )

    def up(self, services: list[str] | None = None, timeout: float = 60.0) -> list[ServiceStatus]:
        if self.in_network:
            return self._wait_in_network(services or list(SERVICES), timeout)
        services = list(services or SERVICES)
        for s in services:
            if s not in SERVICES:
                raise BackendError(f"unknown service {s!r}: choose from {', '.join(SERVICES)}")
        if "faultproxy" in services:  # compose starts its upstreams first (depends_on)
            services = list(SERVICES)
        # Fail early, with one line, when there is no engine or no compose: not after a build.
        self.client  # noqa: B018
        compose_command()
        self.ensure_images()
        self._preflight_ports(services)
        deadline = time.monotonic() + timeout
        self._port_cache.clear()
        # Compose creates the network, volume and containers; we start them. A plain
        # `compose up` would hold the proxy until the engine's own healthchecks (every 2 s)
        # pass; probing from here every 0.1 s keeps the same order and saves seconds.
        self._compose("up", "--no-start", "--no-build", "--remove-orphans", *services)
        upstreams = [s for s in services if s != "faultproxy"]
        self._start_containers(upstreams)
        rows = [self._wait_healthy(s, deadline) for s in upstreams]
        if "faultproxy" in services:
            self._start_containers(["faultproxy"])
            rows.append(self._wait_healthy("faultproxy", deadline))
        return rows

    def _start_containers(self, services: list[str]) -> None:
        """Start (or unpause) the services' containers in parallel."""
        import docker.errors

        containers = self._containers()

        def start(service: str) -> None:
            container = containers[service]
            if container.status == "paused":
                container.unpause()
            elif container.status != "running":
                try:
                    container.start()
                except docker.errors.APIError as exc:
                    text = str(exc.explanation or exc)
                    raise BackendError(self._explain_compose_error("start", text)) from None

        with ThreadPoolExecutor(max_workers=len(services) or 1) as pool:
            for future in [pool.submit(start, s) for s in services]:
                future.result()

    def _wait_healthy(self, service: str, deadline: float) -> ServiceStatus:
        """Probe from the host, through the published ports, until the service answers."""
        last = "no probe yet"
        while True:
            container = self._container(service)
            container.reload()
            if container.status in ("exited", "dead"):
                tail = self._last_log_line(container)
                raise BackendError(
                    f"{service} exited during start: {tail} (full log: `lab logs {service}`)"
                )
            try:
                self._probe(service)
                return ServiceStatus(
                    service,
                    "healthy",
                    self._addresses(service),
                    _healthy_after(container),
                    container.short_id,
                )
            except (HealthProbeError, BackendError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise BackendError(
                    f"{service} did not become healthy in time: {last} (see `lab logs {service}`)"
                )
            time.sleep(0.1)

    def _wait_in_network(self, services: list[str], timeout: float) -> list[ServiceStatus]:
        deadline = time.monotonic() + timeout
        rows = []
        for service in services:
            started = time.monotonic()
            while True:
                try:
                    self._probe(service)
                    rows.append(
                        ServiceStatus(
                            service,
                            "healthy",
                            self._addresses(service),
                            round(time.monotonic() - started, 3),
                        )
                    )
                    break
                except HealthProbeError as exc:
                    if time.monotonic() > deadline:
                        raise BackendError(f"{service} is not healthy: {exc}") from None
                    time.sleep(0.2)
        return rows

    def down(self, volumes: bool = False) -> None:
        if self.in_network:
            raise BackendError("the lab runner cannot stop the stack: run `lab down` on the host")
        args = ["down", "--remove-orphans", "--timeout", "3"]
        if volumes:
            args.append("--volumes")
        # First the runners: compose does not know them, and the network cannot go while a
        # container is still attached to it.
        self.remove_runners()
        self._compose(*args)
        self._port_cache.clear()
        # Whatever compose did not remove (a `run` container left behind, say) goes too.
        for c in self.client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        ):
            c.remove(force=True, v=volumes)

    def runners(self) -> list:
        """The scenario runner containers `lab run` started for this project."""
        return self.client.containers.list(
            all=True, filters={"label": f"{RUNNER_LABEL}={self.project}"}
        )

    def remove_runners(self) -> None:
        for container in self.runners():
            try:
                container.remove(force=True)
            except Exception:  # already gone, which is the point
                pass

    def status(self) -> list[ServiceStatus]:
        if self.in_network:
            return [self._status_in_network(s) for s in SERVICES]
        containers = self._containers()
        rows = []
        for service in SERVICES:
            container = containers.get(service)
            if container is None:
                rows.append(ServiceStatus(service, "stopped", [], None, "no container"))
                continue
            rows.append(self._status_of(service, container))
        return rows

    def _status_of(self, service: str, container) -> ServiceStatus:
        addresses = self._addresses(service)
        if container.status == "paused":
            return ServiceStatus(service, "paused", addresses, None, container.short_id)
        if container.status != "running":
            return ServiceStatus(service, "stopped", addresses, None, container.status)
        if not self._on_network(container):
            return ServiceStatus(service, "partitioned", addresses, None, "off the lab network")
        try:
            t0 = time.monotonic()
            self._probe(service)
            # Like the local backend's "pid N, probe N ms": short enough for 80 columns.
            detail = f"{container.short_id}, probe {(time.monotonic() - t0) * 1000:.0f} ms"
            return ServiceStatus(service, "healthy", addresses, None, detail)
        except HealthProbeError as exc:
            return ServiceStatus(service, "unhealthy", addresses, None, str(exc))

    def _status_in_network(self, service: str) -> ServiceStatus:
        try:
            return ServiceStatus(
                service, "healthy", self._addresses(service), None, self._probe(service)
            )
        except HealthProbeError as exc:
            return ServiceStatus(service, "unhealthy", self._addresses(service), None, str(exc))

    def _probe(self, service: str) -> str:
        details = []
        for ep in ENDPOINTS:
            if ep.service != service:
                continue
            host, port = self.address(ep.name)
            cafile = self.ca_path() if ep.kind == "tls" else None
            details.append(probe_endpoint(ep, host, port, cafile, token=self.token))
        return "; ".join(details)

    # -- addressing ---------------------------------------------------------------------------
    def address(self, endpoint: str) -> tuple[str, int]:
        if endpoint not in self.host_ports:
            raise BackendError(f"unknown endpoint {endpoint!r}")
        if self.in_network:
            return self._service_ip(_owner(endpoint)), _in_network_port(endpoint)
        return "127.0.0.1", self._published_port(endpoint)

    def _service_ip(self, service: str) -> str:
        """A service's address on the lab network, looked up once.

        The engine's DNS (127.0.0.11) answers in 2 ms to 250 ms on a loaded machine, and a
        client connecting by name pays that on every connection, inside the times the
        scenarios measure. Nothing moves a container while a runner lives (service actions
        run on the host, between runners), so the first answer stays right.
        """
        if service not in self._ips:
            try:
                self._ips[service] = socket.gethostbyname(service)
            except OSError:
                return service  # not resolvable now: the probe using it says so
        return self._ips[service]

    def _published_port(self, endpoint: str) -> int:
        """The host port the engine really published, else the one we asked compose for."""
        key = f"{_in_network_port(endpoint)}/{_proto(endpoint)}"
        for binding in self._port_bindings(_owner(endpoint)).get(key) or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        return self.host_ports[endpoint]

    def _port_bindings(self, service: str) -> dict:
        """A container's published ports, cached briefly: scenarios resolve names per step."""
        cached = self._port_cache.get(service)
        if cached and time.monotonic() - cached[0] < 5.0:
            return cached[1]
        try:
            container = self._containers().get(service)
        except BackendError:
            container = None
        ports = (container.attrs["NetworkSettings"].get("Ports") or {}) if container else {}
        if ports:  # a partitioned or stopped container publishes nothing: do not remember that
            self._port_cache[service] = (time.monotonic(), ports)
        return ports

    def _addresses(self, service: str) -> list[str]:
        names = [e.name for e in ENDPOINTS if e.service == service]
        if service == "faultproxy":
            names += [e.name + VIA_PROXY for e in ENDPOINTS if e.proxied]
        out = []
        for name in names:
            if self.in_network:  # by name: what a reader of `lab status` recognises
                host, port = _owner(name), _in_network_port(name)
            else:
                host, port = "127.0.0.1", self.host_ports[name]
            out.append(f"{host}:{port}/{_proto(name)}")
        return out

    def ca_path(self) -> str:
        """The lab CA, copied out of the state volume into this machine's state folder."""
        from services.common.lab_ca import ca_files

        if self.in_network:
            return os.environ.get("WIRELAB_DOCKER_CA") or str(ca_files(CONTAINER_STATE_DIR).ca_cert)
        import docker.errors

        inside = str(ca_files(CONTAINER_STATE_DIR).ca_cert)
        container = self._container("rawhttp")
        try:
            stream, _ = container.get_archive(inside)
        except docker.errors.NotFound:
            raise BackendError(
                f"the lab CA {inside} is not in the rawhttp container yet: wait for "
                "`lab up --backend docker` to finish"
            ) from None
        data = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        member = data.extractfile(data.getmembers()[0])
        target = self.state / "docker" / self.project / "ca.pem"
        target.parent.mkdir(parents=True, exist_ok=True)
        pem = member.read() if member else b""
        if not target.exists() or target.read_bytes() != pem:
            target.write_bytes(pem)
        return str(target)

    # -- service actions (the SDK) --------------------------------------------------------------
    def pause(self, service: str) -> None:
        container = self._container(service)
        if container.status != "paused":
            container.pause()

    def resume(self, service: str) -> None:
        container = self._container(service)
        if container.status == "paused":
            container.unpause()

    def stop(self, service: str) -> None:
        self._container(service).stop(timeout=3)

    def start(self, service: str, timeout: float = 20.0) -> None:
        """Start a stopped container and wait until it answers, as the local backend does."""
        container = self._container(service)
        if container.status == "paused":
            container.unpause()
        elif container.status != "running":
            container.start()
        self._wait_healthy(service, time.monotonic() + timeout)

    def partition(self, service: str) -> None:
        """Take the container off the lab network: peers and published ports lose it."""
        container = self._container(service)
        if self._on_network(container):
            self._network().disconnect(container)

    def heal(self, service: str, timeout: float = 20.0) -> None:
        """Put it back, with its service name as DNS alias as compose attached it; wait for it."""
        container = self._container(service)
        if not self._on_network(container):
            self._network().connect(container, aliases=[service])
        self._wait_healthy(service, time.monotonic() + timeout)

    # -- logs ------------------------------------------------------------------------------------
    def logs(self, service: str, follow: bool = False, tail: int = 200) -> Iterator[str]:
        container = self._container(service)
        if not follow:
            text = container.logs(tail=tail).decode("utf-8", "replace")
            yield from text.splitlines()
            return
        pending = b""
        for chunk in container.logs(stream=True, follow=True, tail=tail):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if pending:
            yield pending.decode("utf-8", "replace")

    def _last_log_line(self, container) -> str:
        lines = [ln for ln in container.logs(tail=20).decode("utf-8", "replace").splitlines() if ln]
        return lines[-1].strip() if lines else "no output"


def _parse_time(raw: str) -> float:
    """Epoch seconds from the engine's RFC 3339 stamps (nanoseconds, ``Z`` or an offset)."""
    # e.g. 2026-11-21T04:41:02.123456789Z or 2026-11-21T04:41:02.1234+00:00
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", raw)
    if not m:
        raise BackendError(f"unexpected timestamp from the engine: {raw!r}")
    tz = "+00:00" if m[3] in (None, "Z") else m[3]
    return datetime.fromisoformat(m[1] + tz).timestamp() + float("0." + (m[2] or "0")[:6])


def _started_at(container) -> float:
    return _parse_time(container.attrs["State"]["StartedAt"])


def _healthy_after(container) -> float:
    """Seconds from the container's start to its first passing probe.

    Compose holds `up` until the upstreams' own healthchecks pass, so the engine's health
    log often saw health before our probe from the host ran; take the earlier of the two.
    """
    started = _started_at(container)
    seen = time.time()
    for entry in (container.attrs["State"].get("Health") or {}).get("Log") or []:
        if entry.get("ExitCode") == 0 and entry.get("End"):
            seen = min(seen, _parse_time(entry["End"]))
    return round(max(seen - started, 0.0), 3)
