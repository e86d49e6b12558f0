"""Sleeps that end on time: one timerfd per event loop, armed for the earliest deadline.

The event loop's own timers wake it with millisecond granularity: uvloop rounds a delay
to whole milliseconds and keeps its clock in them, and asyncio's epoll timeout is in
milliseconds too. A 100 ms ``latency`` toxic then delivers anywhere from 99 to 101 ms, and a
slicer's ``delay`` of a few hundred µs becomes 0 or 1 ms. Toxiproxy's timers are finer, and
its accuracy is the target (issue 16). A Linux timerfd on CLOCK_MONOTONIC (the clock of
``time.monotonic``), armed with the absolute deadline in nanoseconds, wakes epoll within
microseconds of it. Where there is no timerfd, `sleep_until` falls back to the loop's timer.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import itertools
import os
import time
import weakref

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
        return libc
    except (OSError, AttributeError):
        return None


_libc = _load_libc()


class PreciseTimers:
    """The deadlines of one loop's sleepers, in a heap; the timerfd holds the earliest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._armed: float | None = None
        self._spec = _Itimerspec()
        loop.add_reader(fd, self._fire)

    async def sleep_until(self, deadline: float) -> None:
        fut: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._heap, (deadline, next(self._order), fut))
        if self._armed is None or deadline < self._armed:
            self._arm(deadline)
        await fut  # a cancelled sleeper's entry is dropped when its deadline comes up

    def _arm(self, deadline: float) -> None:
        seconds = int(deadline)
        value = self._spec.it_value
        value.tv_sec = seconds
        # 0 would disarm the timer: a deadline on a whole second is armed 1 ns later.
        value.tv_nsec = max(int((deadline - seconds) * 1e9), 1 if seconds == 0 else 0)
        assert _libc is not None
        _libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None)
        self._armed = deadline

    def _fire(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass
        self._armed = None
        now = time.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)
        if heap:
            self._arm(heap[0][0])


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PreciseTimers | None] = (
    weakref.WeakKeyDictionary()
)


def _timers(loop: asyncio.AbstractEventLoop) -> PreciseTimers | None:
    if loop in _per_loop:
        return _per_loop[loop]
    timers = None
    if _libc is not None:
        fd = _libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd >= 0:
            timers = PreciseTimers(loop, fd)
    _per_loop[loop] = timers
    return timers


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``, to the µs where Linux allows."""
    delay = deadline - time.monotonic()
    if delay <= 0:
        return
    timers = _timers(asyncio.get_running_loop())
    if timers is not None:
        await timers.sleep_until(deadline)
        return
    # The loop's timer can also wake a little early (uvloop rounds to the nearest ms).
    while delay > 0:
        await asyncio.sleep(delay)
        delay = deadline - time.monotonic()
