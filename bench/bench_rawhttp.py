"""rawhttp next to other HTTP/1.1 servers, one load generator for all, in the same run.

Every server answers a small keep-alive ``GET`` with a ~60-byte JSON body:

- rawhttp ``--mode selectors`` and ``--mode threads``: ``GET /healthz``;
- uvicorn ``--http h11`` and ``--http httptools`` serving ``hello_app`` below (the
  default event loop, i.e. uvloop when installed), access log off;
- ``python -m http.server`` serving a file of the same body. It speaks HTTP/1.0 and
  closes every connection, so its figure includes a TCP handshake per request.

The load generator is ``wrk -t1 -c50 --latency`` when installed (Debian's ``wrk``), and
otherwise a small Python keep-alive client on one selector (``_python_load``), the same
for every server. Servers are measured one at a time, in interleaved rounds (median
of 5 x 4 s; ``--quick``: 1 x 3 s), so they share the CPU only with the load generator and
a burst of load from elsewhere hits them alike. Rows: req/s, p50 and p99 latency, each
beside a peer, ratio = ours / peer (for latency, lower is better, so the ratio is peer / ours),
and the server's CPU time per request (user + system, from /proc; ratio peer / ours),
which a busy shared machine disturbs far less than req/s.

Slow and idle clients (``slow_client_rows``, issue 19), threads mode beside selectors:

- slowloris: 500 connections each holding a head open (a header line per second, and a
  reconnect after each 408) while a normal ``GET /healthz`` is probed every 0.2 s with a
  2 s timeout; the figure is the % of probes answered 200 (target >= 95 %);
- keep-alive: ``wrk -c50`` on ``/healthz``; the figure is the count of non-2xx answers and
  socket errors (target 0).

Run: ``python -m bench.bench_rawhttp [--quick] [--slow-clients]`` or ``python -m bench rawhttp``.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, stop_process

BODY = json.dumps({"status": "ok", "service": "bench", "mode": "peer-of-rawhttp"}).encode() + b"\n"
CONNECTIONS = 50


async def hello_app(scope, receive, send):  # the minimal ASGI app the uvicorn peers serve
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            # With a length, as rawhttp sends it (without one uvicorn would chunk the body).
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


@dataclass
class Result:
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # server CPU time (user + system, all threads) per request served


def _wait_http(port: int, path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not answer {path} in {timeout:.0f} s")
        time.sleep(0.1)


def _servers(workdir: Path) -> list[tuple[str, list[str], str]]:
    """(label, argv with a ``{port}`` placeholder, path to GET) for every server."""
    (workdir / "hello.json").write_bytes(BODY)
    py = sys.executable
    rawhttp = [py, "-m", "services.rawhttp", "--host", "127.0.0.1", "--port", "{port}"]
    rawhttp += ["--http-only", "--log-level", "warning", "--state-dir", str(workdir)]
    uvicorn = [py, "-m", "uvicorn", "bench.bench_rawhttp:hello_app", "--host", "127.0.0.1"]
    uvicorn += ["--port", "{port}", "--no-access-log", "--log-level", "warning"]
    # As the issue names it: HTTP/1.0, so a new connection per request (wrk reconnects).
    http_server = [py, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(workdir)]
    return [
        ("rawhttp selectors", [*rawhttp, "--mode", "selectors"], "/healthz"),
        ("rawhttp threads", [*rawhttp, "--mode", "threads", "--workers", "64"], "/healthz"),
        ("uvicorn h11", [*uvicorn, "--http", "h11"], "/"),
        ("uvicorn httptools", [*uvicorn, "--http", "httptools"], "/"),
        ("http.server", [*http_server, "{port}"], "/hello.json"),
    ]


def _start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    argv = [a.replace("{port}", str(port)) for a in argv]
    # http.server logs every request to stderr; nobody reads it here.
    return subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# -- load generators ------------------------------------------------------------------


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r} not understood")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _wrk(port: int, path: str, seconds: int) -> tuple[float, float, float, int, int]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    n_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        n_errors += sum(int(g) for g in socket_errors.groups())
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p50, p99, n_errors, requests


def _python_load(port: int, path: str, seconds: float) -> tuple[float, float, float, int, int]:
    """A keep-alive client on one selector: each connection sends a request, reads the
    whole response (Content-Length framing), records the latency and sends the next. A
    server that closes (HTTP/1.0, ``Connection: close``) gets a new connection, as wrk does."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, list] = {}

    def open_one(started: float) -> None:
        # Non-blocking connect: a server with a short backlog (http.server's is 5) must
        # not stall the other connections while the kernel retries a SYN.
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        state[sock] = [b"", started]
        sel.register(sock, selectors.EVENT_WRITE)

    def drop(sock: socket.socket) -> None:
        sel.unregister(sock)
        del state[sock]
        sock.close()

    for _ in range(CONNECTIONS):
        open_one(time.perf_counter())
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for key, mask in sel.select(0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            entry = state[sock]
            if mask & selectors.EVENT_WRITE:  # connected (or failed): send the request
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    errors += 1
                    drop(sock)
                    open_one(time.perf_counter())
                    continue
                sock.send(request)
                sel.modify(sock, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:  # closed before a whole response: an error, then a new connection
                errors += 1
                drop(sock)
                open_one(time.perf_counter())
                continue
            buf = entry[0] + data
            head_end = buf.find(b"\r\n\r\n")
            match = (
                re.search(rb"(?i)content-length:\s*(\d+)", buf[:head_end])
                if head_end >= 0
                else None
            )
            length = int(match.group(1)) if match else 0
            if head_end < 0 or len(buf) < head_end + 4 + length:
                entry[0] = buf
                continue
            now = time.perf_counter()
            head = buf[:head_end].lower()
            if not buf.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                errors += 1
            latencies.append(now - entry[1])
            if buf.startswith(b"HTTP/1.0") or b"connection: close" in head:
                drop(sock)
                open_one(now)
            else:
                entry[0] = buf[head_end + 4 + length :]
                entry[1] = now
                sock.send(request)
    for sock in list(state):
        drop(sock)
    latencies.sort()
    n = len(latencies)
    if not n:
        raise RuntimeError(f"no response at all from port {port} in {seconds} s")
    return n / seconds, latencies[n // 2] * 1000, latencies[int(n * 0.99)] * 1000, errors, n


def _cpu_seconds(pid: int) -> float:
    """CPU time a process used so far (user + system), from /proc.

    On a shared machine the wall-clock figures move with everyone else's load; the CPU
    a server spends per request moves much less, so it is reported too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def measure_all(
    servers: list[tuple[str, list[str], str]], seconds: int, rounds: int, use_wrk: bool
) -> dict[str, Result]:
    """Start every server, then measure them in interleaved rounds (A B C, A B C, ...)
    and keep each one's median, so a burst of load from elsewhere on the machine hits
    every server alike instead of skewing one of them."""
    load = _wrk if use_wrk else _python_load
    procs: dict[str, tuple[subprocess.Popen[bytes], int, str]] = {}
    samples: dict[str, list[tuple[float, float, float, int, float]]] = {
        label: [] for label, _, _ in servers
    }
    try:
        for label, argv, path in servers:
            port = free_port()
            procs[label] = (_start(argv, port), port, path)
        for _, port, path in procs.values():
            _wait_http(port, path)
            load(port, path, 1)  # warm-up: imports, first allocations, TCP slow start
        for _ in range(rounds):
            for label, (_, port, path) in procs.items():
                proc = procs[label][0]
                cpu_before = _cpu_seconds(proc.pid)
                rps, p50, p99, errors, requests = load(port, path, seconds)
                cpu = (_cpu_seconds(proc.pid) - cpu_before) / max(requests, 1) * 1e6
                samples[label].append((rps, p50, p99, errors, cpu))
    finally:
        for proc, _, _ in procs.values():
            stop_process(proc)
    return {
        label: Result(
            label,
            _median([r[0] for r in runs]),
            _median([r[1] for r in runs]),
            _median([r[2] for r in runs]),
            sum(r[3] for r in runs),
            _median([r[4] for r in runs]),
        )
        for label, runs in samples.items()
    }


def run(quick: bool = False) -> list[dict]:
    seconds, rounds = (3, 1) if quick else (4, 5)
    use_wrk = shutil.which("wrk") is not None
    # Short, because it is repeated in every row's unit: which load generator measured it.
    generator = "wrk" if use_wrk else "py-load"
    with tempfile.TemporaryDirectory(prefix="bench-rawhttp-") as tmp:
        results = measure_all(_servers(Path(tmp)), seconds, rounds, use_wrk)
    rows: list[dict] = []

    def row(
        name: str, ours: float, unit: str, peer: str, theirs: float, lower_is_better: bool
    ) -> None:
        ratio = (theirs / ours if lower_is_better else ours / theirs) if ours and theirs else None
        rows.append(
            {
                "name": name,
                "figure": round(ours, 3),
                "unit": f"{unit} ({generator})",
                "peer": peer,
                "peer_figure": round(theirs, 3),
                "ratio": round(ratio, 3) if ratio is not None else None,
            }
        )

    for ours_label in ("rawhttp selectors", "rawhttp threads"):
        ours = results[ours_label]
        for peer_label in ("uvicorn h11", "uvicorn httptools", "http.server"):
            peer = results[peer_label]
            row(f"{ours_label} req/s", ours.rps, "req/s", peer_label, peer.rps, False)
        for peer_label in ("uvicorn h11", "uvicorn httptools"):
            peer = results[peer_label]
            row(f"{ours_label} p50", ours.p50_ms, "ms", peer_label, peer.p50_ms, True)
            row(f"{ours_label} p99", ours.p99_ms, "ms", peer_label, peer.p99_ms, True)
        for peer_label in ("uvicorn h11", "uvicorn httptools"):
            peer = results[peer_label]
            row(f"{ours_label} CPU/request", ours.cpu_us, "us", peer_label, peer.cpu_us, True)
    baseline = results["uvicorn h11"]
    row(
        "uvicorn httptools req/s",
        results["uvicorn httptools"].rps,
        "req/s",
        "uvicorn h11",
        baseline.rps,
        False,
    )
    for result in results.values():
        if result.errors:
            rows.append(
                {"name": f"{result.server} errors", "figure": result.errors, "unit": "responses",
                 "peer": "", "peer_figure": None, "ratio": None}
            )  # fmt: skip
    return rows + slow_client_rows(quick)


# -- slow and idle clients --------------------------------------------------------------

SLOWLORIS = 500


def _slowloris(port: int, stop: float) -> int:
    """Hold ``SLOWLORIS`` heads open until ``stop`` (monotonic); the connections opened."""
    head = b"GET / HTTP/1.1\r\nHost: b\r\n"
    socks: list[socket.socket | None] = [None] * SLOWLORIS
    opened = 0
    while time.monotonic() < stop:
        for i in range(SLOWLORIS):
            sock = socks[i]
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                    sock.sendall(head)
                    sock.setblocking(False)
                    socks[i] = sock
                    opened += 1
                else:
                    sock.send(b"X-a: b\r\n")  # one more header line, never the blank one
            except OSError:  # a 408 and a close, or a refusal: come back with a new one
                if sock is not None:
                    sock.close()
                socks[i] = None
            if time.monotonic() >= stop:
                break
        time.sleep(1.0)
    for sock in socks:
        if sock is not None:
            sock.close()
    return opened


def _probe_during_slowloris(port: int, seconds: float) -> float:
    """% of normal GETs answered 200 within 2 s while a slowloris attack runs."""
    stop = time.monotonic() + seconds + 3
    attacker = threading.Thread(target=_slowloris, args=(port, stop), daemon=True)
    attacker.start()
    time.sleep(3)  # let the attack fill whatever it can fill
    served = tried = 0
    request = b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    while time.monotonic() < stop:
        tried += 1
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200 "):
                    served += 1
        except OSError:
            pass
        time.sleep(0.2)
    attacker.join(timeout=15)
    return 100.0 * served / tried if tried else 0.0


def slow_client_rows(quick: bool = False) -> list[dict]:
    seconds = 5 if quick else 15
    rows: list[dict] = []
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rawhttp-slow-") as tmp:
        # The threads mode with its default pool (32), which 32 idle clients used to fill.
        servers = {
            label: argv[: argv.index("--workers")] if "--workers" in argv else argv
            for label, argv, _ in _servers(Path(tmp))[:2]
        }
        for label, argv in servers.items():
            port = free_port()
            proc = _start(argv, port)
            try:
                _wait_http(port, "/healthz")
                figures = {"slowloris": _probe_during_slowloris(port, seconds)}
                if shutil.which("wrk"):
                    figures["keep-alive"] = float(_wrk(port, "/healthz", min(seconds, 5))[3])
                results[label] = figures
            finally:
                stop_process(proc)
    ours, peer = results["rawhttp threads"], results["rawhttp selectors"]

    def add(name: str, key: str, unit: str, lower_is_better: bool) -> None:
        a, b = ours[key], peer[key]
        if lower_is_better:  # errors: 0 against 0 is as good as the peer
            ratio = 1.0 if a == b else (b / a if a else None)
        else:
            ratio = a / b if b else None
        rows.append(
            {"name": name, "figure": round(a, 3), "unit": unit, "peer": "rawhttp selectors",
             "peer_figure": round(b, 3), "ratio": None if ratio is None else round(ratio, 3)}
        )  # fmt: skip

    add(f"threads served during {SLOWLORIS}-conn slowloris", "slowloris", "%", False)
    if "keep-alive" in ours:
        add(f"threads non-2xx, wrk -c{CONNECTIONS} keep-alive", "keep-alive", "responses", True)
    return rows


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    rows = slow_client_rows(quick) if "--slow-clients" in sys.argv[1:] else run(quick=quick)
    width = max(len(r["name"]) for r in rows)
    print(f"{'measurement':<{width}}  {'figure':>10} {'unit':<6} {'peer':<18} {'peer':>10}  ratio")
    for r in rows:
        peer_fig = "-" if r["peer_figure"] is None else f"{r['peer_figure']:10.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(
            f"{r['name']:<{width}}  {r['figure']:>10.2f} {r['unit']:<6} {r['peer']:<18} {peer_fig:>10}  {ratio}"
        )


if __name__ == "__main__":
    main()
