"""The TCP proxy: a listener, an accept callback, and the set of live `Connection`s."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import socket
import time
from typing import Any

from services.faultproxy.core.addresses import (
    go_errno_text,
    join_host_port,
    listen_host,
    split_host_port,
)
from services.faultproxy.core.metrics import Series, Tee
from services.faultproxy.core.proxy_base import (
    BaseProxy,
    ProxyContext,
    ProxyError,
    register_proxy_class,
)
from services.faultproxy.tcp.connection import Connection
from services.faultproxy.tcp.http_hook import HttpReport, load_http_layer_factory

log = logging.getLogger("faultproxy.tcp")

CONNECT_TIMEOUT_S = 10.0
_conn_ids = itertools.count(1)


class TcpProxy(BaseProxy):
    protocol = "tcp"

    def __init__(self, ctx: ProxyContext, *args: Any, **kwargs: Any) -> None:
        super().__init__(ctx, *args, **kwargs)
        self.loop = asyncio.get_running_loop()
        self.metrics = ctx.proxy_metrics
        self._bytes_series = {
            s: self.metrics.bytes.child(proxy=self.name, direction=s)
            for s in ("upstream", "downstream")
        }
        self._series_for: tuple[str, str] | None = None
        self._sent: dict[str, Tee] = {}
        self._received: dict[str, Series] = {}
        self._conn_series = self.metrics.connections.child(proxy=self.name)
        self._active_series = self.metrics.active.child(proxy=self.name)
        self._fail_series = self.metrics.upstream_failures.child(proxy=self.name)
        self._active_series.set(0)
        self._listener: socket.socket | None = None
        self._connections: dict[int, Connection] = {}
        self._connecting: set[asyncio.Task[None]] = set()
        self.http_report = HttpReport(self.name, ctx)
        self._http_factory_loaded = False
        self._http_factory: Any = None
        self.last_upstream_error: str | None = None
        self.last_upstream_error_time: float | None = None

    # ---- listener ---------------------------------------------------------------------

    def _labelled_series(self) -> None:
        """Toxiproxy labels its byte counters with the listen address and upstream a
        connection was opened with; refresh the handles when either has changed."""
        if self._series_for == (self.listen, self.upstream):
            return
        self._series_for = (self.listen, self.upstream)
        for s in ("upstream", "downstream"):
            labels = {"direction": s, "listener": self.listen, "proxy": self.name}
            labels["upstream"] = self.upstream
            self._received[s] = self.metrics.tp_received.child(**labels)
            self._sent[s] = Tee(self._bytes_series[s], self.metrics.tp_sent.child(**labels))

    @property
    def bytes_series(self) -> dict[str, Tee]:
        """Per stream: what a new connection counts its written bytes in."""
        self._labelled_series()
        return self._sent

    @property
    def received_series(self) -> dict[str, Series]:
        """Per stream: what a new connection counts its read bytes in."""
        self._labelled_series()
        return self._received

    def start(self) -> None:
        host, port = split_host_port(self.listen, "listen")
        host = listen_host(host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            # Toxiproxy answers 500 with the bind error text.
            raise ProxyError(
                f"listen tcp {join_host_port(host, port)}: bind: {go_errno_text(exc)}"
            ) from None
        bound = sock.getsockname()
        self.listen = join_host_port(bound[0], bound[1])
        self._listener = sock
        self.loop.add_reader(sock.fileno(), self._accept_ready)
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        if self._listener is not None:
            self.loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for task in list(self._connecting):
            task.cancel()
        for conn in list(self._connections.values()):
            conn.close_connection(reason="proxy disabled")

    def _accept_ready(self) -> None:
        listener = self._listener
        # Accept a burst per callback: a storm of short connections would otherwise cost
        # one loop iteration each.
        for _ in range(64):
            if listener is None or self._listener is not listener:
                return
            try:
                client, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE and friends: keep serving the connections we have, and pause
                # accepting briefly, or the still-ready listener would spin the loop.
                log.warning("proxy %s: accept failed: %s", self.name, exc.strerror or exc)
                self.loop.remove_reader(listener.fileno())
                self.loop.call_later(0.1, self._resume_accept, listener)
                return
            task = self.loop.create_task(self._connect_upstream(client))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def _resume_accept(self, listener: socket.socket) -> None:
        if self._listener is listener:
            self.loop.add_reader(listener.fileno(), self._accept_ready)

    async def _connect_upstream(self, client: socket.socket) -> None:
        client.setblocking(False)
        with contextlib.suppress(OSError):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream: socket.socket | None = None
        try:
            host, port = split_host_port(self.upstream, "upstream")
            infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            family, _, _, _, addr = infos[0]
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.setblocking(False)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.wait_for(self.loop.sock_connect(upstream, addr), CONNECT_TIMEOUT_S)
        except asyncio.CancelledError:
            client.close()
            if upstream is not None:
                upstream.close()
            raise
        except (OSError, TimeoutError, ValueError) as exc:
            if upstream is not None:
                upstream.close()
            self._upstream_failed(client, exc)
            return
        try:
            peer = client.getpeername()
        except OSError:  # the client gave up while we connected
            client.close()
            upstream.close()
            return
        conn = Connection(self, next(_conn_ids), client, upstream)
        self._connections[conn.id] = conn
        self._conn_series.inc()
        self._active_series.set(len(self._connections))
        self.ctx.events.publish(
            "connection.opened", proxy=self.name, id=conn.id, client=f"{peer[0]}:{peer[1]}"
        )
        conn.apply_toxics()

    def _upstream_failed(self, client: socket.socket, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):
            reason = f"connect to {self.upstream} timed out after {CONNECT_TIMEOUT_S:g}s"
        elif isinstance(exc, socket.gaierror):
            reason = f"cannot resolve {self.upstream}: {exc.strerror}"
        elif isinstance(exc, OSError):
            reason = f"connect to {self.upstream}: {exc.strerror or exc}"
            if exc.errno == errno.ECONNREFUSED:
                reason = f"connect to {self.upstream}: connection refused"
        else:
            reason = f"connect to {self.upstream}: {exc}"
        self._fail_series.inc()
        self.last_upstream_error = reason
        self.last_upstream_error_time = time.time()
        log.info("proxy %s: %s", self.name, reason)
        self.ctx.events.publish("upstream.failed", proxy=self.name, error=reason)
        # Close the client at once so it sees the failure now, not at its own timeout.
        client.close()

    # ---- connections and toxics ---------------------------------------------------------

    def connection_closed(self, conn: Connection, reset: bool, reason: str) -> None:
        if self._connections.pop(conn.id, None) is None:
            return
        self._active_series.set(len(self._connections))
        up, down = conn.directions["upstream"].bytes, conn.directions["downstream"].bytes
        self.ctx.events.publish(
            "connection.closed",
            proxy=self.name,
            id=conn.id,
            reason=reason,
            reset=reset,
            bytes_upstream=up,
            bytes_downstream=down,
        )

    def toxics_changed(self, removed: set[str] | None = None) -> None:
        for conn in list(self._connections.values()):
            conn.apply_toxics(removed)

    def connections(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self._connections.values()]

    def http_layer_factory(self) -> Any:
        if not self._http_factory_loaded:
            self._http_factory_loaded = True
            self._http_factory = load_http_layer_factory()
        return self._http_factory

    def stats(self) -> dict[str, Any]:
        return {
            "connections_active": len(self._connections),
            "connections_total": int(self._conn_series.get()),
            "bytes_upstream": int(self._bytes_series["upstream"].get()),
            "bytes_downstream": int(self._bytes_series["downstream"].get()),
            "upstream_failures": int(self._fail_series.get()),
            "last_upstream_error": self.last_upstream_error,
        }


register_proxy_class(TcpProxy)
