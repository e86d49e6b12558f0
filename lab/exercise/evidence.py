"""What the lab's services saw: request logs, proxy connections and counters.

Checks judge a student's program by these, so a program cannot pass by printing the
right words: the request has to reach the service, through the proxy, at the right time.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import httpx

from lab.backends import Backend, BackendError
from lab.context import shared_backend
from lab.faultproxy_client import FaultProxyClient, FaultProxyRefused, FaultProxyUnreachable
from lab.targets import TargetError, resolve
from lab.toxics import DEFAULT_STREAM

OWN_TOXIC_PREFIX = "exercise_"


class LabUnavailable(RuntimeError):
    """The lab (or one of its services) does not answer; the message says what to run."""


def _backend() -> Backend:
    try:
        return shared_backend()
    except BackendError as exc:
        raise LabUnavailable(str(exc)) from None


def address(endpoint: str) -> tuple[str, int]:
    try:
        return resolve(endpoint, _backend())
    except TargetError as exc:
        raise LabUnavailable(str(exc)) from None


def url(endpoint: str, scheme: str = "http") -> str:
    host, port = address(endpoint)
    return f"{scheme}://{host}:{port}"


def ca_path() -> str:
    """The lab CA certificate (PEM) on this machine."""
    try:
        return str(_backend().ca_path())
    except Exception as exc:  # no CA yet, or a backend that cannot say
        raise LabUnavailable(f"the lab CA is not available ({exc}); run `lab up` first") from None


def _client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(5.0), trust_env=False)


def get_json(endpoint: str, path: str, params: dict | None = None) -> Any:
    try:
        with _client() as client:
            response = client.get(url(endpoint) + path, params=params)
            response.raise_for_status()
            return response.json()
    except httpx.HTTPError as exc:
        raise LabUnavailable(
            f"{endpoint} did not answer {path} ({exc}); is the lab up? (lab status, lab up)"
        ) from None


def post(endpoint: str, path: str, json: Any = None) -> httpx.Response:
    try:
        with _client() as client:
            return client.post(url(endpoint) + path, json=json)
    except httpx.HTTPError as exc:
        raise LabUnavailable(
            f"{endpoint} did not answer POST {path} ({exc}); is the lab up?"
        ) from None


def require(*endpoints: str) -> None:
    """Fail early and clearly when a service the check needs is down."""
    for endpoint in endpoints:
        host, port = address(endpoint)
        try:
            with socket.create_connection((host, port), timeout=2):
                pass
        except OSError:
            raise LabUnavailable(
                f"{endpoint} does not answer on {host}:{port}: start the lab with `lab up`"
            ) from None


# -- request logs ---------------------------------------------------------------------


def _entries(payload: Any) -> list[dict]:
    if isinstance(payload, dict):
        for key in ("requests", "entries", "items"):
            if isinstance(payload.get(key), list):
                return payload[key]
    return payload if isinstance(payload, list) else []


def request_log(endpoint: str, since: float, **params: str) -> list[dict]:
    """Entries of a service's ``/_lab/requests`` log newer than ``since`` (unix time), oldest first."""
    entries = _entries(get_json(endpoint, "/_lab/requests", params or None))
    fresh = [e for e in entries if float(e.get("time", 0)) >= since]
    return sorted(fresh, key=lambda e: float(e.get("time", 0)))


# -- the fault proxy ----------------------------------------------------------------------


@contextlib.contextmanager
def fault_proxy() -> Iterator[FaultProxyClient]:
    """The lab's fault proxy client; a failure to reach it says how to bring the lab up."""
    with FaultProxyClient(url("faultproxy")) as api:
        try:
            yield api
        except FaultProxyUnreachable as exc:
            raise LabUnavailable(
                f"the fault proxy did not answer ({exc}); is the lab up?"
            ) from None


@contextlib.contextmanager
def toxic(
    proxy: str,
    name: str,
    type_: str,
    stream: str = DEFAULT_STREAM,
    toxicity: float = 1.0,
    **attributes: Any,
) -> Iterator[None]:
    """A toxic that is always removed afterwards, even when the check fails or crashes.

    A check's toxics are named ``exercise_*``: one left behind by an interrupted check is
    replaced. Any other toxic on the proxy (a student's own slicer, a scenario's leftover)
    would distort the check, so it is named, with how to remove it, instead.
    """
    if not name.startswith(OWN_TOXIC_PREFIX):
        raise ValueError(f"a check's toxic names start with {OWN_TOXIC_PREFIX!r}, got {name!r}")
    foreign = [
        t.get("name", "?")
        for t in proxy_toxics(proxy)
        if not str(t.get("name", "")).startswith(OWN_TOXIC_PREFIX)
    ]
    if foreign:
        api = url("faultproxy")
        raise LabUnavailable(
            f"the {proxy} proxy already has toxics ({', '.join(foreign)}) that would distort the check; "
            f"remove them (curl -X DELETE {api}/proxies/{proxy}/toxics/{foreign[0]}) or reset "
            f"every proxy (curl -X POST {api}/reset), then check again"
        )
    body = {
        "name": name,
        "type": type_,
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes,
    }
    with fault_proxy() as api:
        _remove_toxic(api, proxy, name)  # one left behind by an interrupted check
        try:
            added = api.add_toxic(proxy, body)
        except FaultProxyRefused as exc:
            raise LabUnavailable(
                f"the fault proxy refused toxic {name} on {proxy}: {exc}"
            ) from None
    try:
        yield
    finally:
        with contextlib.suppress(LabUnavailable), fault_proxy() as api:
            _remove_toxic(api, proxy, added["name"])


def _remove_toxic(api: FaultProxyClient, proxy: str, name: str) -> None:
    """Remove a toxic if it is there (a 404 is fine: nothing to remove)."""
    with contextlib.suppress(FaultProxyRefused):
        api.remove_toxic(proxy, name)


def proxy_stats(proxy: str) -> dict[str, float]:
    """Live counters of one proxy: connections_total, bytes_upstream, bytes_downstream..."""
    with fault_proxy() as api:
        try:
            return api.stats(proxy)
        except FaultProxyRefused as exc:
            raise LabUnavailable(
                f"the fault proxy has no proxy {proxy!r} ({exc.status}); is the lab up?"
            ) from None


def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def proxy_toxics(proxy: str) -> list[dict]:
    with fault_proxy() as api:
        try:
            return api.toxics(proxy)
        except FaultProxyRefused:
            return []  # no such proxy: no toxics on it
