"""Start, stop and probe a class's labs on this host (the local or the docker backend).

Each lab is brought up by its own `lab up` process, with the lab's environment (state
folder, port offset, token, and on docker its compose project): exactly what the
student's own `lab` commands will see, so the lab records itself in its own state folder
as any lab does. Status and down run in this process, a thread per lab, each with that
lab's own backend object and token.

On docker each lab is a compose project of its own (``wirelab-cls-<name>``): its own
network, its own state volume (restapi's data, the CA), its own containers, published
on the same port plan as local labs. The image is made once, before any lab starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lab import state_record
from lab.backends import Backend, BackendError, ServiceStatus
from lab.backends.local import LocalBackend, port_free
from lab.classroom.registry import TOKEN_ENV, ClassError, ClassLab
from services.common.paths import REPO_ROOT
from services.ports import SERVICES

BACKENDS = ("local", "docker")


def check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise ClassError(f"unknown backend {name!r} for a class: choose local or docker")
    if name == "docker":
        from lab.backends.docker_backend import compose_command, engine_available

        if not engine_available():
            raise ClassError(
                "no Docker engine answers: start it (sudo systemctl start docker) or run the "
                "class with --backend local"
            )
        try:
            compose_command()
        except BackendError as exc:
            raise ClassError(str(exc)) from None


def lab_env(lab: ClassLab) -> dict[str, str]:
    """This process's environment with the lab's settings on top (for a `lab ...` child)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    # What to run and with which image, not which lab.
    keep = ("WIRELAB_SCENARIOS", "WIRELAB_EXERCISES_DIR", "WIRELAB_IMAGE", "WIRELAB_BASE_IMAGE")
    env.update({k: os.environ[k] for k in keep if k in os.environ})
    env.update(lab.env())
    if lab.backend == "docker":  # prepare() made it: each `lab up` uses it as it is
        from lab.images import APP_IMAGE

        env.setdefault("WIRELAB_IMAGE", APP_IMAGE)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def lab_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab.cli", *args]


def backend_for(lab: ClassLab) -> Backend:
    if lab.backend == "docker":
        from lab.backends.docker_backend import DockerBackend

        return DockerBackend(
            port_offset=lab.offset, project=lab.project, state_dir=lab.state_dir, token=lab.token
        )
    backend = LocalBackend(state_dir=lab.state_dir, port_offset=lab.offset, host=lab.host)
    backend.env[TOKEN_ENV] = lab.token
    return backend


def prepare(labs: list[ClassLab]) -> None:
    """What every lab needs before any starts: on docker, the image (built once, not by
    N `lab up` processes at once)."""
    docker_labs = [lab for lab in labs if lab.backend == "docker"]
    if docker_labs:
        backend_for(docker_labs[0]).ensure_images()


@dataclass
class LabResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


def busy_ports(lab: ClassLab) -> list[str]:
    """Ports of this lab that something else holds now (nothing of the lab is running)."""
    from services.ports import BY_NAME, VIA_PROXY

    out = []
    for name, port in lab.ports().items():
        proto = BY_NAME[name.removesuffix(VIA_PROXY)].proto
        if not port_free(lab.host, port, proto):
            out.append(f"{name} {port}/{proto}")
    return out


def up_one(lab: ClassLab, timeout: float, extra_env: dict[str, str] | None = None) -> LabResult:
    Path(lab.state_dir).mkdir(parents=True, exist_ok=True)
    log = Path(lab.state_dir) / "class-up.log"
    t0 = time.monotonic()
    with open(log, "wb") as fh:
        proc = subprocess.run(
            lab_command("up", "--backend", lab.backend, "--port-offset", str(lab.offset),
                        "--timeout", str(timeout)),
            env=lab_env(lab) | (extra_env or {}), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT), timeout=timeout + 30,
        )  # fmt: skip
    seconds = time.monotonic() - t0
    if proc.returncode == 0:
        if lab.backend == "docker":  # the CA out of the lab's volume, where the card says
            backend_for(lab).ca_path()
        return LabResult(lab.name, True, seconds)
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    detail = " ".join(ln.strip() for ln in lines[-3:]) or f"exit {proc.returncode}"
    return LabResult(lab.name, False, seconds, f"{detail} (log: {log})")


def up_all(
    labs: list[ClassLab],
    jobs: int = 4,
    timeout: float = 120.0,
    on_result: Callable[[LabResult], None] | None = None,
) -> list[LabResult]:
    """Start every lab, ``jobs`` at a time; a lab that fails does not stop the others."""

    def one(lab: ClassLab) -> LabResult:
        try:
            result = up_one(lab, timeout)
        except subprocess.TimeoutExpired:
            result = LabResult(lab.name, False, timeout, "`lab up` did not finish in time")
        if on_result is not None:
            on_result(result)
        return result

    prepare(labs)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, labs))


def status_all(labs: list[ClassLab], jobs: int = 8) -> dict[str, list[ServiceStatus]]:
    def one(lab: ClassLab) -> list[ServiceStatus]:
        try:
            return backend_for(lab).status()
        except BackendError as exc:
            return [ServiceStatus(s, "error", [], detail=str(exc)) for s in SERVICES]

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(zip((lab.name for lab in labs), pool.map(one, labs), strict=True))


def down_all(labs: list[ClassLab], jobs: int = 4, purge: bool = False) -> None:
    """Stop every lab; with ``purge`` a docker lab's state volume (data, CA) goes too."""

    def one(lab: ClassLab) -> None:
        backend = backend_for(lab)
        if isinstance(backend, LocalBackend):
            backend.down()
        else:
            backend.down(volumes=purge)
        state_record.forget(Path(lab.state_dir))  # as `lab down` does: the lab is gone

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, labs))


def lab_pids(lab: ClassLab) -> dict[str, int]:
    """The running process of each of the lab's services (for the bench's /proc reads)."""
    backend = backend_for(lab)
    pids = {}
    for service in SERVICES:
        pid = backend._running_pid(service)
        if pid is not None:
            pids[service] = pid
    return pids
