"""The arithmetic of the TCP toxics, with no sockets and no clock (sans-I/O)."""

from __future__ import annotations

import random


def latency_delay_s(latency_ms: int, jitter_ms: int, rng: random.Random | random.Random) -> float:
    """Delay for one chunk: ``latency`` +/- up to ``jitter`` ms, never negative."""
    delay = latency_ms
    if jitter_ms > 0:
        delay += rng.randint(-jitter_ms, jitter_ms)
    return max(0, delay) / 1000.0


def slice_offsets(size: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Cut points splitting ``size`` bytes as Toxiproxy's slicer does (toxics/slicer.go).

    A span longer than ``average + variation`` is halved, the middle moved by a random
    ``[-variation, variation)``, and each half split again; so slices vary in size even
    with ``variation`` 0 (1000 bytes at average 64 give sixteen 62/63-byte slices).
    A zero average is rejected by validation before we get here.
    Returns ``[0, c1, c2, ..., size]``.
    """
    if average <= 0:
        raise ValueError("average must be positive")
    cuts = [0]
    # An explicit stack (right half pushed first) instead of recursion: a 64 KiB chunk
    # sliced to 1 byte would otherwise recurse deeply.
    stack = [(0, size)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average <= variation or end - start <= 1:
            cuts.append(end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(-variation, variation)  # Go: rand.Intn(2v) - v
        mid = min(max(mid, start + 1), end - 1)
        stack.append((mid, end))
        stack.append((start, mid))
    return cuts


def bandwidth_pieces(length: int, rate_kbps: int) -> list[int]:
    """Split a chunk so no piece carries more than 100 ms of data at ``rate`` KB/s."""
    per_100ms = max(1, rate_kbps * 100)  # 1 KB = 1000 bytes, as in Toxiproxy
    pieces = []
    while length > per_100ms:
        pieces.append(per_100ms)
        length -= per_100ms
    pieces.append(length)
    return pieces


def bandwidth_seconds(nbytes: int, rate_kbps: int) -> float:
    """Time ``nbytes`` take at ``rate`` KB/s."""
    return nbytes / (rate_kbps * 1000.0)


def limit_cut(length: int, transmitted: int, limit: int) -> int:
    """How many of ``length`` new bytes may pass when ``transmitted`` of ``limit`` already did."""
    return max(0, min(length, limit - transmitted))
