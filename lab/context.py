"""Which lab a command talks to: the one `lab up` recorded in the state folder.

`lab up` records the backend, the port offset and every port (lab/state_record.py); later
commands, from any shell, rebuild the same backend from that record, and refuse
(``LabMismatch``) when this shell's settings point at another lab. With nothing recorded,
$WIRELAB_BACKEND or the local backend is assumed. ``shared_backend()`` resolves it once
per process for code that asks many times (the exercise checks).
"""

from __future__ import annotations

import os
from pathlib import Path

from lab import state_record
from lab.backends import Backend, BackendError, get_backend

_shared: Backend | None = None


class LabMismatch(BackendError):
    """This shell's settings point at a different lab than the recorded one (exit 2)."""

    exit_code = 2


def record_backend(name: str, options: dict | None = None, folder: Path | None = None) -> None:
    """Remember how the lab was started: the backend, and the ports this shell resolves."""
    state_record.write(state_record.resolve_record(name, options), folder)


def forget_recorded_backend() -> None:
    state_record.forget()


def recorded_backend_name() -> str | None:
    record = state_record.read()
    return record.backend if record else None


def check_shell_agrees(backend: str | None = None, options: dict | None = None) -> None:
    """Raise LabMismatch when this shell (env, plus flags) disagrees with the recorded lab."""
    record = state_record.read()
    if record is None:
        return
    why = state_record.conflict(record, backend, options)
    if why:
        raise LabMismatch(why)


def current_backend(default: str | None = None) -> Backend:
    """The lab `lab up` recorded (refused if this shell points elsewhere), else the backend
    named by $WIRELAB_BACKEND with this shell's ports, else local."""
    record = state_record.read()
    if record is not None:
        check_shell_agrees()
        return get_backend(record.backend, **record.backend_options())
    name = os.environ.get("WIRELAB_BACKEND") or default or "local"
    return get_backend(name)


def shared_backend() -> Backend:
    """``current_backend()``, resolved once per process and then reused."""
    global _shared
    if _shared is None:
        _shared = current_backend()
    return _shared


def forget_shared_backend() -> None:
    """Resolve afresh on the next call (tests start labs on other port offsets)."""
    global _shared
    _shared = None


def backend_for_up(backend: str, options: dict) -> tuple[Backend, bool]:
    """The backend `lab up` starts, and whether a lab was recorded already.

    With a record, `lab up` brings back that same lab (flags and env must agree with it);
    without one, the backend and ports this shell asks for."""
    record = state_record.read()
    if record is None:
        return get_backend(backend, **options), False
    check_shell_agrees(None if backend == "auto" else backend, options)
    return get_backend(record.backend, **record.backend_options()), True


def remember_up(backend: Backend, options: dict) -> None:
    """Record the lab `lab up` just started (a recorded lab stays as recorded)."""
    if state_record.read() is None:
        record_backend(backend.name, options)
