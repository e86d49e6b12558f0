"""The hook through which HTTP-aware toxics (``kind == "http"``) reach TCP connections.

When a TCP proxy has at least one toxic of kind ``"http"``, every direction of its
connections leaves the zero-copy path and the connection gets an *HTTP layer*, provided by
the `services.faultproxy.http` package (TCP works without it; then http toxics cannot be
registered at all, since that package registers them).

While the proxy has no byte-level toxic, the layer first offers a *screen* (``screen()``):
both directions are copied by callbacks through it, and it hands the connection to the
stages below at a message boundary when a request needs more than relaying (see
`services.faultproxy.http.screen`). Otherwise, and from then on, the layer contributes one
stage at the *head* of each direction's toxic chain (before the byte-level toxics)::

    client -> [HTTP request stage]  -> byte toxics -> upstream server
    client <- byte toxics <- [HTTP response stage] <- upstream server

Both stages share the layer object, so the request stage can parse a request (with h11),
decide *per request* which http toxics apply (``toxicity`` as a probability, ``match``),
and tell the response stage what to do with the matching response. The stages follow
the `stream_toxic.StreamToxic` contract (cancellation-safe, flush held data on
interrupt, pass ``None`` on EOF). Because chains are rebuilt on every toxic change, the
layer object (and so its parser state) persists across rebuilds: the core creates it once
per connection and asks it for fresh stages each time.

To answer a request itself (``http_status``) the request stage can write straight to the
client with ``conn.inject("downstream", bytes)`` and not forward the request; to drop the
connection, ``conn.close_connection(reset=True)``.

The http toxics currently on the proxy are read live with ``toxics()`` (a callable
returning `proxy_base.Toxic` objects with ``kind == "http"``), so an added, updated or
removed toxic applies from the next request on.

`services.faultproxy.http.layer` (``HTTP_LAYER_MODULE``) must expose::

    def create_http_layer(conn: ConnectionHandle, toxics: Callable[[], list[Toxic]],
                          report: HttpReport) -> HttpLayer
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from services.faultproxy.tcp.stream_toxic import StreamToxic

if TYPE_CHECKING:
    from services.faultproxy.core.proxy_base import Toxic

log = logging.getLogger("faultproxy.http")

HTTP_LAYER_MODULE = "services.faultproxy.http.layer"


class Screen(Protocol):
    """The HTTP layer's fast path: filters for the two directions' `CopyPump`s."""

    def client_bytes(self, data: bytes) -> tuple[bytes, bytes | None]: ...

    def upstream_bytes(self, data: bytes) -> tuple[bytes, bytes | None]: ...


class HttpLayer(Protocol):
    def screen(self, on_ready: Callable[[], None]) -> Screen | None:
        """The screen both directions should copy through, or None once the stages have
        the connection (or are about to). ``on_ready``: see `leave_screen`."""

    def leave_screen(self) -> bool:
        """The stages are wanted: True when they may take over now; else the screen stops
        at the next message boundary and calls ``on_ready`` then."""

    def drop_screen(self) -> None:
        """The last http toxic went: forget the screen (a new one starts fresh)."""

    def request_stage(self) -> StreamToxic:
        """A fresh stage for the head of the upstream (client -> server) chain."""

    def response_stage(self) -> StreamToxic | None:
        """A fresh stage for the head of the downstream chain, or None if not needed."""


class HttpReport:
    """How the HTTP layer reports into metrics and events (one per proxy).

    ``request(toxic, outcome)`` counts ``faultproxy_http_requests_total{proxy,toxic,outcome}``
    with outcome ``"matched"`` or ``"faulted"``; a faulted request also counts as a toxic
    activation and publishes an ``http.faulted`` event.
    """

    def __init__(self, proxy_name: str, ctx: Any) -> None:
        self.proxy_name = proxy_name
        self.ctx = ctx
        self.requests = ctx.metrics.counter(
            "faultproxy_http_requests_total",
            "HTTP requests seen by http toxics",
            ("proxy", "toxic", "outcome"),
        )

    def request(self, toxic: Toxic, outcome: str, **detail: Any) -> None:
        self.requests.inc(1, proxy=self.proxy_name, toxic=toxic.name, outcome=outcome)
        if outcome == "faulted":
            self.ctx.proxy_metrics.toxic_activations.inc(
                1, proxy=self.proxy_name, toxic=toxic.name, type=toxic.type
            )
            self.ctx.events.publish(
                "http.faulted", proxy=self.proxy_name, toxic=toxic.name, type=toxic.type, **detail
            )


def load_http_layer_factory() -> Callable[..., HttpLayer] | None:
    """``http.layer.create_http_layer``, or None when the package is absent."""
    try:
        module = importlib.import_module(HTTP_LAYER_MODULE)
    except ModuleNotFoundError:
        return None
    except Exception as exc:
        log.error("%s failed to import: %s: %s", HTTP_LAYER_MODULE, type(exc).__name__, exc)
        return None
    factory = getattr(module, "create_http_layer", None)
    if factory is None:
        log.error("%s has no create_http_layer(); http toxics are inert", HTTP_LAYER_MODULE)
    return factory
