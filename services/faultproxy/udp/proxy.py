"""The UDP proxy: one listening socket, a session per client, toxics per datagram.

Datagram boundaries are kept: each ``recvfrom`` is one datagram and becomes at most one
``send`` (two when a ``duplicate`` toxic says so). The sockets are non-blocking and each
readiness event reads until EAGAIN (up to a batch), which is what lets one Python process
relay tens of thousands of datagrams a second.
"""

from __future__ import annotations

import asyncio
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
from services.faultproxy.core.proxy_base import (
    BaseProxy,
    ProxyContext,
    ProxyError,
    register_proxy_class,
)
from services.faultproxy.core.toxic_types import MAX_INT_ATTRIBUTE, ToxicError
from services.faultproxy.udp.counters import UdpCounters
from services.faultproxy.udp.datagram_toxics import DatagramCounters, ToxicSpec
from services.faultproxy.udp.session import MAX_DATAGRAM, READ_BATCH, Session

log = logging.getLogger("faultproxy.udp")

DEFAULT_IDLE_TIMEOUT_MS = 60_000
DEFAULT_MAX_SESSIONS = 1024
# Bursts at loopback speed overflow the default ~200 KB socket buffers long before Python
# falls behind on average, and on a shared machine the proxy may not run for a while: the
# buffer is what rides out such a stall. SO_*BUFFORCE (root or CAP_NET_ADMIN) may go past
# net.core.rmem_max; otherwise we ask for SOCKET_BUFFER and the kernel caps it there.
SOCKET_BUFFER = 4 * 1024 * 1024
FORCED_SOCKET_BUFFER = 16 * 1024 * 1024
# Linux values; Python's socket module does not name them.
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
STATS_EVENT_INTERVAL_S = 1.0
PUBLISH_INTERVAL_S = 0.02  # /metrics lags the datagrams by at most this much


def _int_option(given: dict[str, Any], key: str, default: int | None, minimum: int) -> int | None:
    value = given.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ToxicError(f"{key} must be a whole number, got {value!r}")
    value = int(value)
    if value < minimum or value > MAX_INT_ATTRIBUTE:
        raise ToxicError(f"{key} must be between {minimum} and {MAX_INT_ATTRIBUTE}, got {value}")
    return value


def _big_buffers(sock: socket.socket) -> None:
    for forced, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, forced, FORCED_SOCKET_BUFFER)
            continue
        except OSError:
            pass  # not privileged (the usual case in a container): the capped size will do
        try:
            sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)
        except OSError:
            pass


