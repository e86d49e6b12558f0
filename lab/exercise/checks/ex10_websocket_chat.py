"""Exercise 10: a WebSocket relay bot. Two lab clients sit in restapi's /ws/chat; one asks
for a fresh random phrase to be relayed; both must see the program relay exactly it.

The phrase is worded differently each run, holds non-ASCII text and a ": " of its own,
and another message that mentions relaying (but is no request) comes first: parsing that
works only for one wording (split on ":", take the last word, any text with "relay")
relays the wrong words."""

from __future__ import annotations

import json
import random
import time
from urllib.parse import quote

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from lab.exercise import evidence
from lab.exercise.context import CheckContext


def next_message(ws: ClientConnection, deadline: float) -> dict | None:
    """The next chat message, or None when the deadline passes first."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    try:
        raw = ws.recv(timeout=left)
    except TimeoutError:
        return None
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        return {"type": "unreadable", "text": str(raw)[:80]}
    return message if isinstance(message, dict) else {"type": "unreadable"}


def wait_for(
    ws: ClientConnection, predicate, timeout: float, alive=lambda: True
) -> tuple[dict | None, list[dict]]:
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    while time.monotonic() < deadline and alive():
        message = next_message(ws, min(deadline, time.monotonic() + 0.2))
        if message is None:
            continue
        seen.append(message)
        if predicate(message):
            return message, seen
    return None, seen


def check(ctx: CheckContext) -> None:
    evidence.require("restapi")
    host, port = evidence.address("restapi")
    chat = f"ws://{host}:{port}/ws/chat"
    tag = ctx.nonce()
    lab_names = (f"lab-ann-{tag}", f"lab-ben-{tag}")
    student = f"student-{tag}"
    phrase = random_phrase(tag)
    env = {
        "WIRELAB_TARGET_URL": chat,
        "WIRELAB_NAME": student,
        "WIRELAB_TIMEOUT": str(ctx.param("program_timeout", 15)),
    }
    try:
        ann = connect(f"{chat}?name={quote(lab_names[0])}", open_timeout=5)
        ben = connect(f"{chat}?name={quote(lab_names[1])}", open_timeout=5)
    except (OSError, WebSocketException) as exc:
        raise evidence.LabUnavailable(f"cannot join {chat}: {exc}") from None
    with ann, ben, ctx.background(env) as program:
        joined, _ = wait_for(
            ann,
            lambda m: m.get("type") == "join" and m.get("name") not in lab_names,
            ctx.param("join_timeout", 10.0),
            program.alive,
        )
        if not ctx.expect(
            "the program joined the chat",
            joined is not None,
            f"joined as {joined.get('name')!r}"
            if joined
            else _ended(program, "no one else joined"),
            "connect to WIRELAB_TARGET_URL with websockets.connect() and keep the connection open",
        ):
            return
        name = str(joined.get("name"))
        ben.send(f"relay bots, are you there? 👋 {tag[:4]}")  # chat, not a request
        ann.send(f"please relay: {phrase}")
        wanted = f"relayed: {phrase}"

        def relayed(m: dict) -> bool:
            return m.get("type") == "message" and m.get("from") == name and m.get("text") == wanted

        timeout = ctx.param("relay_timeout", 5.0)
        for who, ws in zip(lab_names, (ann, ben), strict=True):
            got, seen = wait_for(ws, relayed, timeout)
            said = [
                m.get("text") for m in seen if m.get("type") == "message" and m.get("from") == name
            ]
            if not ctx.expect(
                f"{who} saw the program relay the phrase",
                got is not None,
                f"{name} said {said}" if said else _ended(program, f"{name} said nothing"),
                "wait for a message that starts with 'please relay: ', then send 'relayed: ' + "
                "everything after that prefix, exactly as it came (it may hold ':' and "
                f"non-ASCII text); other messages are not requests. Expected {wanted!r}",
            ):
                return
            timeout = 2.0  # a broadcast reaches the second client at about the same time
        deadline = time.monotonic() + 5
        while program.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = program.result()
        if not program.alive():
            ctx.crashed = ctx.crashed or ended.crashed
        ctx.expect(
            "the program left the chat and exited with 0",
            not program.alive() and ended.exit_code == 0,
            ended.describe() if not program.alive() else "still running 5 s after relaying",
            "return (or close the connection) after relaying one message",
        )


def random_phrase(tag: str) -> str:
    """Worded differently each run, with non-ASCII text and a colon of its own."""
    n = int(tag, 16) % 100000
    shapes = [
        f"Grüße aus Köln: {n} Äpfel für «{tag}» 🍎",
        f"東京 → Zürich: {n} km, billet {tag} ✈",
        f"ça va? oui: rendez-vous à {n % 24} h, code {tag} — merci",
        f"the magic number is {n}: ¿{tag}?",
    ]
    return random.choice(shapes)


def _ended(program, fallback: str) -> str:
    if program.alive():
        return fallback
    return f"{fallback}; the program ended: {program.result().describe()}"
