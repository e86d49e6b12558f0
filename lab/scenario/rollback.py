"""Rollback: undo every fault a scenario applied, whatever happened, and prove it.

Probes register an undo for each change as they make it (a toxic added, a proxy
disabled, a service paused or stopped). ``run()`` replays them newest first, then applies
a safety net that does not trust the log (proxy ``POST /reset``, resume or start any
service the backend still reports paused or stopped), then checks the lab is clean.
SIGINT is held off while this runs, so a second Ctrl-C cannot leave a fault behind.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# What an undo reverts, so a later step that reverts it itself can drop the pending undo:
# ("toxic", proxy, name), ("proxy disabled", proxy), ("service", service, undo action)...
UndoKey = tuple[Hashable, ...]


@dataclass
class RollbackAction:
    what: str
    ok: bool
    detail: str = ""
    duration: float = 0.0

    def to_dict(self) -> dict:
        return {
            "what": self.what,
            "ok": self.ok,
            "detail": self.detail,
            "duration": round(self.duration, 4),
        }


@dataclass
class _Undo:
    key: UndoKey
    what: str  # for the report: "remove toxic latency_downstream from rawhttp"
    undo: Callable[[], None]


@dataclass
class Rollback:
    _undo: list[_Undo] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, key: UndoKey, what: str, undo: Callable[[], None]) -> None:
        with self._lock:
            self._undo.append(_Undo(key, what, undo))

    def forget(self, key: UndoKey) -> None:
        """Drop the newest pending undo for ``key``: a later step already performed it
        (a toxic removed, a proxy enabled, a service resumed in the scenario file)."""
        with self._lock:
            for i in range(len(self._undo) - 1, -1, -1):
                if self._undo[i].key == key:
                    del self._undo[i]
                    return

    def pending(self) -> list[str]:
        with self._lock:
            return [u.what for u in self._undo]

    def run(self, safety_net: list[tuple[str, Callable[[], None]]]) -> list[RollbackAction]:
        """Every undo, newest first, then the safety net. The caller holds off signals
        (``signals_deferred``) around this and whatever check follows it."""
        actions: list[RollbackAction] = []
        with self._lock:
            steps, self._undo = list(reversed(self._undo)), []
        for what, undo in [(u.what, u.undo) for u in steps] + safety_net:
            start = time.monotonic()
            try:
                undo()
                actions.append(RollbackAction(what, True, duration=time.monotonic() - start))
            except Exception as exc:  # every undo runs, even after another failed
                actions.append(
                    RollbackAction(
                        what, False, f"{type(exc).__name__}: {exc}", time.monotonic() - start
                    )
                )
        return actions


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT (and SIGTERM) during rollback; re-raise as KeyboardInterrupt afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt
