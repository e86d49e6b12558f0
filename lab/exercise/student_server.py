"""Start a student's server program and wait until it listens, for checks of exercises
where the student writes the server (02, 11, 13)."""

from __future__ import annotations

import socket
import time

from lab.exercise.context import CheckContext
from lab.exercise.program import Background


def wait_listening(server: Background, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def expect_listening(ctx: CheckContext, server: Background, port: int) -> bool:
    """Wait for the server; when it never listens, record why (a crash, a wrong port)."""
    if wait_listening(server, port, ctx.param("start_timeout", 8.0)):
        return True
    died = server.result()
    ctx.crashed = ctx.crashed or died.crashed
    ctx.expect(
        f"the server listens on 127.0.0.1:{port} (WIRELAB_LISTEN_PORT)",
        False,
        died.describe() if not server.alive() else "nothing accepted connections",
        "bind to the host and port from WIRELAB_LISTEN_HOST / WIRELAB_LISTEN_PORT",
    )
    return False


def expect_still_running(
    ctx: CheckContext, server: Background, when: str = "after every client"
) -> bool:
    if server.alive():
        return True
    died = server.result()
    ctx.crashed = ctx.crashed or died.crashed
    return ctx.expect(
        f"the server keeps running {when}", False, died.describe(), "read its traceback"
    )
