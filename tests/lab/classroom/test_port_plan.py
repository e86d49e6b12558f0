"""The port plan: every lab's ports distinct from every other's, in 1024..32767."""

from __future__ import annotations

import pytest

from lab.classroom.port_plan import (
    HIGHEST_PORT,
    LOWEST_PORT,
    PortPlanError,
    capacity,
    lab_ports,
    offset_for_slot,
    offsets_for,
)


def test_every_slot_has_its_own_ports_in_range_and_off_the_default_lab():
    default = set(lab_ports(0).values())
    owner: dict[int, int] = {}
    for offset in offsets_for(capacity()):
        for name, port in lab_ports(offset).items():
            assert LOWEST_PORT <= port <= HIGHEST_PORT, (offset, name, port)
            assert port not in default, (offset, name, port)
            assert port not in owner, f"{name} of offset {offset} is taken by offset {owner[port]}"
            owner[port] = offset
    assert capacity() >= 500  # a host's class is bounded by memory long before this
    assert len(owner) == capacity() * len(lab_ports(0))


def test_a_plain_round_step_would_collide():
    # The plausible wrong plan: offsets 1000 apart (or free_port_offset's multiples of 50).
    # Lab +1000's rawhttp.echo (9000+1000) is lab +2000's restapi (8000+2000).
    a, b = lab_ports(1000), lab_ports(2000)
    assert a["rawhttp.echo"] == b["restapi"] == 10000
    # ...and so would any step of one: 8080 and 8081 are one apart.
    c, d = lab_ports(offset_for_slot(0)), lab_ports(offset_for_slot(0) + 1)
    assert c["rawhttp.blocking"] == d["rawhttp"]
    assert offset_for_slot(1) - offset_for_slot(0) == 2


def test_the_plan_is_stable_and_the_overflow_is_one_clear_error():
    assert offsets_for(3, first_slot=5) == [
        offset_for_slot(5),
        offset_for_slot(6),
        offset_for_slot(7),
    ]
    with pytest.raises(PortPlanError, match=r"do not fit: this host's plan holds \d+ labs"):
        offsets_for(capacity() + 1)
    with pytest.raises(PortPlanError, match="at least one lab"):
        offsets_for(0)
    with pytest.raises(PortPlanError, match="outside the port plan"):
        offset_for_slot(-1)
