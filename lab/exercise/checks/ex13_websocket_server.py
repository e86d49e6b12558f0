"""Exercise 13: the student's WebSocket broadcast chat server (restapi's /ws/chat protocol,
the one exercise 10's bot speaks). Started on a free port and driven by lab clients:

- a message must reach every client, the sender too, exactly once: a server that echoes
  to the sender only is the tutorials' first step, not a chat;
- a client joins first and then vanishes with a TCP reset, no close frame: a server that
  keeps it in its list and lets the failed send escape stops broadcasting (the message
  reaches no one after it, and the sender's own connection dies);
- after that, the clients still there, and one that joins later, hear every message
  exactly once, and exercise 10's reference bot can relay through the server.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import time
from collections import Counter
from urllib.parse import quote

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from lab.exercise.catalog import find_exercise
from lab.exercise.checks.ex10_websocket_chat import next_message, random_phrase, wait_for
from lab.exercise.context import CheckContext
from lab.exercise.program import background_program
from lab.exercise.student_server import expect_listening, expect_still_running
from services.common.processes import free_port

BROADCAST_HINT = (
    "send each message to every connected client, the sender included, not only back to "
    "the one who sent it: keep the connections in a set and send to each of them"
)
RESET_HINT = (
    "a client vanished without a close frame (a TCP reset): remove a client in a "
    "try/finally around its loop, however its connection ends, and never let a failed send "
    "to one client stop the others (websockets.broadcast() skips closed connections, or "
    "catch ConnectionClosed per client)"
)


def vanishing_client(port: int, name: str) -> socket.socket:
    """A WebSocket client by hand, so it can leave with a reset: no close frame, no FIN."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/chat?name={quote(name)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise OSError(f"no WebSocket upgrade: {head[:60]!r}")
    return sock


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # linger 0: the kernel sends RST instead of FIN


def collect(ws: ClientConnection, seconds: float, wanted: Counter) -> tuple[Counter, str]:
    """Chat lines heard until all ``wanted`` arrived (plus a moment for duplicates) or the
    time is up; and how the listening ended when the server closed the connection."""
    deadline = time.monotonic() + seconds
    heard: Counter = Counter()
    while True:
        if heard & wanted == wanted:
            deadline = min(deadline, time.monotonic() + 0.2)  # a duplicate would come now
        try:
            message = next_message(ws, deadline)
        except (WebSocketException, OSError) as exc:
            return heard, f"the server closed this client's connection ({exc})"
        if message is None:
            return heard, ""
        heard += chat_lines([message])


def chat_lines(messages: list[dict]) -> Counter:
    return Counter(
        (str(m.get("from")), str(m.get("text"))) for m in messages if m.get("type") == "message"
    )


def describe_missing(who: str, wanted: Counter, got: Counter, ended: str = "") -> str:
    missing = sum((wanted - got).values())
    extra = sum(n - 1 for key, n in got.items() if key in wanted and n > 1)
    parts = [f"{who} got {sum((got & wanted).values())} of {sum(wanted.values())}"]
    if missing:
        parts.append(f"{missing} never arrived")
    if extra:
        parts.append(f"{extra} arrived twice")
    return ", ".join(parts + ([ended] if ended else []))


