"""The Overview's live feed: faultproxy's ``/events`` and the services' request logs,
merged into one Server-Sent Events stream for the page.

Local backend: the log files are tailed directly. Another backend: its ``logs(follow=True)``
in a thread per service. Either way one bounded queue per page; a slow page loses its
oldest lines rather than holding the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

FEED_SERVICES = ("rawhttp", "restapi", "udpstream")
QUEUE_MAX = 500


def sse(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def _faultproxy_events(url: str, headers: dict, put: Any, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with (
                httpx.AsyncClient(timeout=None, trust_env=False, headers=headers) as client,
                client.stream("GET", url + "/events") as response,
            ):
                kind = "message"
                async for line in response.aiter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        try:
                            data = json.loads(line[5:])
                        except ValueError:
                            continue
                        put({"source": "faultproxy", "kind": kind, "text": _describe(data)})
        except (httpx.HTTPError, OSError) as exc:
            put({"source": "faultproxy", "kind": "unreachable", "text": str(exc)[:200]})
        await asyncio.sleep(2)


def _describe(data: dict) -> str:
    skip = {"id", "kind", "time"}
    return " ".join(f"{k}={v}" for k, v in data.items() if k not in skip)[:300]


async def _tail_file(service: str, path: Path, put: Any, stop: asyncio.Event) -> None:
    position = path.stat().st_size if path.exists() else 0
    while not stop.is_set():
        try:
            size = path.stat().st_size
            if size < position:
                position = 0  # rotated or truncated
            if size > position:
                with path.open("rb") as fh:
                    fh.seek(position)
                    chunk = fh.read(min(size - position, 256 * 1024))
                position += chunk.rfind(b"\n") + 1
                for line in chunk[: chunk.rfind(b"\n") + 1].splitlines():
                    text = line.decode("utf-8", "replace").strip()
                    if text:
                        put({"source": service, "kind": "log", "text": text[:300]})
        except OSError:
            pass
        await asyncio.sleep(0.3)


def _tail_backend(service: str, backend: Any, put: Any, stop: threading.Event) -> None:
    try:
        for line in backend.logs(service, follow=True, tail=0):
            if stop.is_set():
                return
            put({"source": service, "kind": "log", "text": line[:300]})
    except Exception as exc:
        put({"source": service, "kind": "unreachable", "text": str(exc)[:200]})


async def feed(backend: Any, faultproxy_url: str, headers: dict) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict] = asyncio.Queue(QUEUE_MAX)
    stop, thread_stop = asyncio.Event(), threading.Event()

    def put(item: dict) -> None:
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(item)

    def put_threadsafe(item: dict) -> None:
        loop.call_soon_threadsafe(put, item)

    tasks = [asyncio.create_task(_faultproxy_events(faultproxy_url, headers, put, stop))]
    for service in FEED_SERVICES:
        log_path = getattr(backend, "log_path", None)
        if log_path is not None:
            tasks.append(asyncio.create_task(_tail_file(service, log_path(service), put, stop)))
        else:
            threading.Thread(
                target=_tail_backend,
                args=(service, backend, put_threadsafe, thread_stop),
                daemon=True,
            ).start()
    try:
        yield ": wirelab console feed\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield sse("feed", item)
    finally:
        stop.set()
        thread_stop.set()
        for task in tasks:
            task.cancel()
