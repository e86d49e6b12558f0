"""Correctness under load: byte-exact forwarding, checked by SHA-256 at both ends, and no
descriptor leak after many short connections."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.faultproxy.fp_hash_server import HEADER
from tests.services.faultproxy.fp_support import (
    Api,
    EchoServer,
    faultproxy_process,
    hash_exchange,
    hash_server,
    wait_until,
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    with hash_server() as port:
        yield port


@pytest.fixture(scope="module")
def fp() -> Iterator[tuple[Api, int]]:
    with faultproxy_process() as (api, proc):
        yield api, proc.pid


async def many(port: int, count: int, up: int, down: int) -> None:
    await asyncio.gather(*(hash_exchange(port, up, down, seed) for seed in range(count)))


def run_load(api: Api, name: str, upstream: int, count: int, size: int, toxics: list[dict]) -> None:
    port = api.create(name, upstream)
    for toxic in toxics:
        assert api.post(f"/proxies/{name}/toxics", toxic).status_code == 200
    asyncio.run(asyncio.wait_for(many(port, count, size, size), 240))
    stats = wait_until(
        lambda: (s := api.get(f"/proxies/{name}").json()["stats"])["connections_active"] == 0 and s
    )
    assert stats["connections_total"] == count
    assert stats["bytes_upstream"] == count * (HEADER.size + size)
    assert stats["bytes_downstream"] == count * (size + 32)
    metrics = api.get("/metrics").text
    for toxic in toxics:
        series = f'proxy="{name}",toxic="{toxic["type"]}_{toxic["stream"]}",type="{toxic["type"]}"'
        assert f"faultproxy_toxic_activations_total{{{series}}} {count}" in metrics
    api.delete(f"/proxies/{name}")


@pytest.mark.slow
def test_200_connections_byte_exact_zero_copy(fp: tuple[Api, int], upstream: int) -> None:
    run_load(fp[0], "load", upstream, 200, 2_000_000, [])


@pytest.mark.slow
def test_200_connections_byte_exact_with_slicer_and_latency(
    fp: tuple[Api, int], upstream: int
) -> None:
    toxics = [
        {
            "type": "slicer",
            "stream": "upstream",
            "attributes": {"average_size": 8192, "size_variation": 4000},
        },
        {"type": "latency", "stream": "upstream", "attributes": {"latency": 20, "jitter": 5}},
        {
            "type": "slicer",
            "stream": "downstream",
            "attributes": {"average_size": 8192, "size_variation": 4000},
        },
        {"type": "latency", "stream": "downstream", "attributes": {"latency": 20, "jitter": 5}},
    ]
    run_load(fp[0], "load_toxic", upstream, 200, 2_000_000, toxics)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def short_connections(port: int, total: int, parallel: int = 50) -> None:
    sem = asyncio.Semaphore(parallel)

    async def one(i: int) -> None:
        async with sem:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            payload = str(i).encode()
            writer.write(payload)
            assert await reader.readexactly(len(payload)) == payload
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(one(i) for i in range(total)))


@pytest.mark.slow
def test_no_fd_leak_after_10000_short_connections(fp: tuple[Api, int]) -> None:
    api, pid = fp
    echo = EchoServer()
    try:
        port = api.create("fds", echo.port)
        asyncio.run(short_connections(port, 200))  # warm up (lazy imports, pools)
        wait_until(lambda: api.get("/proxies/fds").json()["stats"]["connections_active"] == 0)
        baseline = open_fds(pid)
        asyncio.run(asyncio.wait_for(short_connections(port, 10_000), 240))
        wait_until(
            lambda: api.get("/proxies/fds").json()["stats"]["connections_active"] == 0, timeout=15
        )
        wait_until(lambda: open_fds(pid) <= baseline, timeout=10)
        assert api.get("/proxies/fds").json()["stats"]["connections_total"] == 10_200
    finally:
        echo.close()
        api.delete("/proxies/fds")


def test_fd_helper_sees_sockets() -> None:
    before = open_fds(os.getpid())
    with socket.socket():
        assert open_fds(os.getpid()) == before + 1
    assert Path(f"/proc/{os.getpid()}/fd").is_dir()


def test_toxics_toggled_during_transfers_lose_nothing(fp: tuple[Api, int], upstream: int) -> None:
    """Adding and removing toxics mid-stream moves live connections between the splice
    path and the toxic chain (and rebuilds chains) without losing or reordering a byte."""
    api = fp[0]
    port = api.create("toggle", upstream)
    stop = threading.Event()

    def toggler() -> None:
        toxics = [
            {
                "name": "sl",
                "type": "slicer",
                "stream": "downstream",
                "attributes": {"average_size": 3000, "size_variation": 1000},
            },
            {"name": "lat", "type": "latency", "stream": "upstream", "attributes": {"latency": 5}},
            {
                "name": "lim",
                "type": "limit_data",
                "stream": "upstream",
                "attributes": {"bytes": 10**12},
            },
        ]
        i = 0
        while not stop.is_set():
            toxic = toxics[i % len(toxics)]
            api.post("/proxies/toggle/toxics", toxic)
            time.sleep(0.03)
            if i % 2:
                api.post(f"/proxies/toggle/toxics/{toxic['name']}", {"attributes": {}})
            time.sleep(0.03)
            api.delete(f"/proxies/toggle/toxics/{toxic['name']}")
            i += 1

    thread = threading.Thread(target=toggler)
    thread.start()
    try:
        asyncio.run(asyncio.wait_for(many(port, 8, 30_000_000, 30_000_000), 180))
    finally:
        stop.set()
        thread.join()
    metrics = api.get("/metrics").text
    assert re.search(r'faultproxy_splice_fallbacks_total\{proxy="toggle"\} [1-9]', metrics)
    api.delete("/proxies/toggle")
