"""A plausible wrong answer to exercise 11: a selectors server with an output buffer per
client that closes the connection as soon as recv() returns b"", throwing away what it
had not managed to send yet (the client was reading slowly)."""

from __future__ import annotations

import os
import selectors
import socket

host = os.environ.get("WIRELAB_LISTEN_HOST", "127.0.0.1")
port = int(os.environ.get("WIRELAB_LISTEN_PORT", "8089"))
sel = selectors.DefaultSelector()
pending: dict[socket.socket, bytearray] = {}

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(256)
server.setblocking(False)
sel.register(server, selectors.EVENT_READ)


def drop(conn: socket.socket) -> None:
    sel.unregister(conn)
    pending.pop(conn, None)
    conn.close()


while True:
    for key, events in sel.select():
        sock = key.fileobj
        if sock is server:
            conn, _ = server.accept()
            conn.setblocking(False)
            pending[conn] = bytearray()
            sel.register(conn, selectors.EVENT_READ)
            continue
        if events & selectors.EVENT_READ:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                drop(sock)  # the mistake: the client only half-closed, and data is waiting
                continue
            pending[sock] += chunk
            sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        if events & selectors.EVENT_WRITE and pending.get(sock):
            try:
                sent = sock.send(pending[sock])
            except BlockingIOError:
                continue
            except OSError:
                drop(sock)
                continue
            del pending[sock][:sent]
            if not pending[sock]:
                sel.modify(sock, selectors.EVENT_READ)  # nothing to send: no busy loop
