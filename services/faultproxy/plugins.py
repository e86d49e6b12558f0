"""Optional packages that extend the core: ``udp`` (UDP proxies and toxics) and
``http_faults`` (HTTP-level toxics). Each registers its toxic types and, for UDP, its
proxy class, when imported. They are imported once, lazily; if one is absent the core
works without it, and if one fails to import, the error is logged (not swallowed) and
the core carries on.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger("faultproxy.plugins")

OPTIONAL_PLUGINS = ("services.faultproxy.udp", "services.faultproxy.http_faults")
_loaded: dict[str, bool] = {}


def load_optional_plugins() -> dict[str, bool]:
    """Import the TCP core types and each optional plugin once; return which are present."""
    import services.faultproxy.tcp_proxy  # noqa: F401 - registers the "tcp" proxy class
    import services.faultproxy.tcp_toxics  # noqa: F401 - registers the TCP toxic types

    for module in OPTIONAL_PLUGINS:
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
            _loaded[module] = True
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                _loaded[module] = False  # the package simply is not there (yet)
            else:
                log.error("plugin %s failed to import: %s", module, exc)
                _loaded[module] = False
        except Exception as exc:  # a broken plugin must not take the TCP proxy down
            log.error("plugin %s failed to import: %s: %s", module, type(exc).__name__, exc)
            _loaded[module] = False
    return dict(_loaded)
