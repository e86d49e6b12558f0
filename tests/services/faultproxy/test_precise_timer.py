"""`precise_timer.sleep_until`: never early, in deadline order (with the timerfd), and a cancelled sleeper
leaves the others alone; on uvloop and asyncio, with or without a timerfd.

How close to the deadline it wakes is a speed figure, measured in `bench.bench_faultproxy`
(``--only accuracy``: the latency toxic against Toxiproxy's), not asserted here.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from services.faultproxy.tcp import precise_timer

RUNNERS: dict[str, Callable[[Coroutine[Any, Any, None]], None]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


@pytest.fixture(params=["timerfd", "loop timer"])
def timer_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "loop timer":
        monkeypatch.setattr(precise_timer, "_libc", None)
    return request.param


@pytest.mark.parametrize("runner", RUNNERS)
def test_sleepers_wake_in_deadline_order_and_never_early(runner: str, timer_kind: str) -> None:
    woke: list[tuple[float, float]] = []

    async def sleeper(deadline: float) -> None:
        await precise_timer.sleep_until(deadline)
        woke.append((deadline, time.monotonic()))

    async def main() -> None:
        if timer_kind == "timerfd":
            assert precise_timer._timers(asyncio.get_running_loop()) is not None
        rng = random.Random(5)
        start = time.monotonic()
        await precise_timer.sleep_until(start - 1.0)  # past: at once
        # 20 ms ahead, so none is already past when its sleeper starts.
        deadlines = [start + 0.02 + rng.uniform(0, 0.05) for _ in range(60)]
        await asyncio.gather(*(sleeper(d) for d in deadlines))

    RUNNERS[runner](main())
    assert len(woke) == 60
    assert all(now >= deadline for deadline, now in woke)
    if timer_kind == "timerfd":  # the loop's timers order only to the ms
        order = [deadline for deadline, _ in woke]
        assert order == sorted(order)


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_cancelled_sleeper_leaves_the_others_on_time(runner: str) -> None:
    results: dict[str, float] = {}

    async def main() -> None:
        start = time.monotonic()
        early = asyncio.create_task(precise_timer.sleep_until(start + 0.01))
        later = asyncio.create_task(precise_timer.sleep_until(start + 0.03))
        await asyncio.sleep(0)
        early.cancel()  # the earliest deadline, which the timerfd is armed for
        await later
        results["later"] = time.monotonic() - start
        assert early.cancelled()
        await precise_timer.sleep_until(time.monotonic() + 0.005)  # the timer still serves
        results["after"] = time.monotonic() - start

    RUNNERS[runner](main())
    assert results["later"] >= 0.03
    assert results["after"] >= results["later"] + 0.005
