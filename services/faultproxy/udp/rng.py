"""Seedable random streams for the fault maths.

Every random decision (a loss, a jitter sample, a toxicity roll) draws from a stream that is
derived from the proxy's optional ``seed`` and a label naming who draws (toxic name, stream,
session number). Separate streams keep one toxic's draws from shifting another's, so adding a
``latency`` toxic does not change which datagrams a ``loss`` toxic drops on a rerun.
"""

from __future__ import annotations

import hashlib
import random


def derive_rng(seed: int | None, *labels: object) -> random.Random:
    """A ``random.Random`` that is reproducible when ``seed`` is set and fresh entropy otherwise."""
    if seed is None:
        return random.Random()
    text = "|".join([str(seed), *(str(label) for label in labels)])
    digest = hashlib.sha256(text.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
