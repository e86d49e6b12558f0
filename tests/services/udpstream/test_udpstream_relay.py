"""Through a UDP relay that drops, duplicates and reorders known datagrams: exact figures."""

from __future__ import annotations

import threading

import pytest

from services.udpstream.client import measure, ping
from tests.services.udpstream.udp_helpers import FaultyRelay, start_server


@pytest.fixture(scope="module")
def relay():
    port, proc = start_server()
    with proc:
        r = FaultyRelay(port)
        r.start()
        yield r
        r.close()


def test_figures_through_a_faulty_relay_are_exact(relay):
    r = measure("127.0.0.1", relay.port, rate=3000, size=100, count=3000)
    # drops: 30 of seq % 100 == 10, plus 1000..1019 (1010 counted once) = 49
    assert (r.sent, r.received, r.lost) == (3000, 2951, 49)
    assert r.loss_pct == pytest.approx(100 * 49 / 3000)
    assert (r.duplicates, r.out_of_order, r.max_reorder) == (30, 30, 2)
    assert (r.longest_loss_burst, r.loss_bursts) == (20, 30)  # 29 single drops + one burst of 20
    assert r.end_reason == "count" and r.validated
    lossy = [(s.first_seq, s.lost) for s in r.intervals if s.lost]
    # 300 per 100 ms slice; the burst sits in the slice starting at seq 900
    assert dict(lossy)[900] == 3 + 20 - 1 and sum(s.lost for s in r.intervals) == 49
    assert sum(s.duplicates for s in r.intervals) == 30


def test_two_clients_through_the_relay_are_kept_apart(relay):
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                measure("127.0.0.1", relay.port, rate=1000, size=64, count=500)
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and results[0].stream != results[1].stream
    for r in results:
        # per client: drops 10 110 210 310 410, duplicates x50, reorders x70
        assert (r.sent, r.lost, r.duplicates, r.out_of_order, r.other_streams) == (500, 5, 5, 5, 0)


def test_ping_through_the_relay(relay):
    p = ping("127.0.0.1", relay.port, count=5, interval=0.01)
    assert (p.received, p.lost) == (5, 0)
