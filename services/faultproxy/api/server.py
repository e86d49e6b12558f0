"""The API's HTTP/1.1 server: asyncio streams + h11, keep-alive, and SSE for ``/events``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import socket
import struct
import time

import h11

from services.faultproxy.api.input_parsing import ApiError
from services.faultproxy.api.routes import MAX_BODY, ApiRoutes, Request, Response, split_path

log = logging.getLogger("faultproxy.api")

READ_SIZE = 65536
IDLE_TIMEOUT_S = 120.0
SSE_KEEPALIVE_S = 15.0
# After an error answer to a request we stopped reading (a huge head, a huge body): how
# long, and how much, to keep reading and discarding what the client still sends.
LINGER_S = 2.0
LINGER_MAX_BYTES = 64 * 1024 * 1024


_request_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


def request_id() -> str:
    """A unique id per answer in the shape of Toxiproxy's (an xid: 20 base32hex chars)."""
    raw = struct.pack(">IQ", int(time.time()), next(_request_counter) & (2**64 - 1))
    return base64.b32hexencode(raw).decode()[:20].lower()


class ApiServer:
    def __init__(self, routes: ApiRoutes) -> None:
        self.routes = routes
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:  # a bug in one API connection must not go unseen, nor spread
            log.exception("API connection failed")
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        while True:
            try:
                request = await self._read_request(conn, reader, writer)
            except h11.RemoteProtocolError as exc:
                await self._send_error(
                    conn, writer, exc.error_status_hint, f"bad HTTP request: {exc}"
                )
                await _linger(reader, writer)
                return
            except ApiError as exc:
                await self._send_error(conn, writer, exc.status, str(exc))
                await _linger(reader, writer)
                return
            if request is None:
                return
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %r", request.method, request.path, request.body[:2000])
            if split_path_safe(request.path) == ["events"] and request.method == "GET":
                refused = self.routes.refuse(request)
                if refused is None:
                    await self._stream_events(conn, reader, writer, request)
                    return
                response = refused
            else:
                response = self.routes.handle(request)
                if request.method != "GET":
                    await self.routes.manager.wait_saved()  # --persist: the file has it
            await self._send(conn, writer, response)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    # curl sends "Expect: 100-continue" for bodies over 1 KB and would
                    # otherwise wait a second before sending the body.
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), IDLE_TIMEOUT_S)
                except TimeoutError:
                    return None
                conn.receive_data(data)
                if not data and head is None and conn.their_state is h11.IDLE:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise ApiError(f"request body over {MAX_BODY} bytes", 413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers
                }
                return Request(
                    head.method.decode("ascii", "replace"),
                    head.target.decode("latin-1"),
                    headers,
                    bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response
    ) -> None:
        headers = [("Server", "faultproxy"), ("X-Toxiproxy-Request-Id", request_id())]
        if response.status != 204:
            headers += [
                ("Content-Type", response.content_type),
                ("Content-Length", str(len(response.body))),
            ]
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
        if response.body and response.status != 204:
            writer.write(conn.send(h11.Data(data=response.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def _send_error(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, message: str
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = Response.error(status, message)
        with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
            writer.write(
                conn.send(
                    h11.Response(
                        status_code=status,
                        headers=[
                            ("Content-Type", "application/json"),
                            ("Content-Length", str(len(body.body))),
                            ("X-Toxiproxy-Request-Id", request_id()),
                            ("Connection", "close"),
                        ],
                    )
                )
            )
            writer.write(conn.send(h11.Data(data=body.body)))
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()

    async def _stream_events(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
    ) -> None:
        """``GET /events``: Server-Sent Events until the client goes away.

        ``?since=0`` first replays the recent history (events with a larger id).
        """
        bus = self.routes.manager.ctx.events
        sub = bus.subscribe()
        writer.write(
            conn.send(
                h11.Response(
                    status_code=200,
                    headers=[
                        ("Content-Type", "text/event-stream"),
                        ("Cache-Control", "no-cache"),
                        ("X-Toxiproxy-Request-Id", request_id()),
                        ("Connection", "close"),
                    ],
                )
            )
        )
        since = _query_int(request.path, "since")
        backlog = [e for e in bus.recent if since is not None and e.id > since]
        # The client sends nothing more; reading tells us when it hangs up.
        gone = asyncio.ensure_future(reader.read(1))
        try:
            writer.write(conn.send(h11.Data(data=b": faultproxy events\n\n")))
            for event in backlog:
                writer.write(conn.send(h11.Data(data=_sse(event))))
            await writer.drain()
            while not gone.done():
                next_event = asyncio.ensure_future(sub.next(SSE_KEEPALIVE_S))
                await asyncio.wait({next_event, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    next_event.cancel()
                    break
                event = next_event.result()
                payload = b": keep-alive\n\n" if event is None else _sse(event)
                writer.write(conn.send(h11.Data(data=payload)))
                await writer.drain()
        finally:
            sub.close()
            gone.cancel()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then read and discard what the client is still sending, for a while.

    Closing a socket whose receive buffer holds unread bytes makes the kernel send a
    reset, and a reset can destroy the error answer before the client reads it: a client
    that sent a 1 MB header would see ECONNRESET instead of 431.
    """
    with contextlib.suppress(OSError, RuntimeError, NotImplementedError):
        writer.write_eof()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LINGER_S
    drained = 0
    while drained < LINGER_MAX_BYTES:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            chunk = await asyncio.wait_for(reader.read(READ_SIZE), remaining)
        except (TimeoutError, ConnectionError):
            return
        if not chunk:
            return
        drained += len(chunk)


def _sse(event: object) -> bytes:
    data = json.dumps(event.as_json())  # type: ignore[attr-defined]
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()  # type: ignore[attr-defined]


def split_path_safe(path: str) -> list[str]:
    try:
        return split_path(path)
    except ApiError:
        return []


def _query_int(path: str, key: str) -> int | None:
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(path).query).get(key)
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        return None
