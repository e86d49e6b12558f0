"""One proxied TCP connection: two directions, each on the splice path or the toxic chain.

A `Direction` moves bytes from ``src`` to ``dst``:

- **splice mode** (no toxic needs the bytes): a `SplicePump`, zero-copy;
- **chain mode**: ``reader -> stage ... stage -> writer`` with `Channel`s in between
  (see `stream_toxic`);
- **screen mode** (http toxics, no byte-level toxic): a `CopyPump` through the HTTP
  layer's screen, which relays requests no toxic touches at callback cost and hands the
  connection to the chain, at a message boundary, when one needs more (see `http.screen`).

`Direction.configure` is called on every toxic change and switches live:

- splice -> chain: stop the pump, take the bytes left in its pipe, start the chain
  with them at its head;
- chain -> chain: interrupt the stages (each flushes what it holds), then rebuild. Items
  that were between stages go to the first new stage they have not yet passed, so a
  toxic that stays never sees the same bytes twice (``limit_data`` counts stay right);
- chain -> splice: stop reading, let the writer drain everything queued, then start
  the pump.

End of stream is passed on as a half-close (``shutdown(SHUT_WR)``), so a client that
shuts down its write side still gets the response. The connection ends when both
directions have ended, or at once on an error, a toxic's close, or ``enabled: false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.faultproxy.tcp.copy_pump import CopyPump
from services.faultproxy.tcp.splice_pump import SPLICE_AVAILABLE, SplicePump
from services.faultproxy.tcp.stream_toxic import Channel, Chunk, StreamToxic, ToxicStub, forward

if TYPE_CHECKING:
    from services.faultproxy.core.proxy_base import Toxic
    from services.faultproxy.tcp.http_hook import HttpLayer, Screen
    from services.faultproxy.tcp.proxy import TcpProxy

log = logging.getLogger("faultproxy.tcp")

READ_SIZE = 65536
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


async def _wait_fd(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    """Wait until ``fd`` is readable (or writable). Cancelling it consumes nothing."""
    fut = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    if write:
        loop.add_writer(fd, ready)
    else:
        loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


@dataclass
class StageSlot:
    key: tuple[str, int]
    task: asyncio.Task[None]
    stub: ToxicStub
    toxic: Toxic | None


class Direction:
    def __init__(
        self, conn: Connection, stream: str, src: socket.socket, dst: socket.socket
    ) -> None:
        self.conn = conn
        self.stream = stream
        self.src = src
        self.dst = dst
        self.loop = conn.loop
        self.bytes = 0
        self.mode = "idle"
        self.done = asyncio.Event()  # EOF written to dst (or the direction gave up)
        self._bytes_series = conn.proxy.bytes_series[stream]
        self._received_series = conn.proxy.received_series[stream]
        self._pump: SplicePump | None = None
        self._copy: CopyPump | None = None
        self._head = Channel()
        self._tail = Channel()
        self._channels: list[Channel] = []  # between stages: _channels[i] feeds stage i+1
        self._slots: list[StageSlot] = []
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._writer_busy = False
        self._reader_eof = False
        self._switching: asyncio.Task[None] | None = None
        self._migration: asyncio.Task[None] | None = None
        self._pending: list[tuple[Toxic, StreamToxic]] | None = None
        self._generation = 0  # configure() calls so far: a deferred one must not be stale
        self._http_stage: Callable[[], StreamToxic | None] | None = None

    # ---- accounting -------------------------------------------------------------------

    def _count(self, n: int) -> None:
        self.bytes += n
        self._bytes_series.inc(n)

    # ---- configuration ----------------------------------------------------------------

    def configure(
        self,
        toxics: list[tuple[Toxic, StreamToxic]],
        http_stage: Callable[[], StreamToxic | None] | None,
        screen: Screen | None = None,
    ) -> None:
        """Run this direction with ``toxics`` (already rolled for toxicity), live; or, with
        ``screen`` (and neither toxics nor a stage), screened."""
        if self.done.is_set() or self.conn.closed:
            return
        self._generation += 1
        self._http_stage = http_stage
        if screen is not None:
            self._start_screen(screen)
            return
        needs_chain = bool(toxics) or http_stage is not None or not SPLICE_AVAILABLE
        if self.mode == "screen":
            assert self._copy is not None
            if not needs_chain and self._copy.idle:
                self._copy.stop()
                self._copy = None
                self._start_splice()
                return
            self._screen_to_chain()
            self._rebuild(toxics)
            if not needs_chain and not self._reader_eof:
                self._switching = self.loop.create_task(self._chain_to_splice())
            return
        if self._switching is not None and not self._switching.done():
            # A switch to splice is draining; remember the latest wish and apply it after.
            self._pending = toxics
            if needs_chain:
                self._switching.cancel()
            return
        if self.mode == "splice":
            if needs_chain:
                self._splice_to_chain()
                self._rebuild(toxics)
        elif self.mode == "chain":
            self._rebuild(toxics)
            if not needs_chain and not self._reader_eof:
                self._switching = self.loop.create_task(self._chain_to_splice())
        else:  # idle: the first configuration
            if needs_chain:
                self._start_chain()
                self._rebuild(toxics)
            else:
                self._start_splice()

    def _configure_pending(self, generation: int, toxics: list[tuple[Toxic, StreamToxic]]) -> None:
        """Apply the wish kept during a switch, unless a newer configure() came since."""
        if generation == self._generation:
            self.configure(toxics, self._http_stage)

    # ---- splice mode ------------------------------------------------------------------

    def _start_splice(self) -> None:
        try:
            self._pump = SplicePump(
                self.loop,
                self.src.fileno(),
                self.dst.fileno(),
                self._count,
                self._on_pump_eof,
                self._on_pump_error,
                self._received_series.inc,
            )
        except OSError as exc:
            # Out of descriptors or pipe pages: this direction still works, by copying.
            log.warning("%s: no splice pipe (%s); copying instead", self.conn.describe(), exc)
            self._start_chain()
            self._rebuild([])
            return
        self.mode = "splice"
        self._pump.start()

    def _on_pump_eof(self) -> None:
        self._shutdown_dst()

    def _on_pump_error(self, exc: OSError, where: str) -> None:
        self.conn.io_error(self, exc, where)

    def _leave_splice(self) -> tuple[bytes, bool]:
        """Stop the pump; return (the bytes left in its pipe, whether EOF was seen)."""
        assert self._pump is not None
        leftover, eof = self._pump.stop()
        self._pump.close()
        self._pump = None
        self.conn.proxy.metrics.splice_fallbacks.inc(1, proxy=self.conn.proxy.name)
        return leftover, eof

    def _splice_to_chain(self) -> None:
        self._chain_from(*self._leave_splice())

    def _chain_from(self, unread: bytes, eof: bool) -> None:
        """Start the chain with ``unread`` (bytes taken from the source that no stage has
        seen yet) at its head, and the EOF after them if it was seen."""
        self._start_chain(start_reader=not eof)
        items: list[Chunk | None] = [Chunk(unread)] if unread else []
        if eof:
            self._reader_eof = True
            items.append(None)
        self._head.push_front(items)

    # ---- screen mode ------------------------------------------------------------------

    def _start_screen(self, screen: Screen) -> None:
        """Copy through the screen. Only from idle or splice: the connection never screens
        a direction the chain has had (it asks only while neither direction is chained)."""
        if self.mode == "screen":
            return
        first, eof = self._leave_splice() if self.mode == "splice" else (b"", False)
        self.mode = "screen"
        self._copy = CopyPump(
            self.loop,
            self.src,
            self.dst,
            screen.client_bytes if self.stream == "upstream" else screen.upstream_bytes,
            self._count,
            self._received_series.inc,
            self._shutdown_dst,
            self._on_pump_error,
        )
        self._copy.start(first, eof)

    def _screen_to_chain(self) -> None:
        """Hand over to the chain: what the screen let through but the receiver has not
        taken goes to the writer; what it held back goes to the chain's head."""
        assert self._copy is not None
        passed, held, eof = self._copy.stop()
        self._copy = None
        self._chain_from(held, eof)
        if passed:
            self._tail.put_nowait(Chunk(passed))

    # ---- chain mode -------------------------------------------------------------------

    def _start_chain(self, start_reader: bool = True) -> None:
        self.mode = "chain"
        if start_reader and not self._reader_eof:
            self._reader = self.loop.create_task(self._read_loop())
        if self._writer is None or self._writer.done():
            self._writer = self.loop.create_task(self._write_loop())

    async def _read_loop(self) -> None:
        sock, fd = self.src, self.src.fileno()
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except BlockingIOError:
                await _wait_fd(self.loop, fd, write=False)
                continue
            except OSError as exc:
                self.conn.io_error(self, exc, "read")
                return
            item = Chunk(data) if data else None
            if item is None:
                # Set before the put: if it is interrupted, the EOF is still queued (below),
                # and a reader restarted after it would queue a second one.
                self._reader_eof = True
            self._received_series.inc(len(data))
            try:
                await self._head.put(item)
            except asyncio.CancelledError:
                self._head.put_nowait(item)  # read already: it must not be lost
                raise
            if item is None:
                return

    async def _write_loop(self) -> None:
        sock, fd = self.dst, self.dst.fileno()
        while True:
            item = await self._tail.get()
            if item is None:
                self._shutdown_dst()
                return
            self._writer_busy = True
            view = memoryview(item.data)
            try:
                while view:
                    try:
                        sent = sock.send(view)
                    except BlockingIOError:
                        await _wait_fd(self.loop, fd, write=True)
                        continue
                    self._count(sent)
                    view = view[sent:]
            except OSError as exc:
                self.conn.io_error(self, exc, "write")
                return
            finally:
                self._writer_busy = False

    def inject(self, data: bytes) -> None:
        """Queue bytes straight to the writer (the HTTP layer answering a request itself)."""
        if self.mode != "chain":
            raise RuntimeError("inject needs the chain mode (an http toxic forces it)")
        self._tail.put_nowait(Chunk(data))

    def _rebuild(self, toxics: list[tuple[Toxic, StreamToxic]]) -> None:
        """Replace the stages with ones for ``toxics``, keeping every queued byte."""
        specs: list[tuple[tuple[str, int], Toxic | None, Any]] = []
        if self._http_stage is not None:
            stage = self._http_stage()
            if stage is not None:
                specs.append((("\0http", 0), None, stage))
        for toxic, runtime in toxics:
            specs.append(((toxic.name, toxic.version), toxic, runtime))
        if not specs:
            specs.append((("\0forward", 0), None, None))

        old_keys = [slot.key for slot in self._slots]
        # Stop the old stages. A cancelled stage flushes what it holds into its output.
        for slot in self._slots:
            slot.task.cancel()
        # Cancellation is delivered on the next loop iteration; the stages' flush code
        # runs then. Until it has, hold on to the old channels and finish the rebuild in
        # a task, so configure() itself stays synchronous for the API.
        old_slots, old_channels = self._slots, self._channels
        new_channels = [Channel() for _ in range(len(specs) - 1)]
        self._channels = new_channels
        self._slots = []

        def output_of(i: int) -> Channel:
            return new_channels[i] if i < len(new_channels) else self._tail

        def input_of(i: int) -> Channel:
            return self._head if i == 0 else new_channels[i - 1]

        gate = asyncio.Event()
        if not old_slots:
            gate.set()
        for i, (key, toxic, runtime) in enumerate(specs):
            stub = ToxicStub(
                input=input_of(i),
                output=output_of(i),
                conn=self.conn,
                stream=self.stream,
                state=self.conn.toxic_state(self.stream, key[0]),
                on_effect=None if toxic is None else self._effect_reporter(toxic),
            )
            task = self.loop.create_task(self._run_stage(runtime, stub, gate))
            self._slots.append(StageSlot(key, task, stub, toxic))

        if old_slots:
            new_keys = [key for key, _, _ in specs]
            self._migration = self.loop.create_task(
                self._migrate(
                    self._migration, old_slots, old_channels, old_keys, new_keys, new_channels, gate
                )
            )

    def _effect_reporter(self, toxic: Toxic) -> Callable[[], None]:
        def report() -> None:
            self.conn.toxic_triggered(self.stream, toxic)

        return report

    async def _migrate(
        self,
        previous: asyncio.Task[None] | None,
        old_slots: list[StageSlot],
        old_channels: list[Channel],
        old_keys: list[tuple[str, int]],
        new_keys: list[tuple[str, int]],
        new_channels: list[Channel],
        gate: asyncio.Event,
    ) -> None:
        """Move items queued between old stages to where the new chain needs them."""
        # Rebuilds are serialised: the previous migration fills the channels we drain.
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        await asyncio.gather(*(slot.task for slot in old_slots), return_exceptions=True)
        # Oldest first: the channel nearest the writer holds the earliest bytes. Appending
        # in that order keeps every target in order, but the head is different: it already
        # holds bytes read after all of these, so they go *before* them. They must go there
        # in one block. Pushing each old channel to the front as it came (the bug of issue
        # 15) put every younger channel before the older one pushed just before it: with
        # 3+ stages (2+ non-empty channels) and every toxic re-posted (all new keys, so all
        # go back to the head), whole channels of 4 KB-2 MB came out swapped.
        to_head: list[Chunk | None] = []
        for pos in range(len(old_channels) - 1, -1, -1):
            passed = set(old_keys[: pos + 1])
            items = old_channels[pos].drain()
            if not items:
                continue
            j = 0
            while j < len(new_keys) and new_keys[j] in passed:
                j += 1
            if j == 0:
                to_head.extend(items)
                continue
            target = self._tail if j >= len(new_keys) else new_channels[j - 1]
            for item in items:
                target.put_nowait(item)
        self._head.push_front(to_head)
        gate.set()

    async def _run_stage(self, runtime: Any, stub: ToxicStub, gate: asyncio.Event) -> None:
        await gate.wait()
        try:
            if runtime is None:
                await forward(stub)
            else:
                await runtime.pipe(stub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a toxic bug must not leave a connection hanging
            log.exception("toxic stage failed on %s: %s", self.conn.describe(), exc)
            self.conn.close_connection(reason=f"toxic error: {exc}")

    def _drained(self) -> bool:
        return not (
            len(self._head)
            or any(len(c) for c in self._channels)
            or len(self._tail)
            or self._writer_busy
            or any(not slot.stub.idle for slot in self._slots)
            or (self._migration is not None and not self._migration.done())
        )

    async def _chain_to_splice(self) -> None:
        """Stop reading, let everything queued reach the writer, then splice again."""
        try:
            if self._reader is not None:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
                self._reader = None
            while not self._drained():
                await asyncio.sleep(0.002)
        except asyncio.CancelledError:
            # A toxic was added while draining: read again, in chain mode. The cancel may
            # land while we wait for the cancelled reader, which is then done but not None.
            reading = self._reader is not None and not self._reader.done()
            if not self.conn.closed and not self._reader_eof and not reading:
                self._reader = self.loop.create_task(self._read_loop())
            raise
        finally:
            self._switching = None
            pending, self._pending = self._pending, None
            if pending is not None and not self.conn.closed:
                self.loop.call_soon(self._configure_pending, self._generation, pending)
        if self._reader_eof or self.done.is_set() or self.conn.closed:
            return
        # Every stage waits on an empty channel and holds nothing, so cancelling loses nothing.
        for task in (*(slot.task for slot in self._slots), self._writer):
            if task is not None:
                task.cancel()
        self._slots, self._channels, self._writer = [], [], None
        self._start_splice()

    def _shutdown_dst(self) -> None:
        if not self.done.is_set():
            with contextlib.suppress(OSError):
                self.dst.shutdown(socket.SHUT_WR)
            self.done.set()
            self.conn.direction_done()

    def active_toxics(self) -> list[str]:
        return [slot.toxic.name for slot in self._slots if slot.toxic is not None]

    def removed_toxics(self, names: set[str]) -> None:
        for slot in self._slots:
            if slot.toxic is not None and slot.toxic.name in names:
                slot.toxic.runtime.removed(slot.stub)

    def stop(self) -> list[asyncio.Task[Any]]:
        """Stop everything at once (the connection is closing); return the tasks still
        winding down, which the sockets must outlive (see `Connection._close_now`)."""
        if self._pump is not None:
            self._pump.close()
            self._pump = None
        if self._copy is not None:
            self._copy.stop()
            self._copy = None
        tasks = (self._reader, self._writer, self._switching, self._migration)
        live = [
            t for t in (*tasks, *(s.task for s in self._slots)) if t is not None and not t.done()
        ]
        for task in live:
            task.cancel()
        return live


class Connection:
    """A client socket, its upstream socket, and the two directions between them."""

    def __init__(
        self, proxy: TcpProxy, conn_id: int, client: socket.socket, upstream: socket.socket
    ) -> None:
        self.proxy = proxy
        self.id = conn_id
        self.loop = proxy.loop
        self.client = client
        self.upstream = upstream
        self.proxy_name = proxy.name
        peer = client.getpeername()
        self.client_address = f"{peer[0]}:{peer[1]}"
        self.started = time.time()
        self._started_mono = time.monotonic()
        self.closed = False
        self.close_reason = ""
        self._rolls: dict[str, tuple[float, bool]] = {}
        self._states: dict[tuple[str, str], dict[str, Any]] = {}
        self._http_layer: HttpLayer | None = None
        self._http_layer_made = False
        self.finished = asyncio.Event()
        self.directions = {
            "upstream": Direction(self, "upstream", client, upstream),
            "downstream": Direction(self, "downstream", upstream, client),
        }

    def describe(self) -> str:
        return f"{self.proxy_name}#{self.id} from {self.client_address}"

    def toxic_triggered(self, stream: str, toxic: Toxic) -> None:
        """A toxic acted on this connection (closed it, reset it): one event per toxic."""
        state = self.toxic_state(stream, toxic.name)
        if not state.get("_triggered"):
            state["_triggered"] = True
            self.proxy.ctx.events.publish(
                "toxic.triggered",
                proxy=self.proxy_name,
                id=self.id,
                toxic=toxic.name,
                type=toxic.type,
                stream=stream,
            )

    def toxic_state(self, stream: str, name: str) -> dict[str, Any]:
        return self._states.setdefault((stream, name), {})

    # ---- toxics ---------------------------------------------------------------------

    def _rolled_active(self, toxic: Toxic) -> bool:
        """Toxicity is rolled once per connection (and again if the toxicity changes)."""
        seen = self._rolls.get(toxic.name)
        if seen is None or seen[0] != toxic.toxicity:
            active = random.random() < toxic.toxicity  # 0 never, 1 always
            self._rolls[toxic.name] = (toxic.toxicity, active)
            if active:
                self.proxy.metrics.toxic_activations.inc(
                    1, proxy=self.proxy_name, toxic=toxic.name, type=toxic.type
                )
            return active
        return seen[1]

    def apply_toxics(self, removed: set[str] | None = None) -> None:
        if self.closed:
            return
        if removed:
            for direction in self.directions.values():
                direction.removed_toxics(removed)
            for name in removed:
                self._rolls.pop(name, None)
                for stream in ("upstream", "downstream"):
                    self._states.pop((stream, name), None)
            if self.closed:
                return
        http_toxics = self.proxy.toxics.of_kind("http")
        layer = self._get_http_layer() if http_toxics else None
        chains: dict[str, list[tuple[Toxic, StreamToxic]]] = {}
        for stream in self.directions:
            chains[stream] = [
                (t, t.runtime)
                for t in self.proxy.toxics.for_stream(stream)
                if t.kind == "stream" and self._rolled_active(t) and t.toxic_type.needs_bytes
            ]
            # Activations of toxics that do not need bytes (noop) still count.
            for t in self.proxy.toxics.for_stream(stream):
                if t.kind == "stream" and not t.toxic_type.needs_bytes:
                    self._rolled_active(t)
        screen = None
        if layer is not None:
            screenable = not any(chains.values()) and all(
                d.mode in ("idle", "splice", "screen") for d in self.directions.values()
            )
            screen = layer.screen(self._screen_ready) if screenable else None
            if screen is None and not layer.leave_screen():
                return  # the screen hands over at the next boundary, then calls back
        elif self._http_layer is not None:
            self._http_layer.drop_screen()
        for stream, direction in self.directions.items():
            http_stage = None
            if layer is not None and screen is None:
                http_stage = layer.request_stage if stream == "upstream" else layer.response_stage
            direction.configure(chains[stream], http_stage, screen)

    def _screen_ready(self) -> None:
        """The HTTP screen can hand over now: apply the toxics again (off this callback)."""
        self.loop.call_soon(self.apply_toxics)

    def _get_http_layer(self) -> HttpLayer | None:
        if not self._http_layer_made:
            self._http_layer_made = True
            factory = self.proxy.http_layer_factory()
            if factory is not None:
                self._http_layer = factory(
                    self, lambda: self.proxy.toxics.of_kind("http"), self.proxy.http_report
                )
        return self._http_layer

    # ---- ConnectionHandle -----------------------------------------------------------

    def inject(self, stream: str, data: bytes) -> None:
        self.directions[stream].inject(data)

    def close_connection(
        self, *, reset: bool = False, reason: str = "", flush_stream: str | None = None
    ) -> None:
        if self.closed:
            return
        if flush_stream is not None and not reset:
            self.loop.create_task(self._close_after_flush(flush_stream, reason))
            return
        self._close_now(reset, reason)

    async def _close_after_flush(self, stream: str, reason: str) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.directions[stream].done.wait(), 5.0)
        self._close_now(False, reason)

    # ---- lifecycle ------------------------------------------------------------------

    def direction_done(self) -> None:
        if all(d.done.is_set() for d in self.directions.values()):
            self._close_now(False, "both sides closed")

    def io_error(self, direction: Direction, exc: OSError, where: str) -> None:
        # A reset on one side is passed on as a reset to the other, so the proxy is
        # invisible; anything else is an ordinary close.
        reset = exc.errno in _RESET_ERRNOS
        self._close_now(reset, f"{direction.stream} {where} error: {exc.strerror or exc}")

    def _close_now(self, reset: bool, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if reset:
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        live = [t for d in self.directions.values() for t in d.stop()]
        if live:
            # A cancelled task unregisters its fd callbacks only when it runs next. Closing
            # the sockets first would let a new connection reuse the fd number and then
            # lose its own callback to that late unregistration.
            self.loop.create_task(self._close_sockets_after(live))
        else:
            self._close_sockets()
        self.finished.set()
        self.proxy.connection_closed(self, reset, reason)

    async def _close_sockets_after(self, tasks: list[asyncio.Task[Any]]) -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def to_json(self) -> dict[str, Any]:
        up, down = self.directions["upstream"], self.directions["downstream"]
        return {
            "id": self.id,
            "client": self.client_address,
            "age_seconds": round(time.monotonic() - self._started_mono, 3),
            "started": round(self.started, 3),
            "bytes": {"upstream": up.bytes, "downstream": down.bytes},
            "toxics": {"upstream": up.active_toxics(), "downstream": down.active_toxics()},
            "mode": {"upstream": up.mode, "downstream": down.mode},
        }
