"""What every probe shares: its contract, the context it runs in and the timeout shapes.

A probe module defines ``SCHEMA`` (its spec, validated before anything runs),
``OUTPUTS`` (the fields it reports, which ``expect:`` may name) and
``run(spec, ctx) -> dict`` (`ProbeModule` below). Observation probes (http, tcp, ...) never raise for a network
failure: they report it as ``error`` (a normalised kind) and ``error_detail``. Action
probes (toxic, service, proxy) raise, because a fault that could not be applied makes
the rest of the scenario meaningless.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lab.scenario import schema as s
from lab.scenario.errors import NO_ERROR, ProbeError, TotalTimeout
from lab.scenario.rollback import Rollback

if TYPE_CHECKING:
    from lab.backends.base import Backend
    from lab.faultproxy_client import FaultProxyClient

COMMON_OUTPUTS = {
    "elapsed": "seconds the probe took",
    "error": "normalised error kind, or 'none'",
    "error_detail": "the underlying error message",
    "hung": "whether the scenario cut the probe at the step's bound",
}


class ProbeModule(Protocol):
    """The contract of a probe module (``lab/scenario/probes/<kind>.py``).

    A module may also define ``outputs(spec) -> dict`` when its fields depend on the spec
    (``repeat`` reports its inner probe's); `lab.scenario.probes.outputs_for` asks it first.
    """

    SCHEMA: s.Schema  # the spec, validated before anything runs
    OUTPUTS: dict[str, str]  # field -> meaning, the names ``expect:`` may use

    def run(self, spec: Any, ctx: ProbeContext) -> dict:
        """Do the probe; an observation reports a network failure in ``error``, an action
        raises `ProbeError` when it cannot apply its change."""
        ...


@dataclass
class ProbeContext:
    resolve: Callable[[str], tuple[str, int]]  # logical name or HOST:PORT -> (host, port)
    rollback: Rollback
    scenario_dir: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    backend: Backend | None = None  # None in engine-only unit tests
    proxy_api: FaultProxyClient | None = None
    ca_path: Callable[[], str] | None = None
    run_nested: Callable[[Any], Any] | None = None  # runs a nested Step (repeat/parallel)
    restapi_reset: Callable[[], None] | None = None  # undo for restapi /_lab/ settings

    def sleep(self, seconds: float) -> None:
        """Sleep that wakes at once when the run is cancelled."""
        if seconds > 0 and self.cancel.wait(seconds):
            raise ProbeError("error", "cancelled")

    def require_proxy(self) -> FaultProxyClient:
        if self.proxy_api is None:
            raise ProbeError("error", "no fault proxy in this run (the lab is not up?)")
        return self.proxy_api

    def require_backend(self) -> Backend:
        if self.backend is None:
            raise ProbeError("error", "no backend in this run (the lab is not up?)")
        return self.backend


# -- timeouts -------------------------------------------------------------------------------

TIMEOUT_SCHEMA = s.AnyOf(
    (
        s.Num(minimum=0),
        s.Fields(
            {"connect": s.Num(0), "read": s.Num(0), "write": s.Num(0), "total": s.Num(0)},
            expected="a number or {connect, read, write, total}",
        ),
    )
)


@dataclass(frozen=True)
class Timeouts:
    """None means "wait forever", as a client with no timeout does."""

    connect: float | None = None
    read: float | None = None
    write: float | None = None
    total: float | None = None

    @classmethod
    def parse(cls, value: Any) -> Timeouts:
        if value is None:
            return cls()
        if isinstance(value, int | float):
            # One number bounds each phase (as httpx and requests do), not the whole exchange.
            return cls(float(value), float(value), float(value), None)
        return cls(**{k: float(v) for k, v in value.items()})


class Deadline:
    """Per-operation socket timeouts, capped by what is left of the total timeout.

    When the cap is the total timeout rather than the per-phase one, the failure is a
    ``total_timeout``: that is how a read timeout and a total timeout are told apart.
    """

    def __init__(self, timeouts: Timeouts):
        self.timeouts = timeouts
        self.start = time.monotonic()
        self.end = self.start + timeouts.total if timeouts.total is not None else None
        self.capped_by_total = False

    def for_phase(self, phase: str) -> float | None:
        per_phase = getattr(self.timeouts, phase)
        if self.end is None:
            self.capped_by_total = False
            return per_phase
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TotalTimeout(self.timeouts.total or 0)
        if per_phase is None or remaining < per_phase:
            self.capped_by_total = True
            return remaining
        self.capped_by_total = False
        return per_phase

    def timed_out(self, phase: str) -> ProbeError | None:
        """Call after a socket timeout: the right error for what capped it."""
        if self.capped_by_total:
            return TotalTimeout(self.timeouts.total or 0)
        return None


# -- payloads -------------------------------------------------------------------------------


def random_bytes(size: int, seed: int) -> bytes:
    """Deterministic bytes (SHA-256 in counter mode): the same seed gives the same payload."""
    out = bytearray()
    counter = 0
    key = seed.to_bytes(8, "big", signed=True)
    while len(out) < size:
        out += hashlib.sha256(key + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_of(data: bytes, limit: int = 65536) -> str:
    """Bytes as text for expectations and the journal, with a visible cut for big bodies."""
    text = data[:limit].decode("utf-8", "replace")
    return text + f"... [{len(data) - limit} more bytes]" if len(data) > limit else text


def ok_output(**fields: Any) -> dict:
    return {"error": NO_ERROR, "error_detail": "", **fields}
