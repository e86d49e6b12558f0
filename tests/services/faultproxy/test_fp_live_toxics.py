"""Toxics added, updated and removed during a transfer never lose, duplicate or reorder a
byte, in either direction (issue 15, item 1; the promise in docs/faultproxy.md).

A real faultproxy process forwards to `fp_hash_server`, which checks a SHA-256 of what it
received while we check one of what it sent. Meanwhile a thread churns the toxics through
the API: every change rebuilds each live direction's toxic chain (or switches it between
the zero-copy splice path and the chain), which is where bytes used to move.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.services.faultproxy.fp_support import (
    Api,
    EchoServer,
    faultproxy_process,
    hash_exchange,
    hash_server,
    wait_until,
)

Attrs = Callable[[random.Random], dict[str, Any]]

# Each TCP toxic that lets a stream finish, with values that keep 100 MB quick: the test
# is about ordering, not about the toxic's effect. (timeout and reset_peer end the
# connection by design, so they cannot carry a transfer.)
TOXIC_ATTRS: dict[str, Attrs] = {
    "latency": lambda r: {"latency": r.randint(1, 10), "jitter": r.randint(0, 1)},
    # KB/s: 0.5 to 4 GB/s, never the bottleneck but still scheduling every chunk.
    "bandwidth": lambda r: {"rate": r.randint(500_000, 4_000_000)},
    "slicer": lambda r: {
        "average_size": (avg := r.choice([8192, 16384, 32768])),
        "size_variation": r.randint(0, avg // 2),
    },
    "slow_close": lambda r: {"delay": r.randint(0, 20)},
    "noop": lambda r: {},
    "limit_data": lambda r: {"bytes": 10**12},  # far above the transfer: never closes
}
STREAMS = ("upstream", "downstream")
ALL_OFF_EVERY = 25  # churn steps


class ToxicChurn:
    """A thread that adds, updates and removes up to ``count`` toxics of ``types`` on each
    stream of ``proxy`` until stopped. ``changes`` counts the API calls that succeeded."""

    def __init__(self, api_port: int, proxy: str, types: list[str], count: int, seed: int) -> None:
        self.api = Api(api_port)
        self.proxy = proxy
        self.types = types
        self.names = [f"{s[:2]}{i}" for s in STREAMS for i in range(count)]
        self.rng = random.Random(seed)
        self.changes = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ToxicChurn:
        # Start with every toxic on: the long chains are where bytes used to move.
        for name in self.names:
            self._check(self.api.post(f"/proxies/{self.proxy}/toxics", self.body(name)), 200)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.api.close()

    def body(self, name: str) -> dict[str, Any]:
        # A name keeps its type across remove and add, so each is stable enough to update.
        type_ = self.types[self.names.index(name) % len(self.types)]
        stream = "upstream" if name.startswith("up") else "downstream"
        body: dict[str, Any] = {
            "name": name,
            "type": type_,
            "stream": stream,
            "attributes": TOXIC_ATTRS[type_](self.rng),
        }
        # Mostly always on; now and then a toxicity that re-rolls per connection.
        body["toxicity"] = 1.0 if self.rng.random() < 0.8 else self.rng.choice([0.0, 0.5])
        return body

    def step(self, i: int, present: set[str]) -> None:
        r = self.rng.random()
        base = f"/proxies/{self.proxy}/toxics"
        if i % ALL_OFF_EVERY == ALL_OFF_EVERY - 1:
            # All off: both directions go back to the splice path, and the adds that
            # follow move them to the chain again, mid-stream.
            for name in sorted(present):
                self._check(self.api.delete(f"{base}/{name}"), 204)
            present.clear()
        elif present and r < 0.5:  # update (the same values or new ones: both rebuild)
            name = self.rng.choice(sorted(present))
            body = self.body(name)
            del body["type"], body["stream"], body["name"]
            self._check(self.api.post(f"{base}/{name}", body), 200)
        elif present and r < 0.7:
            name = self.rng.choice(sorted(present))
            self._check(self.api.delete(f"{base}/{name}"), 204)
            present.discard(name)
        elif len(present) < len(self.names):
            name = self.rng.choice(sorted(set(self.names) - present))
            self._check(self.api.post(base, self.body(name)), 200)
            present.add(name)

    def _check(self, response: Any, status: int) -> None:
        if response.status_code != status:
            self.errors.append(f"{response.request.method} {response.request.url}: {response.text}")
        else:
            self.changes += 1

    def _run(self) -> None:
        present = set(self.names)
        i = 0
        while not self._stop.is_set():
            self.step(i, present)
            i += 1
            time.sleep(self.rng.uniform(0, 0.004))


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    with hash_server() as port:
        yield port


@pytest.fixture(scope="module")
def fp() -> Iterator[Api]:
    with faultproxy_process() as (api, _proc):
        yield api


def transfer_under_churn(
    api: Api, upstream: int, types: list[str], count: int, size: int, seed: int
) -> tuple[ToxicChurn, int]:
    """Stream ``size`` bytes each way through a new proxy while toxics churn; SHA-256 both."""
    name = f"churn{seed}"
    port = api.create(name, upstream)
    try:
        with ToxicChurn(api.port, name, types, count, seed) as churn:
            # A slow reader, so bytes queue up between the stages of the downstream chain
            # (and the upstream one, behind the server) when a change rebuilds it.
            exchange = hash_exchange(port, size, size, seed, read_pause=0.001)
            asyncio.run(asyncio.wait_for(exchange, 120))
        assert not churn.errors, churn.errors[:3]
        wait_until(lambda: api.get(f"/proxies/{name}").json()["stats"]["connections_active"] == 0)
        # The transfer really ran under churn, through splice -> chain switches.
        assert churn.changes >= ALL_OFF_EVERY + count, churn.changes
        fallbacks = re.search(
            rf'faultproxy_splice_fallbacks_total{{proxy="{name}"}} (\d+)', api.get("/metrics").text
        )
        return churn, int(fallbacks.group(1)) if fallbacks else 0
    finally:
        api.delete(f"/proxies/{name}")


# 100 MB per transfer: half each way, both hashed. FP_CHURN_MB changes it (per direction).
SIZE_PER_DIRECTION = int(os.environ.get("FP_CHURN_MB", "50")) * 1_000_000
CONFIGS = [([t], n) for t in TOXIC_ATTRS for n in (1, 4, 8)] + [(list(TOXIC_ATTRS), 8)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("types", "count"), CONFIGS, ids=[f"{n}x{'+'.join(t)}" for t, n in CONFIGS]
)
def test_toxics_changed_during_transfer_keep_every_byte_in_order(
    fp: Api, upstream: int, types: list[str], count: int
) -> None:
    """Up to ``count`` toxics of ``types`` on each direction, added, updated (re-posted)
    and removed in a loop while 100 MB cross the proxy: the SHA-256 matches at both ends.
    Before the fix, 4 slicers or 4 latency toxics failed this most of the time."""
    seed = CONFIGS.index((types, count))
    _churn, fallbacks = transfer_under_churn(fp, upstream, types, count, SIZE_PER_DIRECTION, seed)
    if types != ["noop"]:
        assert fallbacks >= 1, "no splice -> chain switch happened during the transfer"
    else:
        assert fallbacks == 0  # noop never needs the chain: splice all along


# ---- a state machine over toxic changes during one live transfer ------------------------

# Not a power of two long, so no block the proxy could move is a whole period.
PATTERN = random.Random(15).randbytes(1_000_003)

ATTR_STRATEGIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "latency": st.fixed_dictionaries({"latency": st.integers(0, 20), "jitter": st.integers(0, 5)}),
    "bandwidth": st.fixed_dictionaries({"rate": st.integers(20_000, 5_000_000)}),
    # A slicer delay costs a timer tick (~1 ms) per slice, whatever its value: keep slices
    # big enough for the queued bytes to drain in time.
    "slicer": st.integers(4096, 65536).flatmap(
        lambda avg: st.fixed_dictionaries(
            {
                "average_size": st.just(avg),
                "size_variation": st.integers(0, avg // 2),
                "delay": st.sampled_from([0, 0, 10]),
            }
        )
    ),
    "slow_close": st.fixed_dictionaries({"delay": st.integers(0, 30)}),
    "noop": st.just({}),
    "limit_data": st.just({"bytes": 10**12}),
}
toxicities = st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0])
NAMES = "abcdefgh"


class EchoTransfer:
    """One connection through the proxy to the echo server, with bytes always in flight:
    a thread sends a fixed pattern as fast as the proxy takes it, another reads the echo
    back slowly, so every toxic change meets full queues inside the proxy."""

    PIECE = 65536
    # Ahead of what came back: enough to fill the proxy's channels (2 MB each), little
    # enough to drain in a second or so through the slowest toxics drawn.
    WINDOW = 16_000_000
    MAX_BYTES = 400_000_000  # a bound, far above what an example sends

    def __init__(self, port: int) -> None:
        # A small receive buffer: what the slow reader has not taken stays in the proxy
        # instead of the kernel's socket buffers.
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        self.sent = hashlib.sha256()
        self.sent_bytes = 0
        self.received = hashlib.sha256()
        self.received_bytes = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _send(self) -> None:
        # PATTERN's length is not a multiple of PIECE: each piece starts elsewhere in it.
        pattern = PATTERN * 2
        while not self._stop.is_set() and self.sent_bytes < self.MAX_BYTES:
            if self.sent_bytes - self.received_bytes > self.WINDOW:
                time.sleep(0.001)
                continue
            start = self.sent_bytes % len(PATTERN)
            data = pattern[start : start + self.PIECE]
            self.sock.sendall(data)
            self.sent.update(data)
            self.sent_bytes += len(data)

    def _read(self) -> None:
        while part := self.sock.recv(16384):
            self.received.update(part)
            self.received_bytes += len(part)
            time.sleep(0.0002)

    def finish(self) -> None:
        """Stop sending, half-close, read until the echo's EOF comes back through."""
        self._stop.set()
        self._threads[0].join(60)
        self.sock.shutdown(socket.SHUT_WR)
        self._threads[1].join(60)
        self.sock.close()
        assert not any(t.is_alive() for t in self._threads), "the stream never ended"


