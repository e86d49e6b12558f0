"""A lab left dirty (a `lab run` killed with SIGKILL, a check interrupted): what is left,
and its repair.

Leftovers are the faults the lab itself applies: toxics on the fault proxy, disabled
proxies, services paused, stopped by `lab` or partitioned. `lab status` lists them;
`lab run` and `lab up` remove them first and say what they repaired, or refuse with
the exact cause when a repair fails.
"""

from __future__ import annotations

from lab.backends.base import Backend, BackendError, ServiceStatus
from lab.faultproxy_client import FaultProxyClient, FaultProxyError

SERVICE_LEFTOVERS = {"paused": "resume", "stopped": "start", "partitioned": "heal"}
PAST = {"resume": "resumed", "start": "started", "heal": "healed"}


def proxy_leftovers(backend: Backend, timeout: float = 3.0) -> list[str] | None:
    """Toxics and disabled proxies on the fault proxy (None: it does not answer)."""
    try:
        with FaultProxyClient(backend.faultproxy_url(), timeout=timeout) as api:
            return api.dirty()
    except (FaultProxyError, BackendError, OSError):
        return None


def leftovers(backend: Backend, rows: list[ServiceStatus] | None = None) -> list[str]:
    """Everything a run or a check left behind, one phrase each (empty: clean)."""
    rows = backend.status() if rows is None else rows
    found = [
        f"service {r.service} is {r.state} (left by a scenario or `lab action`)"
        for r in rows
        if r.state in SERVICE_LEFTOVERS
    ]
    if any(r.service == "faultproxy" and r.state in ("healthy", "unhealthy") for r in rows):
        found += proxy_leftovers(backend) or []
    return found


def repair(backend: Backend) -> list[str]:
    """Resume, start or heal the services the lab left so, then remove every toxic and
    enable every proxy. Returns what was repaired; BackendError names what could not be."""
    done: list[str] = []
    for row in backend.status():
        verb = SERVICE_LEFTOVERS.get(row.state)
        if verb is None:
            continue
        try:
            getattr(backend, verb)(row.service)
        except BackendError as exc:
            raise BackendError(
                f"{row.service} is {row.state} and could not {verb}: {exc}"
            ) from None
        done.append(f"{PAST[verb]} {row.state} service {row.service}")
    try:
        with FaultProxyClient(backend.faultproxy_url(), timeout=5) as api:
            dirty = _repairs(api.proxies())
            if dirty:
                api.reset()
                still = api.dirty()
                if still:
                    raise BackendError(
                        "the fault proxy could not be cleaned: "
                        + "; ".join(still)
                        + " (see `lab logs faultproxy`)"
                    )
                done += dirty
    except (FaultProxyError, OSError):
        pass  # not answering: nothing on it to repair; `lab up` starts it, status says why
    return done


def _repairs(proxies: dict[str, dict]) -> list[str]:
    """What a proxy reset will undo, in the words of the repair."""
    out = []
    for name, proxy in proxies.items():
        if not proxy.get("enabled", True):
            out.append(f"enabled disabled proxy {name}")
        for toxic in proxy.get("toxics") or []:
            out.append(f"removed toxic {toxic.get('name')} from proxy {name}")
    return out
