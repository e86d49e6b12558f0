"""The line protocol's sans-I/O framing and replies, and one connection over them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.rawhttp.line_connection import LineConnection, StoryStore
from services.rawhttp.line_protocol import (
    BadLine,
    Gimme,
    LineParser,
    ListKeys,
    Put,
    Quit,
    answer,
)
from services.rawhttp.stories import STORIES


def feed_pieces(pieces: list[bytes], **kw) -> list:
    parser = LineParser(**kw)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events


def test_commands():
    events = feed_pieces([b"GIMME nagle\nLIST\r\nPUT k 5\nhe\nlo\nQUIT\n"])
    assert events == [Gimme("nagle"), ListKeys(), Put("k", b"he\nlo"), Quit()]


def test_blank_lines_are_ignored_and_verbs_are_case_insensitive():
    assert feed_pieces([b"\n\r\ngimme x\n"]) == [Gimme("x")]


def test_bad_commands_say_why():
    events = feed_pieces([b"FETCH x\nGIMME\nPUT k nope\nPUT k 999999\n"], max_put=1000)
    assert [type(e) for e in events] == [BadLine] * 4
    assert "unknown command b'FETCH x'" in events[0].message
    assert "usage: GIMME <key>" in events[1].message
    assert "not a number: b'nope'" in events[2].message
    assert "larger than 1000" in events[3].message


def test_over_long_line_is_reported_before_its_newline_and_skipped():
    parser = LineParser(max_line=10)
    assert parser.feed(b"x" * 11) == [BadLine("line longer than 10 bytes")]
    assert parser.feed(b"yyyy") == []  # still the same line: skipped, not reported twice
    assert parser.feed(b"yy\nLIST\n") == [ListKeys()]


def test_replies():
    store = StoryStore({"a": "story"})
    assert answer(Gimme("a"), store) == b"OKAY 5\nstory"
    assert answer(Gimme("b"), store) == b"MISSING\n"
    assert answer(Put("b", b"xyz"), store) == b"STORED b 3\n"
    assert answer(ListKeys(), store) == b"KEYS a b\n"
    assert answer(Quit(), store) == b"BYE\n"
    assert answer(BadLine("why"), store) == b"ERROR why\n"


def test_shipped_stories_are_listed():
    store = StoryStore()
    assert answer(ListKeys(), store) == ("KEYS " + " ".join(sorted(STORIES)) + "\n").encode()


def test_connection_closes_after_quit_and_ignores_the_rest():
    conn = LineConnection(StoryStore({}), "peer")
    conn.data_received(b"QUIT\nLIST\n")
    assert conn.take_output() == b"BYE\n" and conn.closing


script = st.lists(
    st.sampled_from(
        [
            b"GIMME fragments\n",
            b"LIST\n",
            b"PUT key 4\nab\ncd",
            b"GIMME key\n",
            b"BOGUS\n",
            b"x" * 50,
            b"\r\n",
            b"\n",
            b"QUIT\n",
            b"PUT k 0\n",
        ]
    ),
    max_size=20,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(script, st.binary(max_size=300)), cuts=st.lists(st.integers(0, 400), max_size=15)
)
def test_any_fragmentation_gives_the_same_commands(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert feed_pieces(pieces, max_line=40) == feed_pieces([data], max_line=40)