def check(ctx: CheckContext) -> None:
    port = free_port()
    env = {"WIRELAB_LISTEN_HOST": "127.0.0.1", "WIRELAB_LISTEN_PORT": str(port)}
    tag = ctx.nonce()
    chat = f"ws://127.0.0.1:{port}/ws/chat"
    settle = ctx.param("settle", 3.0)
    with ctx.background(env) as server, contextlib.ExitStack() as stack:
        if not expect_listening(ctx, server, port):
            return
        clients: dict[str, ClientConnection] = {}

        def join(who: str) -> bool:
            name = f"lab-{who}-{tag}"
            try:
                clients[name] = stack.enter_context(
                    connect(f"{chat}?name={quote(name)}", open_timeout=5)
                )
            except (OSError, WebSocketException, TimeoutError) as exc:
                return ctx.expect(
                    f"{name} could join ws://127.0.0.1:{port}/ws/chat",
                    False,
                    f"{type(exc).__name__}: {exc}",
                    "accept WebSocket connections (websockets.serve) on WIRELAB_LISTEN_PORT",
                )
            # Wait for its own join notice: the server has then counted it as a member
            # (a handler may register a client a moment after the handshake completed).
            # No notice is judged later (exercise 10's bot waits for one), not here.
            wait_for(
                clients[name], lambda m: m.get("type") == "join" and m.get("name") == name, 1.0
            )
            return True

        # The client that will vanish joins first, so it comes first in a list of members.
        try:
            doomed = vanishing_client(port, f"lab-dan-{tag}")
        except OSError as exc:
            ctx.expect("a client could join", False, str(exc), "accept WebSocket connections")
            return
        time.sleep(0.2)  # its handler has registered it before anyone else joins
        if not all(join(who) for who in ("ann", "ben", "cat")):
            return
        names = list(clients)
        first = f"hello everyone, ça va? {tag} 👋"
        clients[names[0]].send(first)
        wanted = Counter({(names[0], first): 1})
        for name, ws in clients.items():
            got, ended = collect(ws, settle, wanted)
            if not ctx.expect(
                f"{name} got {names[0]}'s first message exactly once",
                got & wanted == wanted and got[(names[0], first)] == 1,
                describe_missing(name, wanted, got, ended),
                BROADCAST_HINT
                + '; each as JSON {"type": "message", "from": NAME, "text": TEXT, "clients": N}',
            ):
                return

        reset(doomed)
        time.sleep(0.3)  # the reset reaches the server; a correct one drops that client now
        wanted = Counter()
        for round_ in range(2):
            for i, (name, ws) in enumerate(clients.items()):
                text = f"message {round_ * 3 + i + 1} après la coupure — {tag} ✓"
                with contextlib.suppress(WebSocketException, OSError):
                    ws.send(text)
                wanted[(name, text)] = 1
        for name, ws in clients.items():
            got, ended = collect(ws, settle, wanted)
            if not ctx.expect(
                f"after a client vanished with a reset, {name} got all 6 messages exactly once",
                got & wanted == wanted and all(got[k] == 1 for k in wanted),
                describe_missing(name, wanted, got, ended),
                RESET_HINT,
            ):
                expect_still_running(ctx, server)
                return

        if not join("eve"):
            return
        late = list(clients)[-1]
        text = f"je suis arrivée en retard: 東京 {tag}"
        clients[late].send(text)
        wanted = Counter({(late, text): 1})
        heard = {name: collect(ws, settle, wanted) for name, ws in clients.items()}
        missed = [name for name, (got, _) in heard.items() if got[(late, text)] != 1]
        if not ctx.expect(
            "a client that joins later is heard by everyone, exactly once",
            not missed,
            "; ".join(describe_missing(n, wanted, *heard[n]) for n in missed) or "all heard it",
            RESET_HINT,
        ):
            return
        relay_through(ctx, chat, clients[names[1]], tag)
        expect_still_running(ctx, server)


def relay_through(ctx: CheckContext, chat: str, listener: ClientConnection, tag: str) -> None:
    """Exercise 10's reference bot relays through the student's server."""
    bot = f"bot-{tag}"
    env = {"WIRELAB_TARGET_URL": chat, "WIRELAB_NAME": bot, "WIRELAB_TIMEOUT": "10"}
    with background_program(find_exercise(10).solution, env) as program:
        joined, _ = wait_for(
            listener,
            lambda m: m.get("type") == "join" and m.get("name") == bot,
            5.0,
            program.alive,
        )
        phrase = random_phrase(tag)
        if joined is not None:
            listener.send(f"please relay: {phrase}")
        wanted = f"relayed: {phrase}"
        got, seen = wait_for(
            listener,
            lambda m: (
                m.get("type") == "message" and m.get("from") == bot and m.get("text") == wanted
            ),
            5.0 if joined is not None else 0,
        )
        ctx.expect(
            "exercise 10's bot joins and relays through the server",
            got is not None,
            "relayed"
            if got
            else (
                "the bot's join was never announced"
                if joined is None
                else f"the bot's messages: {[m.get('text') for m in seen if m.get('from') == bot]}"
            ),
            'announce joins as {"type": "join", "name": NAME, "clients": N} and messages as '
            '{"type": "message", "from": NAME, "text": TEXT, "clients": N}, the name taken '
            "from ?name= in the path",
        )
