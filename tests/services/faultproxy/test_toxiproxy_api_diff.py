"""faultproxy against the real Toxiproxy 2.12.0, request by request.

The same ~60 requests (tests/services/faultproxy/toxiproxy_reference.py) go to both
servers, each fresh. Every answer must be identical, or differ only cosmetically (extra
keys a client ignores, `1` vs `1.0`), or differ in error text alone with the same status.
Anything else must be listed in DELIBERATE with the reason, and docs/faultproxy.md says
the same under "Differences".
"""

from __future__ import annotations

import json

import pytest

from services.common.reference_peers import reference_missing, toxiproxy_process
from tests.services.faultproxy.fp_support import faultproxy_process
from tests.services.faultproxy.toxiproxy_reference import SEQUENCE, classify, run_sequence

# step label -> why faultproxy answers differently on purpose
DELIBERATE: dict[str, str] = {
    "add bandwidth at rate 0": "stricter validation: a rate of 0 would stall the stream for ever",
    "add with toxicity above 1": "stricter validation: toxicity is a probability",
    "add negative latency": "stricter validation: a negative delay is meaningless",
    # The same three, seen later: Toxiproxy lists the toxics it accepted above.
    "list toxics": "follows from the stricter validation (Toxiproxy lists bw0, over, neg)",
    "list proxies": "follows from the stricter validation (Toxiproxy lists bw0, over, neg)",
}


@pytest.fixture(scope="module")
def answers() -> tuple[list, list]:
    why = reference_missing()
    if why:
        pytest.skip(why)
    with toxiproxy_process() as port:
        theirs = run_sequence(port, SEQUENCE)
    with faultproxy_process() as (api, _proc):
        ours = run_sequence(api.port, SEQUENCE)
    return ours, theirs


def test_every_difference_is_fixed_or_deliberate(answers: tuple[list, list]) -> None:
    ours, theirs = answers
    problems = []
    for step, mine, ref in zip(SEQUENCE, ours, theirs, strict=True):
        kind = classify(mine, ref)
        if kind in ("identical", "cosmetic", "error-text") or step.label in DELIBERATE:
            continue
        problems.append(
            f"{step.label} [{kind}]: faultproxy {mine.status} {json.dumps(mine.body)[:400]}\n"
            f"    toxiproxy {ref.status} {json.dumps(ref.body)[:400]}"
        )
    assert not problems, "\n".join(problems)


def test_deliberate_differences_still_differ(answers: tuple[list, list]) -> None:
    """A listed difference that has gone away must leave the list (and the docs)."""
    ours, theirs = answers
    for step, mine, ref in zip(SEQUENCE, ours, theirs, strict=True):
        if step.label in DELIBERATE:
            assert classify(mine, ref) in ("status", "body"), step.label


def test_request_id_header_on_every_answer(answers: tuple[list, list]) -> None:
    ours, _ = answers
    ids = [a.headers.get("x-toxiproxy-request-id") for a in ours]
    assert all(ids), [s.label for s, i in zip(SEQUENCE, ids, strict=True) if not i]
    assert len(set(ids)) == len(ids)
