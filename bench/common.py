"""What the faultproxy benches share: child processes, a faultproxy with its API, result rows.

Free ports, the wait for a listener and the stop of a child come from
``services.common.processes``, which the tests use too.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import httpx

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, stop_process, wait_tcp
from services.common.reference_peers import REFERENCE, reference_missing

READY_TIMEOUT = 15.0  # seconds for a child to listen; generous, the machine may be busy


@contextlib.contextmanager
def process(
    args: list[str], *, port: int | None = None, stdout: int | None = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the command line ``args`` from the repo root; with ``port``, wait until something
    listens there before yielding. Terminated (killed if need be) at exit."""
    proc = subprocess.Popen(args, cwd=REPO_ROOT, stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        if port is not None:
            wait_tcp(port, timeout=READY_TIMEOUT)
        yield proc
    finally:
        stop_process(proc)


@contextlib.contextmanager
def faultproxy_process(*extra: str) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """A faultproxy on a free 127.0.0.1 port (``extra``: more flags), and a client for its API."""
    port = free_port()
    args = [sys.executable, "-m", "services.faultproxy", "--host", "127.0.0.1", "--port", str(port)]
    with process([*args, *extra], port=port) as proc:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            yield api, proc


def toxiproxy_missing() -> str | None:
    """Why the reference Toxiproxy cannot be a peer here (one line), or None."""
    return reference_missing()


@contextlib.contextmanager
def toxiproxy_api(*extra: str) -> Iterator[httpx.Client]:
    """The reference Toxiproxy 2.12.0 on a free loopback port, and a client for its API."""
    port = free_port()
    args = [str(REFERENCE), "-host", "127.0.0.1", "-port", str(port), *extra]
    with process(args, port=port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            yield api


def create_proxy(api: httpx.Client, name: str, upstream: int, protocol: str = "tcp") -> int:
    """Create a proxy to 127.0.0.1:``upstream`` on a free port; return that port."""
    r = api.post(
        "/proxies",
        json={
            "name": name,
            "protocol": protocol,
            "upstream": f"127.0.0.1:{upstream}",
            "listen": "127.0.0.1:0",
        },
    )
    r.raise_for_status()
    return int(r.json()["listen"].rsplit(":", 1)[1])


def row(
    name: str, figure: float, unit: str, peer: str, peer_figure: float, digits: int = 3
) -> dict:
    """One result row as ``python -m bench`` prints it; ratio = ours / the peer's."""
    ratio = figure / peer_figure if peer_figure else None
    return {
        "name": name,
        "figure": round(figure, digits),
        "unit": unit,
        "peer": peer,
        "peer_figure": round(peer_figure, digits),
        "ratio": None if ratio is None else round(ratio, digits),
    }