class LiveToxicsMachine(RuleBasedStateMachine):
    """Toxics added, updated and removed (by name, on either stream) while one echo
    connection streams; at the end the bytes echoed back are exactly the bytes sent."""

    api: Api
    echo_port: int
    _proxies = iter(range(1_000_000))

    def __init__(self) -> None:
        super().__init__()
        self.proxy = f"sm{next(self._proxies)}"
        self.base = f"/proxies/{self.proxy}/toxics"
        self.transfer = EchoTransfer(self.api.create(self.proxy, self.echo_port))
        self.present: dict[str, str] = {}  # name -> type

    @precondition(lambda self: len(self.present) < len(NAMES))
    @rule(
        stream=st.sampled_from(STREAMS),
        type_=st.sampled_from(sorted(ATTR_STRATEGIES)),
        toxicity=toxicities,
        data=st.data(),
    )
    def add(self, stream: str, type_: str, toxicity: float, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from([n for n in NAMES if n not in self.present]))
        attrs = data.draw(ATTR_STRATEGIES[type_])
        body = {"name": name, "type": type_, "stream": stream, "attributes": attrs}
        r = self.api.post(self.base, {**body, "toxicity": toxicity})
        assert r.status_code == 200, r.text
        self.present[name] = type_

    @precondition(lambda self: self.present)
    @rule(toxicity=toxicities, data=st.data())
    def update(self, toxicity: float, data: st.DataObject) -> None:
        """Re-post a toxic: new values or the same, it is a new version either way."""
        name = data.draw(st.sampled_from(sorted(self.present)))
        attrs = data.draw(ATTR_STRATEGIES[self.present[name]])
        r = self.api.post(f"{self.base}/{name}", {"attributes": attrs, "toxicity": toxicity})
        assert r.status_code == 200, r.text

    @precondition(lambda self: self.present)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.present)))
        assert self.api.delete(f"{self.base}/{name}").status_code == 204
        del self.present[name]

    @rule(ms=st.integers(0, 30))
    def let_it_flow(self, ms: int) -> None:
        time.sleep(ms / 1000)

    def teardown(self) -> None:
        try:
            self.transfer.finish()
            assert self.transfer.received_bytes == self.transfer.sent_bytes
            assert self.transfer.received.hexdigest() == self.transfer.sent.hexdigest()
        finally:
            self.api.delete(f"/proxies/{self.proxy}")


@pytest.mark.slow
def test_state_machine_toxic_changes_during_transfer(fp: Api, echo: EchoServer) -> None:
    machine = type("Machine", (LiveToxicsMachine,), {"api": fp, "echo_port": echo.port})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=int(os.environ.get("FP_SM_EXAMPLES", "12")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # No shrinking: with real sockets a failure depends on timing too, so shrinking
            # mostly fails to reproduce it, minutes later. The full sequence is printed.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
