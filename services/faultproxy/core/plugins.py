"""The protocol packages that plug into the core, named here and imported by name.

The core never imports a protocol package in its source: `PLUGINS` names each package's
modules, and they are imported (once) when asked for. That keeps the dependencies one
way (``tcp``, ``udp``, ``http`` import ``core``; never the reverse), so there is no
import circle, and it lets the toxic *types* load without any proxy or socket code:

- ``toxic_types``: importing it registers the protocol's toxic types with
  `toxic_types.REGISTRY` (no sockets, no event loop);
- ``proxy``: importing it registers the protocol's proxy class with
  `proxy_base.register_proxy_class` (HTTP has none: it rides on TCP proxies through
  `tcp.http_hook`).

TCP is required: an error importing it propagates. UDP and HTTP are optional: if one is
absent the core works without it, and if one fails to import, the error is logged (not
swallowed) and the core carries on.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

log = logging.getLogger("faultproxy.plugins")


@dataclass(frozen=True)
class Plugin:
    name: str
    toxic_types: str
    proxy: str | None = None
    required: bool = False


PLUGINS = (
    Plugin("tcp", "services.faultproxy.tcp.toxics", "services.faultproxy.tcp.proxy", required=True),
    Plugin("udp", "services.faultproxy.udp.toxic_registration", "services.faultproxy.udp.proxy"),
    Plugin("http", "services.faultproxy.http.toxic_specs"),
)

_loaded: dict[str, bool] = {}


def load_toxic_types() -> dict[str, bool]:
    """Register every plugin's toxic types (sans-I/O); return which plugins have them."""
    return {p.name: _import(p.toxic_types, p.required) for p in PLUGINS}


def load_plugins() -> dict[str, bool]:
    """Register every plugin's toxic types and proxy class; return which plugins loaded."""
    present = {}
    for plugin in PLUGINS:
        ok = _import(plugin.toxic_types, plugin.required)
        if ok and plugin.proxy is not None:
            ok = _import(plugin.proxy, plugin.required)
        present[plugin.name] = ok
    return present


def _import(module: str, required: bool) -> bool:
    if module in _loaded:
        return _loaded[module]
    if required:
        importlib.import_module(module)
        _loaded[module] = True
        return True
    try:
        importlib.import_module(module)
        _loaded[module] = True
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            log.error("plugin %s failed to import: %s", module, exc)
        _loaded[module] = False  # otherwise the package simply is not there (yet)
    except Exception as exc:  # a broken plugin must not take the TCP proxy down
        log.error("plugin %s failed to import: %s: %s", module, type(exc).__name__, exc)
        _loaded[module] = False
    return _loaded[module]
