"""Exercise 09: TLS by hand. The program must read rawhttp's HTTPS answer, and must refuse
an impostor: a server with a certificate for the same names from a CA it was not told to
trust. A client with CERT_NONE (or no host name check) talks to the impostor, which the
check sees, because the impostor receives its request."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from lab.exercise import evidence
from lab.exercise.context import CheckContext
from services.common.lab_ca import ensure_ca, server_context
from services.common.paths import state_dir


@dataclass
class Impostor:
    port: int = 0
    handshakes: int = 0  # TLS handshakes that completed: the client accepted our certificate
    requests: list[bytes] = field(default_factory=list)  # what it sent us after that


def _serve(
    listener: socket.socket, context: ssl.SSLContext, seen: Impostor, stop: threading.Event
) -> None:
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        raw.settimeout(3)
        try:
            with context.wrap_socket(raw, server_side=True) as tls:
                seen.handshakes += 1
                data = tls.recv(4096)
                if data:
                    seen.requests.append(data)
                    tls.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nimpostor\n"
                    )
        except (ssl.SSLError, OSError):
            pass  # the client refused our certificate: exactly what it should do
        finally:
            raw.close()


@contextlib.contextmanager
def impostor_server() -> Iterator[Impostor]:
    """A TLS server whose certificate names localhost and 127.0.0.1, from a foreign CA."""
    files = ensure_ca(state_dir() / "exercises" / "impostor")
    context = server_context(files)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    seen = Impostor(port=listener.getsockname()[1])
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, context, seen, stop), daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def check(ctx: CheckContext) -> None:
    evidence.require("rawhttp.https")
    ca = evidence.ca_path()
    timeout = ctx.param("timeout", 15.0)
    env = {
        **ctx.target_env("rawhttp.https"),
        "WIRELAB_CA_FILE": ca,
        "WIRELAB_SERVER_NAME": "localhost",
    }

    since = time.time()
    run = ctx.run(env, timeout=timeout)
    ctx.expect_clean_exit(run, "against rawhttp's HTTPS port, the program exited with 0")
    printed = next((line for line in run.stdout.splitlines() if line.startswith("HTTP/")), "")
    served = [
        e
        for e in evidence.request_log("rawhttp", since)
        if e.get("method") == "GET" and e.get("path") == "/"
    ]
    statuses = {str(e.get("status")) for e in served}
    if not ctx.expect(
        "it sent a GET over TLS and printed rawhttp's status line",
        printed.startswith("HTTP/1.1 ") and printed.split(" ")[1] in statuses,
        f"rawhttp logged {len(served)} GET / over TLS; the program printed {printed or 'no status line'!r}",
        "wrap the socket with context.wrap_socket(sock, server_hostname=...), then send the "
        "GET and read the answer through the wrapped socket",
    ):
        return  # refusing an impostor means nothing from a client that cannot talk TLS yet

    with impostor_server() as impostor:
        fake_env = {**env, "WIRELAB_TARGET_PORT": str(impostor.port)}
        fake = ctx.run(fake_env, timeout=timeout)
    fooled = bool(impostor.requests) or impostor.handshakes > 0
    seen = (
        f"the impostor completed {impostor.handshakes} handshake(s) and received "
        f"{len(impostor.requests)} request(s); the program: {fake.describe()}"
    )
    ctx.expect(
        "it refused a server whose certificate the lab CA did not sign",
        not fooled and fake.exit_code not in (0, None),
        seen,
        "verify the certificate: ssl.create_default_context(cafile=WIRELAB_CA_FILE) keeps "
        "CERT_REQUIRED and check_hostname; never set verify_mode = CERT_NONE",
    )
