"""``exec``: run a program (a student's client, a tool) and capture what it did.

Targets are resolved by the backend and handed over as environment variables (and
``${addr:...}`` placeholders in the arguments), so the same check runs on every backend:
``targets: {TARGET: restapi.via_proxy}`` sets ``TARGET=127.0.0.1:18000``,
``TARGET_HOST``, ``TARGET_PORT`` and ``TARGET_URL``. The lab's port variables
(``WIRELAB_<ENDPOINT>_PORT``) are set too, so a program using ``services.ports`` agrees.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.scenario import schema as s
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
    try:
        stdout, stderr = proc.communicate(
            input=(spec.get("stdin") or "").encode(), timeout=spec["timeout"]
        )
        out.update(ok_output())
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        out.update(
            timed_out=True, error="exec_timeout", error_detail=f"killed after {spec['timeout']:g}s"
        )
    except BaseException:
        _kill_group(proc)  # Ctrl-C: never leave a student's program running
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


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
