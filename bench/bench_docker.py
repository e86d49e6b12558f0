"""The docker backend: time to healthy with a warm cache, and a rebuild after a code change.

Peers, measured in the same run:
- up to healthy: the local backend bringing up the same services;
- rebuild after a one-line change: a rebuild of the same context with nothing changed
  (pure cache hits), so the ratio shows what the changed layer costs;
- image size: the base image it is built on;
- `lab run all` (full run, or alone with ``python -m bench.bench_docker --run-all``): the
  same scenarios on the local backend; target: docker within 1.3x of local. On docker the
  run includes starting the runner container in the lab network (docs/docker.md).

The rebuild is measured in a copy of the build context, so the repository is never
touched. Every stack gets its own Compose project and free ports, and is removed after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import row
from lab.backends.docker_backend import DockerBackend, engine_available, isolated_ports
from lab.backends.local import LocalBackend
from lab.images import APP_IMAGE, build_app_image, docker_client, resolve_base_image
from services.ports import env_var_for

REPO = Path(__file__).resolve().parents[1]
CONTEXT_PARTS = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "docker",
    "services",
    "lab",
    "scenarios",
    "exercises",
)
CHANGED_FILE = Path("services") / "udpstream" / "__init__.py"


def _row(name: str, figure: float, unit: str, peer: str, peer_figure: float) -> dict:
    return row(name, figure, unit, peer, peer_figure, digits=2)


def time_up_docker(state: Path) -> float:
    backend = DockerBackend(
        ports=isolated_ports(), project=f"wirelab-bench-{os.getpid()}", state_dir=state
    )
    backend.ensure_images()  # warm the cache first: the figure is the warm path
    try:
        started = time.monotonic()
        backend.up(timeout=120)
        return time.monotonic() - started
    finally:
        backend.down(volumes=True)


def time_up_local(state: Path) -> float:
    backend = LocalBackend(state_dir=state, ports=isolated_ports())
    try:
        started = time.monotonic()
        backend.up(timeout=120)
        return time.monotonic() - started
    finally:
        backend.down()


def time_rebuilds(client, base: str) -> tuple[float, float]:
    """(rebuild after a one-line change, rebuild with nothing changed), in a context copy."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-ctx-") as tmp:
        ctx = Path(tmp)
        for part in CONTEXT_PARTS:
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, ctx / part, ignore=ignore)
            elif src.exists():
                shutil.copy2(src, ctx / part)
        tag = f"wirelab-bench:{os.getpid()}"
        try:
            build_app_image(client, base, tag=tag, repo_root=ctx)  # warm: the copy's layers
            unchanged = build_app_image(client, base, tag=tag, repo_root=ctx)
            with open(ctx / CHANGED_FILE, "a") as fh:
                fh.write(f"# bench: a one-line change {time.time()}\n")
            changed = build_app_image(client, base, tag=tag, repo_root=ctx)
        finally:
            client.images.remove(tag, force=True, noprune=False)
    return changed, unchanged


RUN_ALL_TARGET = 1.3  # docker's `lab run all` within 1.3x of local's (issue 13)


def scenarios_both_run() -> list[str]:
    """The library less what the local backend cannot run (``partition``): the same work
    on both sides, so the ratio compares backends, not scenario counts."""
    from lab.backends.local import LocalBackend
    from lab.scenario.library import load_all

    local = LocalBackend.capabilities
    return [sc.name for sc in load_all().scenarios if set(sc.needs) <= local]


def time_run_all(
    backend: str, state: Path, names: list[str] | None = None
) -> tuple[float, dict[str, int]]:
    """Wall time of `lab run` over ``names`` (default: all), the lab already up and the image
    warm, and its result counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    env.update({env_var_for(n): str(p) for n, p in isolated_ports().items()})
    env.update(
        WIRELAB_STATE_DIR=str(state),
        WIRELAB_BACKEND=backend,
        WIRELAB_COMPOSE_PROJECT=f"wirelab-bench-run-{os.getpid()}",
    )
    state.mkdir(parents=True, exist_ok=True)
    lab = [sys.executable, "-m", "lab.cli"]
    up = subprocess.run(
        [*lab, "up", "--backend", backend], env=env, cwd=REPO, capture_output=True, text=True
    )
    try:
        if up.returncode != 0:
            raise RuntimeError(f"lab up --backend {backend} failed: {up.stderr[-500:]}")
        journal = state / "run.json"
        started = time.monotonic()
        subprocess.run(
            [*lab, "run", *(names or ["all"]), "--json", str(journal)],
            env=env,
            cwd=REPO,
            capture_output=True,
        )
        elapsed = time.monotonic() - started
        counts = json.loads(journal.read_text())["counts"] if journal.is_file() else {}
        return elapsed, counts
    finally:
        down = [*lab, "down"] + (["--volumes"] if backend == "docker" else [])
        subprocess.run(down, env=env, cwd=REPO, capture_output=True)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no journal"


def run_all_rows(state: Path) -> list[dict]:
    """`lab run` on docker (runner container + host) against local, same run: the scenarios
    both backends run, then `all` on docker (which also runs ``partition``)."""
    names = scenarios_both_run()
    docker_run, docker_counts = time_run_all("docker", state / "run-docker", names)
    local_run, local_counts = time_run_all("local", state / "run-local", names)
    row = _row(
        f"lab run, the {len(names)} scenarios both run "
        f"(docker: {_counts(docker_counts)}; local: {_counts(local_counts)})",
        docker_run,
        "s",
        "local backend",
        local_run,
    )
    row["target"] = f"<= {RUN_ALL_TARGET}"
    whole, whole_counts = time_run_all("docker", state / "run-docker-all")
    return [row, _row(f"lab run all on docker ({_counts(whole_counts)})", whole, "s", "", 0)]


def run(quick: bool = False) -> list[dict]:
    if not engine_available():
        print("bench_docker: no Docker engine answers; nothing to measure", file=sys.stderr)
        return []
    client = docker_client()
    base = resolve_base_image(client)
    rows = []
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-state-") as tmp:
        state = Path(tmp)
        docker_up = time_up_docker(state / "docker")
        local_up = time_up_local(state / "local")
        rows.append(
            _row(
                "up to all healthy, warm cache (docker)", docker_up, "s", "local backend", local_up
            )
        )
        changed, unchanged = time_rebuilds(client, base)
        rows.append(
            _row(
                "image rebuild after a one-line service change",
                changed,
                "s",
                "rebuild, nothing changed",
                unchanged,
            )
        )
        size = client.images.get(APP_IMAGE).attrs["Size"] / 1e6
        base_size = client.images.get(base).attrs["Size"] / 1e6
        rows.append(_row(f"image size ({APP_IMAGE})", size, "MB", f"base {base}", base_size))
        if not quick:
            rows += run_all_rows(state)
    return rows


if __name__ == "__main__":
    # `python -m bench.bench_docker --run-all`: only the `lab run all` comparison.
    if "--run-all" in sys.argv:
        if not engine_available():
            sys.exit("bench_docker: no Docker engine answers; nothing to measure")
        with tempfile.TemporaryDirectory(prefix="wirelab-bench-state-") as tmp:
            rows = run_all_rows(Path(tmp))
    else:
        rows = run(quick="--quick" in sys.argv)
    for row in rows:
        print(row)
        if "target" in row:
            ok = row["ratio"] is not None and row["ratio"] <= RUN_ALL_TARGET
            print(
                f"lab run (the same scenarios): docker {row['figure']} s, local {row['peer_figure']} s, "
                f"ratio {row['ratio']} (target {row['target']}: {'met' if ok else 'NOT met'})"
            )
