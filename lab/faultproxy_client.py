"""The lab's one client for the fault proxy's Toxiproxy-compatible HTTP API.

The CLI (`lab proxies`), the scenario engine and the exercise checks all use it: toxics,
enable/disable, reset, populate/export, and the read-only views (proxies, connections,
metrics) that checks use as evidence. A proxy may be named as its endpoint
(``rawhttp.echo``, ``rawhttp.echo.via_proxy``) or as the proxy (``rawhttp_echo``):
`services.ports.proxy_name_for` says which proxy that is.

When faultproxy runs with a bearer token (``WIRELAB_FAULTPROXY_TOKEN``, off by default:
Toxiproxy's clients send none), `auth_headers` is where the lab gets the header it sends:
this client and the health probes (`lab.health`, the container healthcheck) use it.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import httpx

from services.ports import proxy_name_for

# The variable faultproxy itself reads its --token from (services/faultproxy/service.py).
TOKEN_ENV = "WIRELAB_FAULTPROXY_TOKEN"


def auth_headers(token: str | None = None) -> dict[str, str]:
    """``Authorization: Bearer ...`` when a token is given or set in the environment."""
    token = os.environ.get(TOKEN_ENV) if token is None else token
    return {"Authorization": f"Bearer {token}"} if token else {}


class FaultProxyError(Exception):
    """The proxy API refused a request or could not be reached; the message says which."""


class FaultProxyUnreachable(FaultProxyError):
    """The API did not answer (the lab is down, or the address is wrong)."""


class FaultProxyRefused(FaultProxyError):
    """The API answered with an error ``status`` (an unknown proxy, an invalid toxic...)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class FaultProxyClient:
    def __init__(self, base_url: str, timeout: float = 5.0, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        # No proxy settings from the environment: the lab API is always on loopback.
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            trust_env=False,
            headers=auth_headers(token),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FaultProxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise FaultProxyUnreachable(
                f"fault proxy API at {self.base_url} unreachable ({type(exc).__name__}: {exc})"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise FaultProxyRefused(
                f"{method} {path} -> {response.status_code}: {message.strip()}",
                response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # -- changes (each has an undo the rollback uses) ---------------------------------------
    def add_toxic(self, proxy: str, toxic: dict) -> dict:
        return self._call("POST", f"/proxies/{proxy_name_for(proxy)}/toxics", toxic)

    def update_toxic(self, proxy: str, name: str, changes: dict) -> dict:
        return self._call("POST", f"/proxies/{proxy_name_for(proxy)}/toxics/{name}", changes)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy_name_for(proxy)}/toxics/{name}")

    def set_enabled(self, proxy: str, enabled: bool) -> dict:
        return self._call("POST", f"/proxies/{proxy_name_for(proxy)}", {"enabled": enabled})

    def reset(self) -> None:
        self._call("POST", "/reset")

    def populate(self, proxies: list[dict]) -> Any:
        """Create or update proxies, with their toxics (`lab proxies load`)."""
        return self._call("POST", "/populate", proxies)

    def export_config(self) -> list[dict]:
        """Every proxy with its toxics, in the `--config` / populate shape (`lab proxies export`)."""
        return self._call("GET", "/config") or []

    # -- views ----------------------------------------------------------------------------
    def proxies(self) -> dict[str, dict]:
        return self._call("GET", "/proxies") or {}

    def proxy(self, proxy: str) -> dict:
        return self._call("GET", f"/proxies/{proxy_name_for(proxy)}")

    def stats(self, proxy: str) -> dict[str, float]:
        """Live counters of one proxy: connections_total, bytes_upstream, bytes_downstream..."""
        stats = self.proxy(proxy).get("stats") or {}
        return {k: v for k, v in stats.items() if isinstance(v, int | float)}

    def toxics(self, proxy: str) -> list[dict]:
        return self._call("GET", f"/proxies/{proxy_name_for(proxy)}/toxics") or []

    def connections(self, proxy: str) -> Any:
        return self._call("GET", f"/proxies/{proxy_name_for(proxy)}/connections")

    def metrics_text(self) -> str:
        try:
            response = self._client.get("/metrics")
        except httpx.HTTPError as exc:
            raise FaultProxyUnreachable(f"fault proxy metrics unreachable ({exc})") from None
        if response.status_code != 200:
            raise FaultProxyRefused(f"GET /metrics -> {response.status_code}", response.status_code)
        return response.text

    def dirty(self) -> list[str]:
        """What is not clean: toxics present or proxies disabled (empty list = clean)."""
        problems = []
        for name, proxy in self.proxies().items():
            if not proxy.get("enabled", True):
                problems.append(f"proxy {name} is disabled")
            for toxic in proxy.get("toxics") or []:
                problems.append(f"proxy {name} still has toxic {toxic.get('name')}")
        return problems


def parse_prometheus(text: str) -> dict[str, float]:
    """``{'metric{label="x"}': value}`` from Prometheus text; comments and bad lines skipped."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.rpartition(" ")
        if not name:
            continue
        # A timestamp may follow the value: "name{..} 3 1700000000000".
        parts = line.split()
        if "}" in line:
            name = line[: line.rindex("}") + 1]
            parts = line[line.rindex("}") + 1 :].split()
        else:
            name, parts = parts[0], parts[1:]
        if not parts:
            continue
        try:
            values[name.replace(" ", "")] = float(parts[0])
        except ValueError:
            continue
    return values
