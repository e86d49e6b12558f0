"""Who a PID really is, from /proc: so a stale PID file never gets an unrelated process signalled.

A PID is reused once its process is gone. A PID file therefore records the process's
start time (field 22 of /proc/PID/stat, in clock ticks since boot) and its command line;
a live PID whose start time or command line differ is someone else's process.

Also a /proc scan for the processes a lab started, for when the PID files are gone, and
the process tree of a program (process group, session and descendants) for when it must
be stopped whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str  # R, S, T, Z...
    start_ticks: int  # field 22: start time after boot, in clock ticks


def proc_available() -> bool:
    return (PROC / "self" / "stat").exists()


def proc_info(pid: int) -> ProcInfo | None:
    """The fields of /proc/PID/stat that identify a process, None when it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces or ')'; the fields follow the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); field N is fields[N - 3].
    try:
        return ProcInfo(
            pid,
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            state=fields[0],
            start_ticks=int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


def cmdline(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def environ_value(pid: int, name: str) -> str | None:
    """One variable of a process's environment (readable for our own user's processes)."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def identity(pid: int) -> dict | None:
    """What a PID file records beside the PID: start time and command line."""
    info = proc_info(pid)
    if info is None:
        return None
    return {"start_ticks": info.start_ticks, "cmdline": cmdline(pid)}


def mismatch(pid: int, recorded: dict) -> str | None:
    """Why live ``pid`` is not the process ``recorded`` describes (None: it is, or it is gone).

    A record without a start time (written by an older lab) is checked on its command line.
    """
    info = proc_info(pid)
    if info is None:
        return None
    ticks = recorded.get("start_ticks")
    if ticks is not None and ticks != info.start_ticks:
        return f"pid {pid} is now another process ({describe(pid)}), started after the lab's"
    expected = recorded.get("cmdline") or recorded.get("cmd")
    seen = cmdline(pid)
    if expected and seen is not None and seen != list(expected):
        return f"pid {pid} is now another process ({describe(pid)})"
    return None


def describe(pid: int) -> str:
    args = cmdline(pid) or []
    text = " ".join(" ".join(args).split()) if args else f"pid {pid}"  # one line
    return text if len(text) <= 60 else text[:57] + "..."


def all_pids() -> list[int]:
    try:
        return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]
    except OSError:
        return []


def tree(root: int) -> list[int]:
    """Every live process of ``root``'s tree: its process group, its session, and all their
    descendants by parent PID (which reaches a grandchild that made its own session while
    its parent lives, or after it was reparented to us as subreaper). ``root`` first."""
    infos = [i for i in (proc_info(p) for p in all_pids()) if i is not None and i.state != "Z"]
    found = {root} if any(i.pid == root for i in infos) else set()
    found |= {i.pid for i in infos if i.pgid == root or i.sid == root}
    changed = True
    while changed:
        changed = False
        for info in infos:
            if info.pid not in found and info.ppid in found:
                found.add(info.pid)
                changed = True
    return sorted(found, key=lambda p: (p != root, p))


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER), so
    a student's program that double-forks cannot leave a process outside our reach."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER = 36
    except (OSError, AttributeError):
        return False


def reap(pids: list[int]) -> None:
    """Collect exit statuses of killed processes that became our children (subreaper)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass
