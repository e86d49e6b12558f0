"""The sans-I/O parts of faultproxy: toxic maths, the type registry, input parsing."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

import services.faultproxy.tcp.toxics  # noqa: F401 - registers the TCP types
from services.faultproxy.api.input_parsing import ApiError, parse_json, parse_toxic_create
from services.faultproxy.core.addresses import AddressError, split_host_port
from services.faultproxy.core.allowlist import Allowlist, AllowlistError, is_loopback_host
from services.faultproxy.core.events import EventBus
from services.faultproxy.core.metrics import Metrics
from services.faultproxy.core.toxic_types import (
    REGISTRY,
    Attr,
    ToxicError,
    ToxicType,
    ToxicTypeRegistry,
)
from services.faultproxy.tcp.stream_toxic import Channel, Chunk, ToxicStub
from services.faultproxy.tcp.toxic_maths import (
    bandwidth_pieces,
    latency_delay_s,
    limit_cut,
    slice_offsets,
)
from services.faultproxy.tcp.toxics import LimitDataToxic


def test_slicer_variation_zero_halves_like_toxiproxy() -> None:
    # Toxiproxy halves while a span is longer than average + variation (slicer.go).
    cuts = slice_offsets(1000, 100, 0, random.Random(1))
    assert [b - a for a, b in zip(cuts, cuts[1:], strict=False)] == [62, 63] * 8
    assert slice_offsets(100, 100, 0, random.Random(1)) == [0, 100]
    assert slice_offsets(101, 100, 0, random.Random(1)) == [0, 50, 101]


def test_slicer_with_variation_covers_everything_within_bounds() -> None:
    rng = random.Random(7)
    cuts = slice_offsets(480_000, 1024, 512, rng)
    sizes = [b - a for a, b in zip(cuts, cuts[1:], strict=False)]
    assert cuts[0] == 0 and cuts[-1] == 480_000
    assert all(s > 0 for s in sizes)
    # Toxiproxy's own test: "about 480 reads" for 480 kB at 1024 +/- 512.
    assert 240 <= len(sizes) <= 720


def test_bandwidth_pieces_are_at_most_100ms() -> None:
    assert bandwidth_pieces(250_000, 1000) == [100_000, 100_000, 50_000]
    assert bandwidth_pieces(10, 1) == [10]
    assert sum(bandwidth_pieces(1_234_567, 3)) == 1_234_567


def test_latency_delay_bounds() -> None:
    rng = random.Random(3)
    delays = [latency_delay_s(100, 20, rng) for _ in range(1000)]
    assert min(delays) >= 0.08 and max(delays) <= 0.12
    assert latency_delay_s(5, 50, rng) >= 0


def test_limit_cut() -> None:
    assert limit_cut(50, 0, 100) == 50
    assert limit_cut(150, 0, 100) == 100
    assert limit_cut(20, 90, 100) == 10
    assert limit_cut(100, 0, 0) == 0


@pytest.mark.parametrize(
    ("type_", "attrs", "message"),
    [
        ("bandwidth", {"rate": 0}, "rate must be > 0"),
        ("slicer", {"average_size": 0}, "average_size must be >= 1"),
        ("slicer", {"average_size": 10, "size_variation": 10}, "smaller than average_size"),
        ("latency", {"latency": -1}, "must be >= 0"),
        ("latency", {"latency": "100"}, "must be an integer"),
        ("latency", {"latency": 1.5}, "must be an integer"),
        ("latency", {"latency": True}, "must be an integer"),
        ("timeout", {"timeout": 10**15}, "out of range"),
    ],
)
def test_attribute_validation_names_the_cause(type_: str, attrs: dict, message: str) -> None:
    with pytest.raises(ToxicError, match=message):
        REGISTRY.lookup(type_, "tcp").normalize(attrs)


def test_attributes_case_insensitive_defaults_and_merge() -> None:
    latency = REGISTRY.lookup("latency", "tcp")
    assert latency.normalize({"LATENCY": 100.0, "unknown": 1}) == {"latency": 100, "jitter": 0}
    assert latency.normalize({"jitter": 5}, base={"latency": 100, "jitter": 0}) == {
        "latency": 100,
        "jitter": 5,
    }


def test_registry_says_which_types_fit() -> None:
    reg = ToxicTypeRegistry()
    reg.register(ToxicType("latency", frozenset({"tcp"}), (Attr("latency"),), dict))
    reg.register(
        ToxicType(
            "latency",
            frozenset({"udp"}),
            (Attr("latency"), Attr("distribution", "str", "uniform")),
            dict,
            kind="datagram",
        )
    )
    reg.register(
        ToxicType(
            "loss", frozenset({"udp"}), (Attr("probability", "float", 0.0),), dict, kind="datagram"
        )
    )
    assert reg.lookup("latency", "udp").kind == "datagram"
    assert reg.lookup("latency", "tcp").kind == "stream"
    with pytest.raises(ToxicError, match=r"loss fits udp proxies, not tcp; tcp types are: latency"):
        reg.lookup("loss", "tcp")
    with pytest.raises(ToxicError, match="invalid toxic type"):
        reg.lookup("nope", "tcp")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:9", ("::1", 9)),
        ("localhost:0", ("localhost", 0)),
        (":8080", ("", 8080)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text, "listen") == expected


@pytest.mark.parametrize(
    "text", ["", "nohost", "a:b", "1.2.3.4:70000", "::1:80", "a b:1", 5, None, "h\u00e9:1"]
)
def test_split_host_port_rejects(text: object) -> None:
    with pytest.raises(AddressError):
        split_host_port(text, "upstream")


def test_is_loopback_host() -> None:
    assert all(map(is_loopback_host, ["127.0.0.1", "127.9.9.9", "::1", "localhost", "LOCALHOST."]))
    # The same rule as pinning a listen address: an IPv4-mapped loopback is loopback.
    assert is_loopback_host("::ffff:127.0.0.1")
    assert not any(map(is_loopback_host, ["0.0.0.0", "::", "", "10.0.0.1", "rawhttp", "lo"]))


def test_allowlist() -> None:
    allow = Allowlist()
    assert allow.allows("127.0.0.1") and allow.allows("127.5.5.5") and allow.allows("::1")
    assert allow.allows("rawhttp") and allow.allows("RESTAPI") and allow.allows("localhost")
    assert not allow.allows("10.0.0.1") and not allow.allows("example.com")
    custom = Allowlist(["10.0.0.0/8", "db.internal"])
    assert (
        custom.allows("10.1.2.3")
        and custom.allows("db.internal")
        and not custom.allows("127.0.0.1")
    )
    assert Allowlist(["*"]).allows("8.8.8.8")
    with pytest.raises(AllowlistError):
        Allowlist(["not a host"])


def test_parse_json_errors() -> None:
    for body, cause in [
        (b"", "empty"),
        (b"{", "invalid JSON"),
        (b"\xff", "not UTF-8"),
        (b"NaN", "NaN"),
    ]:
        with pytest.raises(ApiError, match=cause):
            parse_json(body)
    with pytest.raises(ApiError, match="stream was invalid"):
        parse_toxic_create({"type": "latency", "stream": "sideways"})
    with pytest.raises(ApiError, match="toxicity must be between 0 and 1"):
        parse_toxic_create({"type": "latency", "toxicity": 2})
    assert parse_toxic_create({"TYPE": "latency", "Stream": "UPSTREAM"}).stream == "upstream"


def test_metrics_render_prometheus_text() -> None:
    m = Metrics()
    c = m.counter("x_total", "things", ("proxy",))
    c.inc(2, proxy='a"b')
    c.child(proxy="z").inc(3)
    text = m.render()
    assert "# TYPE x_total counter" in text
    assert 'x_total{proxy="a\\"b"} 2' in text and 'x_total{proxy="z"} 3' in text


def test_event_bus_delivers_and_bounds() -> None:
    async def run() -> list:
        bus = EventBus()
        sub = bus.subscribe(maxlen=2)
        for i in range(3):
            bus.publish("proxy.created", n=i)
        first = await sub.next(0.1)
        second = await sub.next(0.1)
        none = await sub.next(0.01)
        return [first.data["n"], second.data["n"], none, sub.dropped]

    assert asyncio.run(run()) == [1, 2, None, 1]


def test_limit_data_toxic_edge_cases_like_toxiproxy() -> None:
    """Toxiproxy's limit_data tests: exact, over, split across chunks, zero, restart."""

    class Conn:
        closed = 0

        def close_connection(self, **kw: object) -> None:
            Conn.closed += 1

    async def run(
        limit: int, chunks: list[bytes], state: dict | None = None
    ) -> tuple[list[bytes | None], dict]:
        inp, out = Channel(), Channel()
        stub = ToxicStub(inp, out, Conn(), "downstream", state if state is not None else {})
        for c in chunks:
            inp.put_nowait(Chunk(c))
        task = asyncio.ensure_future(LimitDataToxic({"bytes": limit}).pipe(stub))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return [None if i is None else i.data for i in out.drain()], stub.state

    a, b = b"a" * 90, b"b" * 20
    assert asyncio.run(run(100, [b"x" * 50]))[0] == [b"x" * 50]
    assert asyncio.run(run(100, [b"x" * 100]))[0] == [b"x" * 100, None]
    assert asyncio.run(run(100, [b"x" * 150]))[0] == [b"x" * 100, None]
    assert asyncio.run(run(100, [b"y" * 25] * 4))[0] == [b"y" * 25] * 4 + [None]
    assert asyncio.run(run(100, [a, b]))[0] == [a, b[:10], None]
    assert asyncio.run(run(0, [b"z" * 100]))[0] == [None]
    # Restarted (a chain rebuild) with its state: the count carries over.
    first, state = asyncio.run(run(100, [a]))
    assert first == [a]
    assert asyncio.run(run(100, [b], state))[0] == [b[:10], None]


def test_channel_backpressure_and_cancel_safety() -> None:
    async def run() -> list[bytes | None]:
        ch = Channel(max_bytes=10)
        await ch.put(Chunk(b"0123456789"))
        blocked = asyncio.ensure_future(ch.put(Chunk(b"late")))
        await asyncio.sleep(0.01)
        assert not blocked.done()  # full: the writer waits
        blocked.cancel()  # a cancelled put adds nothing...
        await asyncio.gather(blocked, return_exceptions=True)
        getter = asyncio.ensure_future(ch.get())
        await asyncio.sleep(0)
        first = await getter
        waiting = asyncio.ensure_future(ch.get())
        await asyncio.sleep(0.01)
        waiting.cancel()  # ...and a cancelled get takes nothing
        await asyncio.gather(waiting, return_exceptions=True)
        ch.push_front([Chunk(b"a"), None])
        return [first.data, *[None if i is None else i.data for i in ch.drain()]]

    assert asyncio.run(run()) == [b"0123456789", b"a", None]


def test_interrupted_send_still_delivers() -> None:
    async def run() -> list[bytes]:
        out = Channel(max_bytes=1)
        out.put_nowait(Chunk(b"x"))
        stub = ToxicStub(Channel(), out, None, "upstream", {})  # type: ignore[arg-type]
        task = asyncio.ensure_future(stub.send(Chunk(b"y")))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return [i.data for i in out.drain() if i is not None]

    assert asyncio.run(run()) == [b"x", b"y"]


def test_state_writer_appends_one_line_per_change_and_compacts(tmp_path: Path) -> None:
    """Each change is one journal line, on disk when mark() returns (no rewrite of the
    whole state per change); past the threshold the journal is folded into the snapshot
    off the loop, and snapshot + journal always read back as the latest state."""
    from services.faultproxy.core.persistence import StateWriter, load_state

    path = tmp_path / "state.json"
    path.write_text("[]")
    state: dict[str, dict] = {}

    def snapshot() -> list[dict]:
        return [dict(p) for p in state.values()]

    def on_disk() -> list[str]:
        return [p["name"] for p in load_state(path, path.read_text())]

    async def scenario() -> StateWriter:
        writer = StateWriter(path, snapshot, lambda n: state.get(n), compact_min_bytes=2000)
        for i in range(50):
            state[f"p{i}"] = {"name": f"p{i}", "listen": "127.0.0.1:1", "upstream": "x:1"}
            writer.mark([f"p{i}"])
            assert on_disk() == list(state)  # acknowledged = readable, at once
            if i % 7 == 0:
                await asyncio.sleep(0.01)  # let a compaction run now and then
        del state["p3"]
        writer.mark(["p3"])
        assert "p3" not in on_disk()
        await asyncio.sleep(0.2)
        return writer

    writer = asyncio.run(scenario())
    assert writer.compactions >= 1
    assert json.loads(path.read_text()) != []  # the snapshot itself moved on
    assert on_disk() == list(state)
    writer.close()
    assert [p["name"] for p in json.loads(path.read_text())] == list(state)
    assert not writer.journal.exists() and not writer.old_journal.exists()


