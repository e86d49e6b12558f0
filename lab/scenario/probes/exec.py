"""``exec``: run a program (a student's client, a tool) and capture what it did.

Targets are resolved by the backend and handed over as environment variables (and
``${addr:...}`` placeholders in the arguments), so the same check runs on every backend:
``targets: {TARGET: restapi.via_proxy}`` sets ``TARGET=127.0.0.1:18000``,
``TARGET_HOST``, ``TARGET_PORT`` and ``TARGET_URL``. The lab's port variables
(``WIRELAB_<ENDPOINT>_PORT``) are set too, so a program using ``services.ports`` agrees.
``background: true`` leaves the program running (a student's server) until the rollback
stops it; ``ready_port`` waits until it listens there (within ``timeout``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.scenario import schema as s
from lab.scenario.errors import ProbeError
from lab.scenario.probes.base import COMMON_OUTPUTS, ProbeContext, ok_output, text_of
from services.ports import all_endpoint_names, env_var_for

SCHEMA = s.Fields(
    {
        "run": s.AnyOf((s.Str(), s.ListOf(s.AnyOf((s.Str(), s.Num())), min_items=1))),
        "timeout": s.Num(0.01, 3600),
        "env": s.Fields({}, extra=s.AnyValue()),
        "targets": s.Fields({}, extra=s.Str()),
        "stdin": s.Str(),
        "cwd": s.Str(),
        "background": s.Bool(),
        "ready_port": s.Int(1, 65535),
    },
    required=("run", "timeout"),
    expected="an exec probe: {run: [program, args...], timeout: seconds, targets: {...}}",
)

OUTPUTS = {
    **COMMON_OUTPUTS,
    "exit_code": "the program's exit status (negative: killed by that signal)",
    "stdout": "standard output as text",
    "stderr": "standard error as text",
    "stdout_lines": "standard output split into lines",
    "json": "standard output parsed as JSON, when it is JSON",
    "timed_out": "whether the program ran past its timeout and was killed",
    "pid": "background: the program's process id",
}


def target_env(ctx: ProbeContext, targets: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for endpoint in all_endpoint_names():
        try:
            _, port = ctx.resolve(endpoint)
        except Exception:
            continue  # an endpoint this backend does not expose
        env[env_var_for(endpoint)] = str(port)
    for var, target in targets.items():
        host, port = ctx.resolve(target)
        env[var] = f"{host}:{port}"
        env[f"{var}_HOST"] = host
        env[f"{var}_PORT"] = str(port)
        env[f"{var}_URL"] = f"http://{host}:{port}"
    return env


def run(spec: dict, ctx: ProbeContext) -> dict:
    argv = (
        shlex.split(spec["run"]) if isinstance(spec["run"], str) else [str(a) for a in spec["run"]]
    )
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # the lab's own interpreter, with its packages
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **target_env(ctx, spec.get("targets") or {})}
    if ctx.ca_path is not None:
        try:
            env["WIRELAB_CA_FILE"] = ctx.ca_path()
        except Exception:
            pass  # no CA yet: only the TLS exercise needs it, and it will say so
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    cwd = Path(spec.get("cwd") or ctx.scenario_dir)
    start = time.monotonic()
    out: dict[str, Any] = {"exit_code": None, "stdout": "", "stderr": "", "timed_out": False}
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except OSError as exc:
        return {
            **out,
            "error": "error",
            "error_detail": f"cannot run {argv[0]!r}: {exc.strerror}",
            "elapsed": 0.0,
        }
    if spec.get("background"):
        return _background(proc, argv, spec, ctx, start)
    stdin: bytes | None = (spec.get("stdin") or "").encode()
    deadline = start + float(spec["timeout"])
    try:
        while True:
            # Short waits, so a Ctrl-C of the run (ctx.cancel) kills the program at once
            # even though this probe runs in a worker thread.
            try:
                stdout, stderr = proc.communicate(input=stdin, timeout=0.1)
                out.update(ok_output())
                break
            except subprocess.TimeoutExpired:
                stdin = None  # already written
                if ctx.cancel.is_set():
                    raise ProbeError("error", "cancelled") from None
                if time.monotonic() >= deadline:
                    _kill_group(proc)
                    stdout, stderr = proc.communicate()
                    out.update(
                        timed_out=True,
                        error="exec_timeout",
                        error_detail=f"killed after {spec['timeout']:g}s",
                    )
                    break
    except BaseException:
        _kill_group(proc)  # never leave a student's program running
        proc.communicate()
        raise
    out["elapsed"] = time.monotonic() - start
    out["exit_code"] = proc.returncode
    out["stdout"] = text_of(stdout)
    out["stderr"] = text_of(stderr)
    out["stdout_lines"] = out["stdout"].splitlines()
    try:
        out["json"] = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        pass
    return out


def _background(
    proc: subprocess.Popen, argv: list[str], spec: dict, ctx: ProbeContext, start: float
) -> dict:
    """Leave the program running (a student's server, say) until the rollback stops it.

    With ``ready_port``, wait (up to ``timeout``) until it accepts TCP connections there.
    """
    what = f"stop background program {Path(argv[0]).name} (pid {proc.pid})"

    def stop() -> None:
        if proc.poll() is None:
            _kill_group(proc)
        proc.communicate(timeout=5)

    ctx.rollback.register(("program", proc.pid), what, stop)
    out: dict[str, Any] = {"pid": proc.pid, "exit_code": None, "timed_out": False}
    port = spec.get("ready_port")
    deadline = start + float(spec["timeout"])
    while port is not None:
        if proc.poll() is not None:
            _, stderr = proc.communicate()
            detail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            return {
                **out,
                "exit_code": proc.returncode,
                "stderr": text_of(stderr),
                "error": "error",
                "error_detail": f"exited with {proc.returncode} before listening on {port}: "
                + " | ".join(detail),
                "elapsed": time.monotonic() - start,
            }
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() >= deadline:
                return {
                    **out,
                    "timed_out": True,
                    "error": "exec_timeout",
                    "error_detail": f"nothing listened on port {port} within {spec['timeout']:g}s",
                    "elapsed": time.monotonic() - start,
                }
            ctx.sleep(0.05)
    return ok_output(**out, elapsed=time.monotonic() - start)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
