"""The short stories the line protocol serves (``GIMME <key>``)."""

from __future__ import annotations

STORIES: dict[str, str] = {
    "fragments": (
        "A sender wrote one message and the network delivered it in three pieces.\n"
        "The receiver that called recv() once printed a third of a sentence.\n"
        "The receiver that looped until the newline printed all of it, and was right.\n"
    ),
    "halfclose": (
        "The client had nothing more to say, so it shut down its writing side.\n"
        "The server read the end of the stream, sent back the last bytes, and closed.\n"
        "Nobody waited for a timeout, because everybody knew the conversation was over.\n"
    ),
    "slowloris": (
        "A client opened a connection and sent one header byte every nine seconds.\n"
        "The blocking server waited politely, and every other visitor waited with it.\n"
        "The event loop set a deadline on the head, answered 408, and moved on.\n"
    ),
    "nagle": (
        "Two small writes left the program a millisecond apart.\n"
        "The kernel held the second one back until the first was acknowledged.\n"
        "The delayed ACK on the other side waited too, and 40 ms vanished into politeness.\n"
    ),
    "backlog": (
        "The listener had a queue of 128, and a thousand clients arrived at once.\n"
        "The kernel finished handshakes nobody had accepted yet, then began to drop SYNs.\n"
        "The clients that retried a second later were the lucky ones.\n"
    ),
}
