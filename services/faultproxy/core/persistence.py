"""``--persist``: the state written back to the config file, off the event loop, coalesced.

A change marks the state dirty. One writer task takes a snapshot on the loop (cheap:
plain dicts), then encodes and writes it in a worker thread, atomically (temp file +
rename). Changes made while a write is in flight are covered by one more write, however
many there were. The API answers a change only once a write that includes it is done
(`wait_saved`), so "the API said yes" still means "it is in the file", while proxied
traffic never waits for the disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("faultproxy.persist")


def write_state(path: Path, state: list[dict[str, Any]]) -> None:
    """One proxy per line (readable, and the C JSON encoder: fast); atomic replace."""
    text = "[\n" + ",\n".join("  " + json.dumps(p) for p in state) + "\n]\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        log.error("cannot save state to %s: %s", path, exc.strerror or exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass


class StateWriter:
    def __init__(self, path: Path, snapshot: Callable[[], list[dict[str, Any]]]) -> None:
        self.path = path
        self.snapshot = snapshot
        self._changes = 0  # changes made so far
        self._saved = 0  # changes covered by the file
        self._task: asyncio.Task[None] | None = None
        self._saved_event = asyncio.Event()

    def mark(self) -> None:
        self._changes += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write_while_dirty())

    async def _write_while_dirty(self) -> None:
        while self._saved < self._changes:
            covered = self._changes
            state = self.snapshot()
            await asyncio.to_thread(write_state, self.path, state)
            self._saved = covered
            self._saved_event.set()
            self._saved_event = asyncio.Event()

    async def wait_saved(self) -> None:
        """Return once every change made before the call is in the file."""
        target = self._changes
        while self._saved < target:
            await self._saved_event.wait()

    def flush_now(self) -> None:
        """At shutdown: write the current state synchronously."""
        if self._saved < self._changes:
            write_state(self.path, self.snapshot())
            self._saved = self._changes
