"""The scenario runner container: `lab run` on the docker backend, inside the lab network.

From the host, published ports go through docker-proxy (refused and RST become
accept-then-EOF, UDP bursts get dropped), so the host cannot see raw transport. A
container on the ``<project>_lab`` network reaches the services by their DNS names with
nothing in between. `lab run` therefore starts one such container (the services' own
image) for the scenarios that need no service action, streams its progress to the
terminal, reads its JSON journal back, and runs the rest (pause, stop, partition) on the
host, where the engine is. `lab/cli_scenarios.py` merges the two into one report.

The container gets no Docker socket (a lab container that drives the host's engine would
be root on a workshop laptop), no capabilities, a read-only root file system, and runs as
the caller's uid:gid so the journal it writes into a bind-mounted temporary folder is the
caller's. Scenario folders are bind-mounted read-only at their host paths, so paths in
the journal and in ``--set`` values mean the same thing on both sides.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lab.backends.base import BackendError
from lab.backends.docker_backend import (
    ACTIONS,
    RAW_TRANSPORT,
    RUNNER_LABEL,
    TOKEN_ENV,
    DockerBackend,
)

WHERE_HOST = "host"
WHERE_NETWORK = "lab network"
CA_INSIDE = "/run/wirelab/ca.pem"
OUT_INSIDE = "/run/wirelab/out"
JOURNAL = "journal.json"
GATE = "go"  # the runner starts its scenarios when this file appears
# Folders of the image a scenario folder must not be mounted over.
_IMAGE_PATHS = ("/app", "/opt", "/usr", "/bin", "/sbin", "/lib", "/etc", "/run", "/proc", "/sys")
_INTERRUPT_GRACE = 20.0  # seconds the runner gets to roll back after Ctrl-C


def placement(needs: Iterable[str]) -> str:
    """Where a scenario's probes run on the docker backend.

    Service actions need the engine, which only the host has; everything else runs in
    the lab network, where clients see the services as they are (no docker-proxy).
    """
    return WHERE_HOST if set(needs) & ACTIONS else WHERE_NETWORK


def _mount_point(folder: Path, taken: dict[str, str]) -> str:
    """Where a host folder appears in the container: the same path, unless that would
    cover part of the image; then under /scenarios/N."""
    text = str(folder)
    if any(text == p or text.startswith(p + "/") for p in _IMAGE_PATHS) or text == "/":
        return f"/scenarios/{len(taken)}"
    return text


@dataclass
class RunnerPlan:
    """What the runner container runs and how it sees the host's files."""

    files: list[Path]  # scenario files on the host, in run order
    mounts: dict[str, str] = field(default_factory=dict)  # host folder -> container folder

    def __post_init__(self) -> None:
        for file in self.files:
            folder = str(file.resolve().parent)
            if folder not in self.mounts:
                self.mounts[folder] = _mount_point(Path(folder), self.mounts)

    def inside(self, file: Path) -> str:
        resolved = file.resolve()
        return str(PurePosixPath(self.mounts[str(resolved.parent)]) / resolved.name)

    def to_host(self, inside: str) -> str:
        for host, container in self.mounts.items():
            if inside.startswith(container.rstrip("/") + "/"):
                return host + inside[len(container.rstrip("/")) :]
        return inside


@dataclass
class RunnerOutcome:
    journal: dict | None  # the runner's JSON journal, if it wrote one
    exit_code: int
    interrupted: bool
    log_tail: str  # the last lines of its output, for an error message


class ScenarioRunnerContainer:
    """One `lab run` inside the lab network, for one host `lab run`."""

    def __init__(self, backend: DockerBackend) -> None:
        if backend.in_network:
            raise BackendError("the runner container is started from the host, not from inside")
        self.backend = backend
        self.client = backend.client
        self.container = None

    def image(self) -> str:
        """The image the running services use, so both sides run the same code."""
        containers = self.backend._containers()
        running = [c for c in containers.values() if c.status in ("running", "paused")]
        if not running:
            raise BackendError("no service container is running: run `lab up --backend docker`")
        return running[0].image.id

    def command(self, plan: RunnerPlan, args: list[str]) -> list[str]:
        return [
            "lab",
            "run",
            *[plan.inside(f) for f in plan.files],
            "--json",
            f"{OUT_INSIDE}/{JOURNAL}",
            "--no-report",
            *args,
        ]

    def start(self, plan: RunnerPlan, args: list[str], out_dir: Path, columns: int, colour: bool):
        import docker.errors

        self.backend.remove_runners()  # one left by a `lab run` that was killed outright
        volumes = {host: {"bind": inside, "mode": "ro"} for host, inside in plan.mounts.items()}
        volumes[self.backend.ca_path()] = {"bind": CA_INSIDE, "mode": "ro"}
        volumes[str(out_dir)] = {"bind": OUT_INSIDE, "mode": "rw"}
        environment = {
            "WIRELAB_BACKEND": "docker",
            "WIRELAB_DOCKER_IN_NETWORK": "1",
            "WIRELAB_COMPOSE_PROJECT": self.backend.project,
            "WIRELAB_STATE_DIR": "/tmp/wirelab-runner",
            "WIRELAB_DOCKER_CA": CA_INSIDE,
            "HOME": "/tmp",
            "COLUMNS": str(columns),
            "PYTHONUNBUFFERED": "1",
        }
        if self.backend.token:  # the lab's fault proxy wants it (a class lab has its own)
            environment[TOKEN_ENV] = self.backend.token
        if colour:
            environment["FORCE_COLOR"] = "1"  # rich then draws as on the host's terminal
        try:
            self.container = self.client.containers.run(
                self.image(),
                self.command(plan, args),
                detach=True,
                name=self.name(),
                labels={RUNNER_LABEL: self.backend.project},
                network=self.backend.network_name(),
                user=f"{os.getuid()}:{os.getgid()}",
                environment=environment,
                volumes=volumes,
                working_dir="/app",
                init=True,  # SIGINT reaches `lab run`, which rolls back before it exits
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                read_only=True,
                tmpfs={"/tmp": "rw,nosuid,nodev"},
            )
        except docker.errors.APIError as exc:
            raise BackendError(
                f"the scenario runner container did not start: {exc.explanation or exc}"
            ) from None

    def interrupt(self, write: Callable[[bytes], None]) -> None:
        """Ctrl-C: let the runner roll back (it got SIGINT), then make sure it is gone."""
        if self.container is None:
            return
        try:
            self.container.kill(signal="SIGINT")
        except Exception:
            return  # it had already exited
        deadline = time.monotonic() + _INTERRUPT_GRACE
        try:
            while time.monotonic() < deadline:
                self.container.reload()
                if self.container.status not in ("running", "created"):
                    break
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: no more waiting
        tail = self.container.logs(since=int(time.time()) - 30, tail=20)
        write(tail[-2000:] if tail else b"")

    def name(self) -> str:
        return f"{self.backend.project}-runner-{os.getpid()}"

    def remove(self) -> None:
        """Remove this run's container, even one whose creation Ctrl-C cut short."""
        try:
            container = self.container or self.client.containers.get(self.name())
            container.remove(force=True)
        except Exception:  # never created, or already gone
            pass
        self.container = None


def _write_stdout(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


class RunnerSession:
    """A runner container started early and held at the gate, then released.

    Starting a container and a Python in it takes seconds on a loaded machine. `lab run`
    starts it first, runs the host's scenarios meanwhile (the runner waits for a file in
    its output folder before it even checks the lab: a host scenario may have paused a
    service), then opens the gate and streams the runner's progress.
    """

    def __init__(
        self,
        backend: DockerBackend,
        plan: RunnerPlan,
        args: list[str],
        columns: int = 100,
        colour: bool = False,
        write: Callable[[bytes], None] = _write_stdout,
    ) -> None:
        self.runner = ScenarioRunnerContainer(backend)
        self.plan, self.write = plan, write
        # The runner runs as the caller's uid: this folder's 0700 is enough.
        self.out = Path(tempfile.mkdtemp(prefix="wirelab-runner-"))
        gate = ["--wait-for", f"{OUT_INSIDE}/{GATE}"]
        self.runner.start(plan, [*gate, *args], self.out, columns, colour)

    def run(self) -> RunnerOutcome:
        """Open the gate and stream the runner's output until it exits; Ctrl-C rolls back.

        After Ctrl-C (or SIGTERM, which `lab run` turns into one) the runner gets SIGINT,
        rolls back, writes its journal and exits; the outcome says ``interrupted``.
        """
        runner = self.runner
        interrupted = False
        (self.out / GATE).touch()
        try:
            for chunk in runner.container.logs(stream=True, follow=True):
                self.write(chunk)
        except KeyboardInterrupt:
            interrupted = True
            runner.interrupt(self.write)
        try:
            code = int(runner.container.wait(timeout=30).get("StatusCode", 1))
        except Exception:
            code = 130 if interrupted else 1
        tail = runner.container.logs(tail=15).decode("utf-8", "replace")
        runner.remove()
        journal = None
        file = self.out / JOURNAL
        if file.is_file():
            try:
                journal = json.loads(file.read_text(encoding="utf-8"))
            except ValueError:
                journal = None
        if journal is not None:
            for entry in journal.get("scenarios", []):
                entry["file"] = self.plan.to_host(str(entry.get("file", "")))
        return RunnerOutcome(journal, code, interrupted or code == 130, tail)

    def close(self) -> None:
        """Remove the container (if still there) and the output folder; always safe."""
        self.runner.remove()
        shutil.rmtree(self.out, ignore_errors=True)


__all__ = [
    "RAW_TRANSPORT",
    "RUNNER_LABEL",
    "WHERE_HOST",
    "WHERE_NETWORK",
    "RunnerOutcome",
    "RunnerPlan",
    "placement",
    "RunnerSession",
]
