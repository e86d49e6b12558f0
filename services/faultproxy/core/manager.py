"""The set of proxies and every operation the API performs on it.

Synchronous on purpose: binding a listener and changing toxics need no awaiting, so each
API call is atomic with respect to the proxies' traffic (no half-applied state).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from services.faultproxy.api.input_parsing import (
    ApiError,
    check_address,
    check_bool,
    check_name,
    lower_keys,
    parse_toxic_create,
    parse_toxic_update,
)
from services.faultproxy.core.addresses import (
    AddressError,
    AddressRefused,
    check_pinned_name,
    listen_host,
    pin_listen,
    split_host_port,
)
from services.faultproxy.core.allowlist import Allowlist, is_loopback_host
from services.faultproxy.core.persistence import StateWriter, write_state
from services.faultproxy.core.proxy_base import (
    BaseProxy,
    ProxyContext,
    ProxyError,
    Toxic,
    proxy_class_for,
)
from services.faultproxy.core.toxic_types import ToxicError, default_toxic_name

log = logging.getLogger("faultproxy.manager")


class PopulateError(ApiError):
    """A populate that stopped part-way: ``proxies`` were created (or kept) before it."""

    def __init__(self, message: str, status: int, proxies: list[BaseProxy]) -> None:
        super().__init__(message, status)
        self.proxies = proxies


class ProxyManager:
    def __init__(
        self,
        ctx: ProxyContext | None = None,
        allowlist: Allowlist | None = None,
        persist_to: Path | None = None,
        public_listen: bool = False,
        trusted_names: frozenset[str] = frozenset(),
    ) -> None:
        self.ctx = ctx or ProxyContext()
        self.allowlist = allowlist or Allowlist()
        # True when proxies may listen beyond loopback (--public-listen): then every
        # upstream is checked against the allowlist, not only those of exposed proxies.
        self.public_listen = public_listen
        # Names the operator listed (--allow): trusted wherever they resolve. The built-in
        # ones (restapi, localhost...) are trusted only where they resolve to loopback.
        self.trusted_names = {n.lower().rstrip(".") for n in trusted_names}
        self.proxies: dict[str, BaseProxy] = {}
        self.writer: StateWriter | None = None
        if persist_to:
            self.persist_to(persist_to)
        self.on_change: list[Callable[[], None]] = []

    # ---- helpers ----------------------------------------------------------------------

    def get(self, name: str) -> BaseProxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    def _check_upstream(self, upstream: str, listen: str) -> None:
        """The open-relay guard: a proxy other machines can reach relays only to allowed hosts.

        A loopback listener on a faultproxy that cannot listen elsewhere relays to any
        upstream, as Toxiproxy does: only this machine can use it.
        """
        listen_on, _ = split_host_port(listen, "listen")
        if not self.public_listen and is_loopback_host(listen_host(listen_on)):
            return
        host, _ = split_host_port(upstream, "upstream")
        if not self.allowlist.allows(host):
            raise ApiError(
                f"upstream host {host!r} is not in the allowlist ({self.allowlist.describe()}); "
                f"restart faultproxy with --allow {host} to permit it",
                403,
            )
        bare = host.lower().rstrip(".")
        if self.allowlist.allow_all or _is_ip(host) or bare in self.trusted_names:
            return
        try:
            check_pinned_name(host, self.allowlist.allows)
        except AddressError as exc:
            raise ApiError(str(exc), 403 if isinstance(exc, AddressRefused) else 400) from None

    def _pin_listen(self, value: Any) -> str:
        """Where a proxy asked to listen on ``value`` really listens (see `pin_listen`)."""
        if value in (None, ""):
            return "127.0.0.1:0"
        check_address(value, "listen")
        try:
            return pin_listen(value, self.public_listen)
        except AddressError as exc:
            raise ApiError(str(exc), 403 if isinstance(exc, AddressRefused) else 400) from None

    def _changed(self, names: Iterable[str] | None = None) -> None:
        """The proxies ``names`` changed (None: possibly all of them)."""
        if self.writer is not None:
            self.writer.mark(names)
        for callback in self.on_change:
            callback()

    def build_toxic(self, proxy_protocol: str, body: Any) -> Toxic:
        spec = parse_toxic_create(body)
        try:
            toxic_type = self.ctx.toxic_types.lookup(spec.type, proxy_protocol)
            attributes = toxic_type.normalize(spec.attributes)
        except ToxicError as exc:
            raise ApiError(str(exc), exc.status) from None
        return Toxic(
            name=spec.name or default_toxic_name(toxic_type.name, spec.stream),
            type=toxic_type.name,
            stream=spec.stream,
            toxicity=spec.toxicity,
            attributes=attributes,
            toxic_type=toxic_type,
            runtime=toxic_type.factory(attributes),
        )

    def _parse_proxy(self, body: Any) -> dict[str, Any]:
        """Validate a full proxy definition (create/populate/config) without side effects."""
        data = lower_keys(body, "a proxy")
        name = check_name(data.get("name", ""), "proxy name")
        upstream = data.get("upstream", "")
        if upstream == "" or upstream is None:
            raise ApiError("missing required field: upstream")
        check_address(upstream, "upstream")
        listen = data.get("listen")
        listen = self._pin_listen(listen)
        self._check_upstream(upstream, listen)
        enabled = (
            check_bool(data["enabled"], "enabled") if data.get("enabled") is not None else True
        )
        try:
            cls = proxy_class_for(data.get("protocol") or "tcp")
            extra = {k: v for k, v in data.items() if k in cls.option_names}
            options = cls.parse_options(extra)
        except ToxicError as exc:
            raise ApiError(str(exc), exc.status) from None
        toxics_raw = data.get("toxics")
        if toxics_raw is None:
            toxics_raw = []
        if not isinstance(toxics_raw, list):
            raise ApiError("toxics must be a list of toxic objects")
        toxics: list[Toxic] = []
        for raw in toxics_raw:
            toxic = self.build_toxic(cls.protocol, raw)
            if any(t.name == toxic.name for t in toxics):
                raise ApiError(f"toxic {toxic.name!r} appears twice in proxy {name!r}", 409)
            toxics.append(toxic)
        return {
            "cls": cls,
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": enabled,
            "options": options,
            "toxics": toxics,
            "has_toxics": "toxics" in data,
        }

    def _instantiate(self, spec: dict[str, Any]) -> BaseProxy:
        proxy = spec["cls"](
            self.ctx,
            spec["name"],
            spec["listen"],
            spec["upstream"],
            enabled=spec["enabled"],
            options=spec["options"],
        )
        for toxic in spec["toxics"]:
            proxy.toxics.add(toxic)
        if proxy.enabled:
            try:
                proxy.start()
            except ProxyError as exc:
                raise ApiError(str(exc), exc.status) from None
        return proxy

    # ---- proxies ----------------------------------------------------------------------

    def create(self, body: Any) -> BaseProxy:
        spec = self._parse_proxy(body)
        if spec["name"] in self.proxies:
            raise ApiError("proxy already exists", 409)
        proxy = self._instantiate(spec)
        self.proxies[proxy.name] = proxy
        self.ctx.events.publish("proxy.created", proxy=proxy.name, **_summary(proxy))
        self._changed([proxy.name])
        return proxy

    def populate(self, body: Any) -> list[BaseProxy]:
        """Create or replace many proxies, as Toxiproxy's ``POST /populate`` does.

        The whole list is validated first: a malformed entry creates nothing, and the
        error names it (``at proxy 2``). Then each entry in turn: an existing proxy with
        the same listen address and upstream is left exactly as it is (its toxics, its
        enabled state, its live connections), anything else replaces it. A bind error
        stops there; the proxies before it stay, listed in the error's ``proxies``.
        """
        if isinstance(body, dict) and "proxies" in {str(k).lower() for k in body}:
            body = lower_keys(body)["proxies"]
        if not isinstance(body, list):
            raise ApiError("bad request body: populate takes a JSON list of proxies")
        specs = []
        for index, item in enumerate(body, 1):
            try:
                specs.append(self._parse_proxy(item))
            except ApiError as exc:
                raise ApiError(f"{exc} at proxy {index}", exc.status) from None
        seen: set[str] = set()
        for spec in specs:
            if spec["name"] in seen:
                raise ApiError(f"proxy {spec['name']!r} appears twice in the list", 409)
            seen.add(spec["name"])

        result: list[BaseProxy] = []
        try:
            for spec in specs:
                result.append(self._populate_one(spec))
        except ApiError as exc:
            raise PopulateError(str(exc), exc.status, result) from None
        finally:
            if result:
                self._changed([p.name for p in result])
        return result

    def _populate_one(self, spec: dict[str, Any]) -> BaseProxy:
        existing = self.proxies.get(spec["name"])
        if existing is not None and self._same(existing, spec):
            # Toxiproxy ignores a populate body's toxics; clients send null or [] and
            # expect the proxy's toxics to stay. A non-empty list (the --config shape)
            # replaces them.
            if spec["toxics"]:
                self._set_toxics(existing, spec["toxics"])
            return existing
        if existing is not None:
            existing.stop()
            del self.proxies[existing.name]
        try:
            proxy = self._instantiate(spec)
        except ApiError:
            if existing is not None:  # put back what we took down, as it was
                self.proxies[existing.name] = existing
                if existing.enabled:
                    try:
                        existing.start()
                    except ProxyError as exc:
                        log.error("populate: %s could not listen again: %s", existing.name, exc)
                        existing.enabled = False
            raise
        self.proxies[proxy.name] = proxy
        self.ctx.events.publish("proxy.created", proxy=proxy.name, **_summary(proxy))
        return proxy

    @staticmethod
    def _same(proxy: BaseProxy, spec: dict[str, Any]) -> bool:
        """Toxiproxy's ``Differs``, inverted: same resolved listen address and upstream.

        ``enabled`` is not compared (a disabled proxy populated again stays disabled);
        a requested port 0 matches whatever port the proxy got.
        """
        if proxy.protocol != spec["cls"].protocol or proxy.upstream != spec["upstream"]:
            return False
        if proxy.options != spec["options"]:
            return False
        want_host, want_port = split_host_port(spec["listen"], "listen")
        have_host, have_port = split_host_port(proxy.listen, "listen")
        return listen_host(want_host) == listen_host(have_host) and want_port in (0, have_port)

    def update(self, name: str, body: Any) -> BaseProxy:
        proxy = self.get(name)
        data = lower_keys(body, "a proxy")
        listen, upstream = proxy.listen, proxy.upstream
        if data.get("listen") not in (None, ""):
            listen = self._pin_listen(data["listen"])
        if data.get("upstream") not in (None, ""):
            upstream = check_address(data["upstream"], "upstream")
        if (listen, upstream) != (proxy.listen, proxy.upstream):
            self._check_upstream(upstream, listen)
        enabled = proxy.enabled
        if data.get("enabled") is not None:
            enabled = check_bool(data["enabled"], "enabled")
        try:
            extra = {k: v for k, v in data.items() if k in proxy.option_names}
            options = proxy.parse_options(extra, proxy.options) if extra else proxy.options
        except ToxicError as exc:
            raise ApiError(str(exc), exc.status) from None

        restart = listen != proxy.listen or options != proxy.options
        if proxy.enabled and (restart or not enabled):
            proxy.stop()
        old = (proxy.listen, proxy.upstream, proxy.enabled, proxy.options)
        proxy.listen, proxy.upstream, proxy.options = listen, upstream, options
        if enabled and (restart or not proxy.enabled):
            try:
                proxy.start()
            except ProxyError as exc:
                proxy.listen, proxy.upstream, proxy.enabled, proxy.options = old
                if proxy.enabled:
                    try:
                        proxy.start()
                    except ProxyError:
                        proxy.enabled = False
                raise ApiError(str(exc), exc.status) from None
        proxy.enabled = enabled
        self.ctx.events.publish("proxy.updated", proxy=proxy.name, **_summary(proxy))
        self._changed([proxy.name])
        return proxy

    def delete(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]
        self.ctx.proxy_metrics.forget_proxy(name)
        self.ctx.events.publish("proxy.deleted", proxy=name)
        self._changed([name])

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic (Toxiproxy's POST /reset)."""
        for proxy in self.proxies.values():
            removed = proxy.toxics.clear()
            if removed:
                proxy.toxics_changed({t.name for t in removed})
            if not proxy.enabled:
                try:
                    proxy.start()
                    proxy.enabled = True
                except ProxyError as exc:
                    log.error("reset: proxy %s cannot listen again: %s", proxy.name, exc)
        self.ctx.events.publish("proxy.reset")
        self._changed()

    # ---- toxics -----------------------------------------------------------------------

    def add_toxic(self, proxy_name: str, body: Any) -> Toxic:
        proxy = self.get(proxy_name)
        toxic = self.build_toxic(proxy.protocol, body)
        if proxy.toxics.get(toxic.name) is not None:
            raise ApiError("toxic already exists", 409)
        proxy.toxics.add(toxic)
        proxy.toxics_changed()
        self.ctx.events.publish("toxic.added", proxy=proxy.name, **toxic.to_json())
        self._changed([proxy.name])
        return toxic

    def get_toxic(self, proxy_name: str, toxic_name: str) -> Toxic:
        toxic = self.get(proxy_name).toxics.get(toxic_name)
        if toxic is None:
            raise ApiError("toxic not found", 404)
        return toxic

    def update_toxic(self, proxy_name: str, toxic_name: str, body: Any) -> Toxic:
        proxy = self.get(proxy_name)
        current = self.get_toxic(proxy_name, toxic_name)
        toxicity, attributes, given = parse_toxic_update(body)
        for field in ("type", "stream"):
            value = given.get(field)
            if value not in (None, "") and str(value).lower() != getattr(current, field):
                raise ApiError(f"a toxic's {field} cannot change; delete it and add a new one")
        try:
            merged = current.toxic_type.normalize(attributes, base=current.attributes)
        except ToxicError as exc:
            raise ApiError(str(exc), exc.status) from None
        toxic = Toxic(
            name=current.name,
            type=current.type,
            stream=current.stream,
            toxicity=current.toxicity if toxicity is None else toxicity,
            attributes=merged,
            toxic_type=current.toxic_type,
            runtime=current.toxic_type.factory(merged),
        )
        proxy.toxics.replace(toxic)
        proxy.toxics_changed()
        self.ctx.events.publish("toxic.updated", proxy=proxy.name, **toxic.to_json())
        self._changed([proxy.name])
        return toxic

    def delete_toxic(self, proxy_name: str, toxic_name: str) -> None:
        proxy = self.get(proxy_name)
        try:
            proxy.toxics.remove(toxic_name)
        except ToxicError as exc:
            raise ApiError(str(exc), exc.status) from None
        proxy.toxics_changed({toxic_name})
        self.ctx.events.publish("toxic.removed", proxy=proxy.name, name=toxic_name)
        self._changed([proxy.name])

    def _set_toxics(self, proxy: BaseProxy, toxics: list[Toxic]) -> None:
        removed = {t.name for t in proxy.toxics.clear()} - {t.name for t in toxics}
        for toxic in toxics:
            proxy.toxics.add(toxic)
        proxy.toxics_changed(removed)

    # ---- configuration ------------------------------------------------------------------

    def export(self) -> list[dict[str, Any]]:
        """The current state in the shape ``POST /populate`` and ``--config`` accept."""
        return [proxy.to_json() for proxy in self.proxies.values()]

    def save(self, path: Path) -> None:
        """Write the state atomically (a crash mid-write never leaves half a file)."""
        write_state(path, self.export())

    def persist_to(self, path: Path) -> None:
        """From now on, journal every change beside ``path`` (``--persist``); a journal
        left by an earlier run (already replayed into the config) is folded into it."""
        self.writer = StateWriter(path, self.export, self._one)

    def _one(self, name: str) -> dict[str, Any] | None:
        proxy = self.proxies.get(name)
        return None if proxy is None else proxy.to_json()

    async def wait_saved(self) -> None:
        """Return once the file holds every change made so far (at once without --persist)."""
        if self.writer is not None:
            await self.writer.wait_saved()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        for proxy in self.proxies.values():
            proxy.stop()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _summary(proxy: BaseProxy) -> dict[str, Any]:
    return {
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
        "protocol": proxy.protocol,
    }
