"""Start, stop and probe a class's labs on this host (the local backend).

Each lab is brought up by its own `lab up` process, with the lab's environment (state
folder, port offset, token): exactly what the student's own `lab` commands will see, so
the lab records itself in its own state folder as any lab does. Status and down run in
this process, a thread per lab, each with that lab's own backend object and token.
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
from lab.backends import BackendError, ServiceStatus
from lab.backends.local import LocalBackend, port_free
from lab.classroom.registry import TOKEN_ENV, ClassError, ClassLab
from services.common.paths import REPO_ROOT
from services.ports import SERVICES

BACKENDS = ("local", "docker")


def check_backend(name: str) -> None:
    if name == "docker":
        raise ClassError(
            "class mode on the docker backend is not built yet: use --backend local "
            "(one process per service, the same isolation by ports, folders and tokens)"
        )
    if name not in BACKENDS:
        raise ClassError(f"unknown backend {name!r} for a class: choose local")


def lab_env(lab: ClassLab) -> dict[str, str]:
    """This process's environment with the lab's settings on top (for a `lab ...` child)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    keep = ("WIRELAB_SCENARIOS", "WIRELAB_EXERCISES_DIR")  # what to run, not which lab
    env.update({k: os.environ[k] for k in keep if k in os.environ})
    env.update(lab.env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def lab_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab.cli", *args]


def backend_for(lab: ClassLab) -> LocalBackend:
    backend = LocalBackend(state_dir=lab.state_dir, port_offset=lab.offset, host=lab.host)
    backend.env[TOKEN_ENV] = lab.token
    return backend


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


def up_one(lab: ClassLab, timeout: float) -> LabResult:
    Path(lab.state_dir).mkdir(parents=True, exist_ok=True)
    log = Path(lab.state_dir) / "class-up.log"
    t0 = time.monotonic()
    with open(log, "wb") as fh:
        proc = subprocess.run(
            lab_command("up", "--backend", "local", "--port-offset", str(lab.offset),
                        "--timeout", str(timeout)),
            env=lab_env(lab), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT), timeout=timeout + 30,
        )  # fmt: skip
    seconds = time.monotonic() - t0
    if proc.returncode == 0:
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


def down_all(labs: list[ClassLab], jobs: int = 8) -> None:
    def one(lab: ClassLab) -> None:
        backend_for(lab).down()
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
