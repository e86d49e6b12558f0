"""The interface every backend implements. Scenarios only ever talk to this."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field


class BackendError(Exception):
    """A backend operation failed; the message is one line with the cause and the fix."""


@dataclass
class ServiceStatus:
    service: str  # e.g. "rawhttp", "rawhttp-blocking"
    state: str  # healthy | unhealthy | starting | paused | stopped | exited
    addresses: list[str] = field(default_factory=list)  # "127.0.0.1:8080/tcp", ...
    healthy_after: float | None = None  # seconds from start to first passing probe
    detail: str = ""  # why it is unhealthy, the container id, the pid...

    def to_dict(self) -> dict:
        return asdict(self)


# Why a backend lacks a capability, and where a scenario that needs it does run. A backend
# may explain better (the docker backend knows whether it sits behind docker-proxy or inside
# the network without an engine) by overriding ``Backend.capability_note``.
CAPABILITY_NOTES = {
    "pause": "pausing a service needs a backend that controls its process or container: "
    "run it from the host (`lab up --backend local` or `--backend docker`)",
    "stop": "stopping a service needs a backend that controls its process or container: "
    "run it from the host (`lab up --backend local` or `--backend docker`)",
    "partition": "a partition disconnects a container from its network: "
    "run it on `lab up --backend docker`",
    "raw-transport": "the client must reach the services with no proxy in between, so "
    "refused, RST and UDP bursts are seen as they happen: run it on `lab up --backend local` "
    "or on `lab up --backend docker`, whose `lab run` runs it in a runner container on the lab "
    "network",
}
CAPABILITY_NOTES["resume"] = CAPABILITY_NOTES["pause"]
CAPABILITY_NOTES["start"] = CAPABILITY_NOTES["stop"]
CAPABILITY_NOTES["heal"] = CAPABILITY_NOTES["partition"]


class Backend(abc.ABC):
    """Where the lab's services run.

    ``capabilities`` names what a backend can do: the service actions it can perform,
    and ``raw-transport`` when a client's socket reaches the services directly (so
    refused, RST and UDP bursts are seen as they happen). A scenario that needs one the
    backend lacks is skipped with a reason (e.g. ``partition`` is docker-only).
    """

    name: str = "base"
    capabilities: frozenset[str] = frozenset()

    def capability_note(self, capability: str) -> str | None:
        """Why this backend lacks ``capability`` and where a scenario needing it runs."""
        return CAPABILITY_NOTES.get(capability)

    # -- lifecycle -------------------------------------------------------------------
    @abc.abstractmethod
    def up(self, services: list[str] | None = None, timeout: float = 30.0) -> list[ServiceStatus]:
        """Start services (all by default) and wait until each passes its health probe."""

    @abc.abstractmethod
    def down(self, volumes: bool = False) -> None:
        """Stop everything this backend started; leave no process or container behind.

        ``volumes`` also removes stored data, for backends that keep it in volumes.
        """

    @abc.abstractmethod
    def status(self) -> list[ServiceStatus]:
        """Probe each service now."""

    def is_up(self) -> bool:
        return all(s.state == "healthy" for s in self.status())

    # -- addressing -------------------------------------------------------------------
    @abc.abstractmethod
    def address(self, endpoint: str) -> tuple[str, int]:
        """Resolve a logical endpoint ("rawhttp", "restapi.via_proxy", ...) to (host, port)."""

    def url(self, endpoint: str, scheme: str = "http") -> str:
        host, port = self.address(endpoint)
        return f"{scheme}://{host}:{port}"

    def faultproxy_url(self) -> str:
        return self.url("faultproxy")

    @abc.abstractmethod
    def ca_path(self) -> str:
        """Path on this machine of the lab CA certificate (PEM)."""

    # -- service actions ----------------------------------------------------------------
    def _unsupported(self, action: str) -> BackendError:
        return BackendError(f"the {self.name} backend cannot {action} a service")

    def pause(self, service: str) -> None:
        raise self._unsupported("pause")

    def resume(self, service: str) -> None:
        raise self._unsupported("resume")

    def stop(self, service: str) -> None:
        raise self._unsupported("stop")

    def start(self, service: str) -> None:
        raise self._unsupported("start")

    def partition(self, service: str) -> None:
        raise self._unsupported("partition")

    def heal(self, service: str) -> None:
        raise self._unsupported("heal")

    def paused_or_stopped(self) -> list[str]:
        """Services a scenario left paused, stopped or partitioned (rollback checks this)."""
        return [s.service for s in self.status() if s.state in ("paused", "stopped", "partitioned")]

    @abc.abstractmethod
    def logs(self, service: str, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """Lines of a service's log."""
