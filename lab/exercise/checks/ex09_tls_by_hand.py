"""Exercise 09: TLS by hand. The program must read rawhttp's HTTPS answer, and must refuse
two impostors:

- a server with a certificate for the same names from a CA it was not told to trust: a
  client with CERT_NONE talks to it, which the check sees because it receives the request;
- a server whose certificate the lab CA did sign, but for other names than the one the
  program was told to expect: a client with ``check_hostname = False`` (the chain still
  verified) talks to it. That server is rawhttp itself, asked for a name its certificate
  does not hold, so its request log shows whether the program sent it a request.

Refusing is not enough on its own: the program must also say so with a non-zero exit.
"""

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
    ctx.expect(
        "it refused a server whose certificate the lab CA did not sign",
        not fooled,
        f"the impostor completed {impostor.handshakes} handshake(s) and received "
        f"{len(impostor.requests)} request(s); the program: {fake.describe()}",
        "verify the certificate chain: ssl.create_default_context(cafile=WIRELAB_CA_FILE) "
        "keeps CERT_REQUIRED and check_hostname; never set verify_mode = CERT_NONE",
    )
    _expect_refusal_exit(ctx, fake, fooled, "the foreign-CA impostor")

    # A genuine lab certificate, for other names: only the host name check refuses it.
    wrong_name = f"{ctx.param('wrong_name_prefix', 'payments')}-{ctx.nonce()}.wirelab.test"
    since = time.time()
    misnamed = ctx.run({**env, "WIRELAB_SERVER_NAME": wrong_name}, timeout=timeout)
    talked = [e for e in evidence.request_log("rawhttp", since) if e.get("method") != "-"]
    if talked:
        seen = (
            f"told to expect {wrong_name}, it sent rawhttp {len(talked)} request(s), although "
            f"rawhttp's certificate names localhost and 127.0.0.1, not {wrong_name}"
        )
    else:
        seen = f"told to expect {wrong_name}, it sent rawhttp nothing"
    ctx.expect(
        "it refused a lab-signed certificate issued for other names",
        not talked,
        f"{seen}; the program: {misnamed.describe()}",
        "the chain was fine (the lab CA signed it) but the name was not: you turned off the "
        "host name check. Keep context.check_hostname = True (create_default_context() sets "
        "it) and pass server_hostname=WIRELAB_SERVER_NAME, the name you expect",
    )
    _expect_refusal_exit(ctx, misnamed, bool(talked), "the misnamed server")


def _expect_refusal_exit(ctx: CheckContext, run, fooled: bool, who: str) -> None:
    """Refusing must be visible to whoever runs the program: exit 1, not 0."""
    if fooled or run.timed_out:
        return  # it did not refuse (or never finished): the exit code says nothing more
    ctx.expect(
        f"after refusing {who}, it exited with a non-zero code",
        run.exit_code not in (0, None),
        run.describe(),
        "it refused to talk, which is right, but exited 0 as if all went well: exit 1 when "
        "the server cannot be trusted (catch ssl.SSLCertVerificationError, print why, "
        "sys.exit(1))",
    )
