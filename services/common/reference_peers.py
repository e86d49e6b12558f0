"""Reference peers that tests and benchmarks measure the lab against.

`../shared/peers/toxiproxy-server` (Toxiproxy 2.12.0, beside a clone) is optional: a user's
clone does not have it, so whatever needs it skips with one line saying where it was looked
for.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, stop_process, wait_tcp

# $WIRELAB_TOXIPROXY_SERVER names another copy (a git worktree is not beside shared/).
REFERENCE = Path(
    os.environ.get("WIRELAB_TOXIPROXY_SERVER")
    or REPO_ROOT.parent / "shared" / "peers" / "toxiproxy-server"
)


def reference_missing() -> str | None:
    """Why the reference cannot be used here, or None when it can."""
    if not REFERENCE.is_file():
        return f"the reference Toxiproxy is not at {REFERENCE} (only a workplace checkout has it)"
    return None


@contextlib.contextmanager
def toxiproxy_process(*extra: str) -> Iterator[int]:
    """The reference server on a free loopback port; yields the API port.

    ``extra`` are more flags, e.g. ``-proxy-metrics`` to serve its byte counters."""
    import tempfile

    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [str(REFERENCE), "-host", "127.0.0.1", "-port", str(port), *extra], stdout=log, stderr=log
    )
    try:
        wait_tcp(port, timeout=10)
        yield port
    finally:
        stop_process(proc)
