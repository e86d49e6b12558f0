"""Exercise 03: framing. Stories fetched through a proxy that slices every write into 1-3
bytes must arrive exactly; the proxy's own counters prove they went through it.

Besides a few of rawhttp's own stories (plain English, three lines each, each ending in a
newline), the check stores fresh ones for each run (PUT on the line port) that are not:
non-ASCII text, where the length in bytes is not the number of characters; no final
newline; lines that look like the protocol's own (OKAY 12, MISSING, an empty line). A
client that counts characters, or reads lines instead of the length, gets them wrong."""

from __future__ import annotations

import json
import random
import socket
import time

from lab.exercise import evidence
from lab.exercise.context import CheckContext


class LineClient:
    """The lab's own, correct GIMME client, to learn the true stories on the direct path."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.buffer = b""

    def _line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("rawhttp's line port closed mid-answer")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def keys(self) -> list[str]:
        self.sock.sendall(b"LIST\n")
        return self._line().decode().split()[1:]

    def put(self, key: str, story: str) -> None:
        data = story.encode("utf-8")
        self.sock.sendall(f"PUT {key} {len(data)}\n".encode() + data)
        answer = self._line().decode(errors="replace")
        if not answer.startswith("STORED"):
            raise evidence.LabUnavailable(f"rawhttp's line port did not store a story: {answer}")

    def gimme(self, key: str) -> str | None:
        self.sock.sendall(f"GIMME {key}\n".encode())
        header = self._line().decode()
        if header.startswith("MISSING"):
            return None
        length = int(header.split()[1])
        while len(self.buffer) < length:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("rawhttp's line port closed mid-story")
            self.buffer += chunk
        story, self.buffer = self.buffer[:length], self.buffer[length:]
        return story.decode("utf-8")

    def close(self) -> None:
        self.sock.close()


FRESH_KEYS = ("exercise-03-a", "exercise-03-b")  # overwritten each run: the store stays small


def fresh_stories(tag: str) -> list[str]:
    """Stories no client can know in advance, shaped unlike rawhttp's own."""
    n = int(tag[:4], 16)
    shapes = [
        f"Ein Paket kam in Stücken an — {n} Bytes, nicht {n} Zeichen.\n"
        f"Der Empfänger las genau so viele Bytes, wie angekündigt: «{tag}» ✓\n",
        f"OKAY 12\nMISSING\n\nUne réponse sans saut de ligne final, coupée en morceaux… {tag} 🧩",
        f"東京から {n} 個のパケット。\n長さはバイトで数える — {tag}",
        f"Ça commence par une ligne vide:\n\n— et finit sur « {tag} » sans retour à la ligne",
    ]
    random.shuffle(shapes)
    return shapes[: len(FRESH_KEYS)]


def true_stories(count: int, missing: str, tag: str) -> dict[str, str | None]:
    client = LineClient(*evidence.address("rawhttp.line"))
    try:
        for key, story in zip(FRESH_KEYS, fresh_stories(tag), strict=True):
            client.put(key, story)
        keys = [k for k in client.keys() if not k.startswith("exercise-")]
        chosen = random.sample(keys, min(count, len(keys))) + list(FRESH_KEYS)
        stories: dict[str, str | None] = {key: client.gimme(key) for key in chosen}
    finally:
        client.close()
    stories[missing] = None
    keys_in_order = list(stories)
    random.shuffle(keys_in_order)
    return {k: stories[k] for k in keys_in_order}


def check(ctx: CheckContext) -> None:
    evidence.require("rawhttp.line", "faultproxy")
    expected = true_stories(ctx.param("stories", 3), f"no-such-story-{ctx.nonce()}", ctx.nonce())
    env = {**ctx.target_env("rawhttp.line.via_proxy"), "WIRELAB_KEYS": ",".join(expected)}
    proxy = ctx.param("proxy", "rawhttp_line")
    slicer = {
        "average_size": ctx.param("average_size", 2),
        "size_variation": ctx.param("size_variation", 1),
        "delay": ctx.param("delay_us", 300),
    }
    with evidence.toxic(proxy, "exercise_slicer", "slicer", "downstream", **slicer):
        before = evidence.proxy_stats(proxy)
        run = ctx.run(env, timeout=ctx.param("timeout", 20.0))
        time.sleep(0.1)  # counters are live, but give the last close a moment
        delta = evidence.stats_delta(before, evidence.proxy_stats(proxy))
    ctx.expect_clean_exit(run)

    story_bytes = sum(len(v.encode()) for v in expected.values() if v)
    connections, sent_back = (
        int(delta.get("connections_total", 0)),
        int(delta.get("bytes_downstream", 0)),
    )
    hint = "connect to WIRELAB_TARGET_HOST:WIRELAB_TARGET_PORT (the proxy), not to the line port itself"
    if connections:
        hint = _stuck_after(expected, sent_back) or (
            "the program stopped before every story had come back; ask for each key and "
            "read each answer whole"
        )
    ctx.expect(
        "the stories came through the slicing proxy",
        connections >= 1 and sent_back >= story_bytes,
        f"the proxy saw {connections} connection(s) and sent {sent_back} bytes back "
        f"(the stories are {story_bytes} bytes)",
        hint,
    )
    try:
        got = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        ctx.expect(
            "the program printed one JSON object of key -> story",
            False,
            f"printed {run.stdout.strip()[-120:]!r}",
            "print(json.dumps(stories)) as the last line",
        )
        return
    if not isinstance(got, dict):
        got = {}
    for key, story in expected.items():
        mine = got.get(key, "<key not printed>")
        if story is None:
            ctx.expect(
                f"{key!r} is MISSING, printed as null",
                key in got and mine is None,
                f"printed {mine!r}",
                "an answer of MISSING\\n means the story does not exist: print null (None)",
            )
            continue
        ctx.expect(
            f"story {key!r} arrived exactly ({len(story.encode())} bytes)",
            mine == story,
            "exact" if mine == story else f"got {_preview(mine)} instead of {_preview(story)}",
            "read the OKAY line up to \\n, then loop on recv() until you hold exactly <length> "
            "bytes (bytes, not characters: decode after) and keep whatever arrives beyond that "
            "for the next answer; a story may hold empty lines, lines like OKAY or MISSING, "
            "and need not end in \\n",
        )


def _stuck_after(expected: dict[str, str | None], sent_back: int) -> str | None:
    """When the answers stopped flowing right after a non-ASCII story, say why: the
    program waited for as many characters as OKAY gave bytes, and they never came."""
    total = 0
    for key, story in expected.items():
        data = None if story is None else story.encode()
        total += len(b"MISSING\n") if data is None else len(f"OKAY {len(data)}\n") + len(data)
        if total == sent_back and story is not None and len(data) != len(story):
            return (
                f"it stopped after story {key!r}, which has {len(story)} characters in "
                f"{len(data)} bytes (OKAY {len(data)}): the length counts bytes, and reading "
                f"{len(data)} characters (a text-mode file, or decoding before counting) "
                "waits for bytes that never come. Read exactly that many bytes, then decode"
            )
        if total >= sent_back:
            return None
    return None


def _preview(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"{len(text)} chars {text[:40]!r}{'...' if len(text) > 40 else ''}"