class UdpProxy(BaseProxy):
    protocol = "udp"
    option_names = ("idle_timeout", "max_sessions", "seed")

    def __init__(self, ctx: ProxyContext, *args: Any, **kwargs: Any) -> None:
        super().__init__(ctx, *args, **kwargs)
        self.loop = asyncio.get_running_loop()
        self.counters = UdpCounters(self.name, ctx)
        pm = ctx.proxy_metrics
        self._session_series = pm.connections.child(proxy=self.name)
        self._active_series = pm.active.child(proxy=self.name)
        self._fail_series = pm.upstream_failures.child(proxy=self.name)
        self._rejected_series = self.counters.rejected.child(proxy=self.name)
        self._active_series.set(0)
        self._listener: socket.socket | None = None
        self._sessions: dict[tuple[Any, ...], Session] = {}
        self._numbers = itertools.count(1)
        self._specs: dict[str, list[ToxicSpec]] = {"upstream": [], "downstream": []}
        self._toxic_counters: dict[str, tuple[str, str, DatagramCounters]] = {}
        self._upstream_addr: tuple[str, tuple[Any, ...], int] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._publish_timer: asyncio.TimerHandle | None = None
        self._last_stats_event = 0.0
        self._rejected_logged = 0.0
        self.last_upstream_error: str | None = None
        self.toxics_changed()

    # -- options ------------------------------------------------------------------------------
    @classmethod
    def parse_options(
        cls, given: dict[str, Any], base: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        merged = {
            "idle_timeout": DEFAULT_IDLE_TIMEOUT_MS,
            "max_sessions": DEFAULT_MAX_SESSIONS,
            "seed": None,
            **(base or {}),
            **given,
        }
        return {
            "idle_timeout": _int_option(merged, "idle_timeout", DEFAULT_IDLE_TIMEOUT_MS, 1),
            "max_sessions": _int_option(merged, "max_sessions", DEFAULT_MAX_SESSIONS, 1),
            "seed": _int_option(merged, "seed", None, -MAX_INT_ATTRIBUTE),
        }

    @property
    def idle_timeout_s(self) -> float:
        return self.options.get("idle_timeout", DEFAULT_IDLE_TIMEOUT_MS) / 1000

    # -- listening ----------------------------------------------------------------------------
    def start(self) -> None:
        host, port = split_host_port(self.listen, "listen")
        host = listen_host(host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ProxyError(
                f"listen udp {join_host_port(host, port)}: bind: {go_errno_text(exc)}"
            ) from None
        _big_buffers(sock)
        bound = sock.getsockname()
        self.listen = join_host_port(bound[0], bound[1])
        self._listener = sock
        # Toxics may have been added before the first start (populate, --config).
        self.toxics_changed()
        self.loop.add_reader(sock.fileno(), self._client_ready)
        self._schedule_sweep()
        log.info("udp proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """``enabled: false``: the port is closed (clients get ICMP unreachable) and so is
        every session."""
        if self._listener is not None:
            self.loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._publish_timer is not None:
            self._publish_timer.cancel()
            self._publish_timer = None
        for session in list(self._sessions.values()):
            self._close_session(session, "proxy disabled")
        self.publish_counters(force_event=True)

    # -- sessions -----------------------------------------------------------------------------
    def _resolve_upstream(self) -> tuple[int, tuple[Any, ...]]:
        cached = self._upstream_addr
        if cached is not None and cached[0] == self.upstream:
            return cached[2], cached[1]
        host, port = split_host_port(self.upstream, "upstream")
        family, _, _, _, addr = socket.getaddrinfo(
            host or "127.0.0.1", port, type=socket.SOCK_DGRAM
        )[0]
        self._upstream_addr = (self.upstream, addr, family)
        return family, addr

    def _open_session(self, client: tuple[Any, ...]) -> Session | None:
        if len(self._sessions) >= self.options.get("max_sessions", DEFAULT_MAX_SESSIONS):
            self._rejected_series.inc()
            now = time.monotonic()
            if now - self._rejected_logged > 1.0:  # one event a second, not one per datagram
                self._rejected_logged = now
                self.ctx.events.publish(
                    "session.rejected",
                    proxy=self.name,
                    client=join_host_port(client[0], client[1]),
                    reason=f"max_sessions ({len(self._sessions)}) reached",
                )
            return None
        try:
            family, addr = self._resolve_upstream()
            upstream = socket.socket(family, socket.SOCK_DGRAM)
            upstream.setblocking(False)
            _big_buffers(upstream)
            upstream.connect(addr)
        except (OSError, ValueError) as exc:
            self._upstream_failed(
                f"upstream {self.upstream}: {getattr(exc, 'strerror', None) or exc}"
            )
            return None
        session = Session(self, next(self._numbers), client, upstream, self.options.get("seed"))
        session.sync_toxics(self._specs)
        self._sessions[client] = session
        self.loop.add_reader(upstream.fileno(), self._upstream_ready, session)
        self._session_series.inc()
        self._active_series.set(len(self._sessions))
        self.ctx.events.publish(
            "session.opened", proxy=self.name, id=session.number, client=session.client_text
        )
        return session

    def _close_session(self, session: Session, reason: str) -> None:
        if self._sessions.get(session.client) is session:
            del self._sessions[session.client]
        session.close()
        self._active_series.set(len(self._sessions))
        self.ctx.events.publish(
            "session.closed",
            proxy=self.name,
            id=session.number,
            client=session.client_text,
            reason=reason,
            datagrams_upstream=session.datagrams["upstream"],
            datagrams_downstream=session.datagrams["downstream"],
        )

    def _schedule_sweep(self) -> None:
        interval = min(max(self.idle_timeout_s / 4, 0.05), 1.0)
        self._sweeper = self.loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        timeout = self.idle_timeout_s
        for session in list(self._sessions.values()):
            # A session still holding delayed datagrams is not idle: they must go out.
            busy = any(
                p is not None and p.next_deadline() is not None for p in session.pipelines.values()
            )
            if now - session.last_active > timeout and not busy:
                self._close_session(session, "idle")
        self.publish_counters()
        if self._listener is not None:
            self._schedule_sweep()

    def _upstream_failed(self, reason: str) -> None:
        self._fail_series.inc()
        if reason != self.last_upstream_error:
            self.ctx.events.publish("upstream.failed", proxy=self.name, error=reason)
        self.last_upstream_error = reason

    # -- the relay ----------------------------------------------------------------------------
    def _client_ready(self) -> None:
        listener = self._listener
        if listener is None:
            return
        sessions = self._sessions
        counts = self.counters.directions["upstream"]
        now = time.monotonic()
        taken = sent = sent_bytes = failed = 0
        # The no-toxic path is inlined: at tens of thousands of datagrams a second, every
        # function call per datagram shows in the relay rate.
        for _ in range(READ_BATCH):
            try:
                payload, client = listener.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # A previous sendto to this client bounced (ICMP): nothing to read, go on.
                continue
            session = sessions.get(client)
            if session is None:
                session = self._open_session(client)
                if session is None:
                    continue
            session.last_active = now
            session.datagrams["upstream"] += 1
            taken += 1
            if session.pipelines["upstream"] is None:
                try:
                    session.upstream.send(payload)
                except (BlockingIOError, InterruptedError):
                    failed += 1  # the kernel's send buffer is full: UDP drops, we count
                    continue
                except OSError as exc:
                    failed += 1
                    self._send_error(exc)
                    continue
                sent += 1
                sent_bytes += len(payload)
                session.bytes["upstream"] += len(payload)
            else:
                session.send("upstream", payload)
            if self._listener is not listener:
                break  # the API stopped the proxy meanwhile
        counts.datagrams_in += taken
        counts.datagrams_out += sent
        counts.bytes_out += sent_bytes
        counts.send_failed += failed
        self.counters_changed()

    def _upstream_ready(self, session: Session) -> None:
        sock = session.upstream
        counts = self.counters.directions["downstream"]
        session.last_active = time.monotonic()
        listener = self._listener
        client = session.client
        taken = sent = sent_bytes = failed = 0
        for _ in range(READ_BATCH):
            if session.closed or listener is None:
                break
            try:
                payload = sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._send_error(exc)
                if isinstance(exc, ConnectionRefusedError):
                    continue
                break
            taken += 1
            if session.pipelines["downstream"] is None:
                try:
                    listener.sendto(payload, client)
                except (BlockingIOError, InterruptedError):
                    failed += 1
                    continue
                except OSError:
                    failed += 1  # the client went away (ICMP unreachable): UDP drops it
                    continue
                sent += 1
                sent_bytes += len(payload)
            else:
                session.send("downstream", payload)
        session.datagrams["downstream"] += taken
        session.bytes["downstream"] += sent_bytes
        counts.datagrams_in += taken
        counts.datagrams_out += sent
        counts.bytes_out += sent_bytes
        counts.send_failed += failed
        self.counters_changed()

    def _send_error(self, exc: OSError) -> None:
        if isinstance(exc, ConnectionRefusedError):
            self._upstream_failed(
                f"upstream {self.upstream}: connection refused (nothing listening)"
            )
        else:
            self._upstream_failed(f"upstream {self.upstream}: {exc.strerror or exc}")

    def emit(self, session: Session, stream: str, payload: bytes) -> None:
        """Send one datagram that made it through ``stream``'s toxics."""
        counts = self.counters.directions[stream]
        try:
            if stream == "upstream":
                session.upstream.send(payload)
            elif self._listener is not None:
                self._listener.sendto(payload, session.client)
            else:
                return
        except (BlockingIOError, InterruptedError):
            counts.send_failed += 1  # the kernel's send buffer is full: UDP drops, we count
            return
        except OSError as exc:
            counts.send_failed += 1
            if stream == "upstream":
                self._send_error(exc)
            return
        counts.datagrams_out += 1
        counts.bytes_out += len(payload)
        session.bytes[stream] += len(payload)

    # -- toxics, counters, API views --------------------------------------------------------------
    def toxics_changed(self, removed: set[str] | None = None) -> None:
        self.publish_counters()
        specs: dict[str, list[ToxicSpec]] = {"upstream": [], "downstream": []}
        counters: dict[str, tuple[str, str, DatagramCounters]] = {}
        for toxic in self.toxics:
            if toxic.kind != "datagram":
                continue
            old = self._toxic_counters.get(toxic.name)
            same = old is not None and old[0] == toxic.stream and old[1] == toxic.type
            toxic_counters = old[2] if same else DatagramCounters()
            counters[toxic.name] = (toxic.stream, toxic.type, toxic_counters)
            specs[toxic.stream].append(
                ToxicSpec(
                    name=toxic.name,
                    kind=toxic.type,
                    attributes=toxic.runtime.attributes,
                    toxicity=toxic.toxicity,
                    counters=toxic_counters,
                    version=toxic.version,
                )
            )
        for name, (stream, _, old_counters) in self._toxic_counters.items():
            if counters.get(name, (None, None, None))[2] is not old_counters:
                self.counters.retire(name, stream, old_counters)
        self._specs = specs
        self._toxic_counters = counters
        for session in list(self._sessions.values()):
            session.sync_toxics(specs)

    def counters_changed(self) -> None:
        # Metrics are pushed at most every PUBLISH_INTERVAL_S, not per readiness event: at
        # high rates an event carries a few datagrams and the push would cost more than them.
        if self._publish_timer is None and self._listener is not None:
            self._publish_timer = self.loop.call_later(PUBLISH_INTERVAL_S, self._publish_due)

    def _publish_due(self) -> None:
        self._publish_timer = None
        self.publish_counters()

    def publish_counters(self, force_event: bool = False) -> None:
        changed = self.counters.publish(self._toxic_counters)
        now = time.monotonic()
        if (changed and now - self._last_stats_event >= STATS_EVENT_INTERVAL_S) or force_event:
            # A summary at most once a second: a per-datagram event would drown the feed.
            self._last_stats_event = now
            self.ctx.events.publish(
                "udp.stats", proxy=self.name, **self.counters.snapshot(self._toxic_counters)
            )

    def connections(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self._sessions.values()]

    def stats(self) -> dict[str, Any]:
        return {
            "sessions_active": len(self._sessions),
            "sessions_total": int(self._session_series.get()),
            "sessions_rejected": int(self._rejected_series.get()),
            "upstream_failures": int(self._fail_series.get()),
            "last_upstream_error": self.last_upstream_error,
            "datagrams": self.counters.snapshot(self._toxic_counters),
        }


register_proxy_class(UdpProxy)