def test_state_reads_back_across_a_crash_in_any_compaction_step(tmp_path: Path) -> None:
    """A crash after the journal was moved aside, or after the snapshot was replaced but
    before the old journal was removed, still reads back the full state (lines are
    idempotent overwrites)."""
    from services.faultproxy.core.persistence import journal_paths, load_state

    path = tmp_path / "s.json"
    journal, old = journal_paths(path)
    a1, a2, b1 = ({"name": "a", "v": 1}, {"name": "a", "v": 2}, {"name": "b", "v": 1})
    # Moved aside, snapshot not yet written.
    path.write_text("[]")
    old.write_text(json.dumps({"put": [a1]}) + "\n" + json.dumps({"put": [b1]}) + "\n")
    journal.write_text(json.dumps({"put": [a2]}) + "\n" + json.dumps({"delete": ["b"]}) + "\n")
    assert load_state(path, path.read_text()) == [a2]
    # Snapshot written (it holds a1 and b1), old journal not yet removed.
    path.write_text(json.dumps([a1, b1]))
    assert load_state(path, path.read_text()) == [a2]
    # A reset line replaces everything before it.
    journal.write_text(json.dumps({"all": [b1]}) + "\n" + json.dumps({"put": [a1]}) + "\n")
    assert load_state(path, path.read_text()) == [b1, a1]


def test_persisted_state_refuses_empty_null_and_corrupt_journals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from services.faultproxy.core.persistence import PersistError, journal_paths, load_state

    path = tmp_path / "s.json"
    for text, fragment in (("", "is empty"), ("  \n", "is empty"), ("null", "holds null")):
        with pytest.raises(PersistError, match=fragment):
            load_state(path, text)
    with pytest.raises(PersistError, match="must hold a JSON list"):
        load_state(path, '"x"')
    journal, _ = journal_paths(path)
    good = json.dumps({"put": [{"name": "a"}]}) + "\n"
    # A torn last line (no newline: the write was cut short) is skipped with a warning.
    journal.write_text(good + '{"put": [{"na')
    with caplog.at_level("WARNING", logger="faultproxy.persist"):
        assert load_state(path, "[]") == [{"name": "a"}]
    assert "torn last line" in caplog.text
    # The same garbage in the middle is corruption, not a crash: refused, line named.
    journal.write_text('{"put": [{"na\n' + good)
    with pytest.raises(PersistError, match="line 1 is unreadable"):
        load_state(path, "[]")
