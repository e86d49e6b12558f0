"""``--persist``: every change the API acknowledges is on disk, without rewriting the state.

The state lives in two files:

- the **snapshot**, the ``--config`` file itself, in the shape ``--config`` and
  ``POST /populate`` accept (a JSON list of proxies), so it stays readable and usable
  without faultproxy's help once compacted;
- the **journal**, ``FILE.journal`` beside it: one JSON line per change, appended (one
  ``write`` on an ``O_APPEND`` descriptor) before the API answers. A line holds the *whole*
  new state of what changed: ``{"put": [proxy, ...]}``, ``{"delete": [name, ...]}`` or
  ``{"all": [proxy, ...]}`` (a reset, which touches every proxy).

Each line overwrites what it names, so replaying a line on a state that already contains
it changes nothing. That makes compaction simple and crash-safe: on the loop, take a
snapshot and move the journal aside (``FILE.journal.old``) so new changes start a fresh
one; in a worker thread, write the snapshot (temp file + rename), then remove the old
journal. Whenever the process dies, snapshot + old journal + journal replays to the last
acknowledged state. On start, a journal's torn last line (a crash mid-write) is ignored
with a warning; anything else unreadable is refused with the file and line named.

Appending costs one small ``write`` per change (tens of microseconds), where rewriting the
whole file made creating N proxies O(N^2). The write goes to the page cache: it survives
the process being killed, not the machine losing power (no fsync, as before).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("faultproxy.persist")

# Compact once the journal is this big and twice the snapshot (amortised O(1) per change).
# The variable exists so tests can make real processes compact after a few changes.
COMPACT_ENV = "WIRELAB_FAULTPROXY_COMPACT_BYTES"
COMPACT_MIN_BYTES = 1 << 20


def default_compact_bytes() -> int:
    try:
        return max(1, int(os.environ.get(COMPACT_ENV, COMPACT_MIN_BYTES)))
    except ValueError:
        return COMPACT_MIN_BYTES


class PersistError(ValueError):
    """The persisted state cannot be read; the message names the file and the cause."""


def journal_paths(path: Path) -> tuple[Path, Path]:
    """(the journal, the journal a running compaction moved aside) for snapshot ``path``."""
    return path.with_name(path.name + ".journal"), path.with_name(path.name + ".journal.old")


def write_state(path: Path, state: list[dict[str, Any]]) -> int:
    """One proxy per line (readable, and the C JSON encoder: fast); atomic replace.

    Returns the bytes written (0 if it failed, which is logged)."""
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
        return 0
    return len(text)


# ---- reading -------------------------------------------------------------------------------


def parse_snapshot(path: Path, text: str) -> list[Any]:
    """The snapshot's proxies. Empty or ``null`` is refused: it is what a truncated file or
    a wrong path looks like, and starting with 0 proxies would then overwrite it."""
    if not text.strip():
        raise PersistError(
            f"config file {path} is empty; with --persist it would be overwritten. "
            "Write [] to it to start with no proxies"
        )
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PersistError(
            f"config file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if isinstance(state, dict) and "proxies" in {str(k).lower() for k in state}:
        state = next(v for k, v in state.items() if str(k).lower() == "proxies")
    if state is None:
        raise PersistError(
            f"config file {path} holds null; with --persist it would be overwritten. "
            "Write [] to it to start with no proxies"
        )
    if not isinstance(state, list):
        raise PersistError(
            f"config file {path} must hold a JSON list of proxies, got {type(state).__name__}"
        )
    return state


def replay(path: Path, proxies: dict[str, Any], text: str) -> int:
    """Apply journal ``text`` (from file ``path``) to ``proxies`` (name -> proxy); return
    the lines applied. A torn last line is skipped with a warning."""
    lines = text.split("\n")
    torn_tail = not text.endswith("\n")  # the last write did not finish
    applied = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ValueError("not a one-key object")
            ((op, items),) = entry.items()
            if op not in ("put", "delete", "all") or not isinstance(items, list):
                raise ValueError(f"unknown entry {op!r}")
            if op == "all":
                proxies.clear()
            for item in items:
                if op == "delete":
                    proxies.pop(str(item), None)
                else:
                    proxies[str(item["name"])] = item
        except (ValueError, TypeError, KeyError) as exc:
            if torn_tail and number == len(lines):
                log.warning(
                    "%s: ignoring a torn last line (%d bytes): a change was cut short by a crash "
                    "before it was acknowledged",
                    path,
                    len(line),
                )
                break
            raise PersistError(f"journal {path} line {number} is unreadable: {exc}") from None
        applied += 1
    return applied


def load_state(path: Path, text: str) -> list[Any]:
    """The state to start from: the snapshot ``text`` (read from ``path``) with any journal
    replayed on it. Raises PersistError with a clear message."""
    state = parse_snapshot(path, text)
    journal, old = journal_paths(path)
    texts = []
    for part in (old, journal):  # the moved-aside journal holds the older changes
        try:
            texts.append((part, part.read_text(encoding="utf-8")))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise PersistError(f"cannot read journal {part}: {exc}") from None
    if not texts:
        return state
    proxies: dict[str, Any] = {}
    for item in state:
        if not isinstance(item, dict) or "name" not in item:
            return state  # not ours to fix: populate will name the bad entry
        proxies[str(item["name"])] = item
    for part, journal_text in texts:
        replay(part, proxies, journal_text)
    return list(proxies.values())


# ---- writing -------------------------------------------------------------------------------


class StateWriter:
    """Appends each change to the journal before the API answers; compacts in the background.

    ``snapshot()`` is the whole state; ``one(name)`` one proxy's, or None once deleted.
    """

    def __init__(
        self,
        path: Path,
        snapshot: Callable[[], list[dict[str, Any]]],
        one: Callable[[str], dict[str, Any] | None],
        compact_min_bytes: int | None = None,
    ) -> None:
        self.path = path
        self.snapshot = snapshot
        self.one = one
        self.journal, self.old_journal = journal_paths(path)
        self._compact_min = compact_min_bytes or default_compact_bytes()
        self._fd = -1
        self._journal_bytes = 0
        try:
            self._snapshot_bytes = path.stat().st_size
        except OSError:
            self._snapshot_bytes = 0
        self._compacting: asyncio.Task[None] | None = None
        # Held while a snapshot is written: a compaction's thread and close() never interleave.
        self._lock = threading.Lock()
        self._closed = False
        self.compactions = 0
        self.recover()

    def recover(self) -> None:
        """At start: fold journals left by an earlier run into the snapshot, synchronously,
        so the new journal starts clean (never after a torn line)."""
        if self.journal.exists() or self.old_journal.exists():
            self._snapshot_bytes = write_state(self.path, self.snapshot())
            if not self._snapshot_bytes:
                raise PersistError(f"cannot write {self.path}; the journal is kept")
            for part in (self.old_journal, self.journal):
                part.unlink(missing_ok=True)
        self._open()

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.journal, flags, 0o644)
        self._journal_bytes = os.fstat(self._fd).st_size

    def _append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # a regular file takes it all at once; loop for the rule's sake
            view = view[os.write(self._fd, view) :]
        self._journal_bytes += len(line)

    def mark(self, names: Iterable[str] | None = None) -> None:
        """Record a change to the proxies ``names`` (None: every proxy, e.g. a reset)."""
        if names is None:
            self._append({"all": self.snapshot()})
        else:
            put, gone = [], []
            for name in dict.fromkeys(names):
                state = self.one(name)
                if state is None:
                    gone.append(name)
                else:
                    put.append(state)
            if put:
                self._append({"put": put})
            if gone:
                self._append({"delete": gone})
        if self._journal_bytes >= max(self._compact_min, 2 * self._snapshot_bytes) and (
            self._compacting is None or self._compacting.done()
        ):
            self._compacting = asyncio.get_running_loop().create_task(self._compact())

    async def _compact(self) -> None:
        # On the loop, in one go: the state now, and a fresh journal for what comes after.
        state = self.snapshot()
        os.close(self._fd)
        os.replace(self.journal, self.old_journal)
        self._open()
        written = await asyncio.to_thread(self._fold, state)
        if written:
            self._snapshot_bytes = written
            self.compactions += 1
        elif not self._closed:
            # The snapshot is stale: keep the old journal's lines, before the new ones.
            self._merge_back()

    def _fold(self, state: list[dict[str, Any]]) -> int:
        """(Worker thread) write the snapshot, then drop the journal it covers."""
        with self._lock:
            if self._closed:
                return 0
            written = write_state(self.path, state)
            if written:
                self.old_journal.unlink(missing_ok=True)
            return written

    def _merge_back(self) -> None:
        """A compaction failed: put the new journal's lines after the old ones, as one."""
        with self.old_journal.open("ab") as old:
            old.write(self.journal.read_bytes())
        os.close(self._fd)
        os.replace(self.old_journal, self.journal)
        self._open()

    async def wait_saved(self) -> None:
        """Every change is appended when it is made: nothing to wait for."""

    def close(self) -> None:
        """At shutdown: fold everything into the snapshot, leaving one plain file."""
        if self._closed:
            return
        # A compaction's thread may be writing an older snapshot: wait for it, then ours.
        with self._lock:
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if write_state(self.path, self.snapshot()):
                for part in (self.old_journal, self.journal):
                    part.unlink(missing_ok=True)
