"""rawhttp next to other HTTP/1.1 servers, one load generator for all, in the same run.

Every server answers a small keep-alive ``GET`` with a ~60-byte JSON body:

- rawhttp ``--mode selectors`` and ``--mode threads``: ``GET /healthz``;
- uvicorn ``--http h11`` and ``--http httptools`` serving ``hello_app`` below (the
  default event loop, i.e. uvloop when installed), access log off;
- ``python -m http.server`` serving a file of the same body (HTTP/1.1, so keep-alive).

The load generator is ``wrk -t1 -c50 --latency`` when installed (Debian's ``wrk``), and
otherwise a small Python keep-alive client (``_python_load``), slower than wrk but the
same for every server. Servers run one at a time, so they never share the CPU with each
other, only with the load generator. Rows: req/s, p50 and p99 latency, each beside a
peer, ratio = ours / peer (for latency, lower is better, so the ratio is peer / ours).

Run: ``python -m bench.bench_rawhttp [--quick]`` or ``python -m bench rawhttp``.
"""

from __future__ import annotations

import json
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BODY = json.dumps({"status": "ok", "service": "bench", "mode": "peer-of-rawhttp"}).encode() + b"\n"
CONNECTIONS = 50


async def hello_app(scope, receive, send):  # the minimal ASGI app the uvicorn peers serve
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    """(label, argv after python, path to GET) for every server."""
    (workdir / "hello.json").write_bytes(BODY)
    py = sys.executable
    rawhttp = [py, "-m", "services.rawhttp", "--host", "127.0.0.1", "--http-only"]
    rawhttp += ["--log-level", "warning", "--state-dir", str(workdir)]
    uvicorn = [py, "-m", "uvicorn", "bench.bench_rawhttp:hello_app", "--host", "127.0.0.1"]
    uvicorn += ["--no-access-log", "--log-level", "warning"]
    return [
        ("rawhttp selectors", [*rawhttp, "--mode", "selectors"], "/healthz"),
        ("rawhttp threads", [*rawhttp, "--mode", "threads", "--workers", "64"], "/healthz"),
        ("uvicorn h11", [*uvicorn, "--http", "h11"], "/"),
        ("uvicorn httptools", [*uvicorn, "--http", "httptools"], "/"),
        (
            "http.server",
            [py, "-c", _HTTP_SERVER_11, str(workdir)],
            "/hello.json",
        ),
    ]


# http.server speaks HTTP/1.0 unless told otherwise, and then closes every connection;
# HTTP/1.1 keeps it comparable (keep-alive), and its log goes nowhere.
_HTTP_SERVER_11 = """
import functools, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
port = int(sys.argv[2])
handler = functools.partial(H, directory=sys.argv[1])
http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
"""


def _start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    if argv[1] == "-c":
        argv = [*argv, str(port)]
    else:
        argv = [*argv, "--port", str(port)]
    return subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- load generators ------------------------------------------------------------------


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r} not understood")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _wrk(port: int, path: str, seconds: int) -> tuple[float, float, float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        n_errors += sum(int(g) for g in socket_errors.groups())
    return rps, p50, p99, n_errors


def _python_load(port: int, path: str, seconds: float) -> tuple[float, float, float, int]:
    """A keep-alive client on one selector: each connection sends a request, reads the
    whole response (Content-Length framing), records the latency and sends the next."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, list] = {}
    for _ in range(CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sock.send(request)
        state[sock] = [b"", time.perf_counter()]
        sel.register(sock, selectors.EVENT_READ)
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for key, _ in sel.select(0.5):
            sock = key.fileobj
            entry = state[sock]  # type: ignore[index]
            data = sock.recv(65536)  # type: ignore[union-attr]
            if not data:
                raise RuntimeError("the server closed a keep-alive connection")
            buf = entry[0] + data
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                entry[0] = buf
                continue
            match = re.search(rb"(?i)content-length:\s*(\d+)", buf[:head_end])
            length = int(match.group(1)) if match else 0
            if len(buf) < head_end + 4 + length:
                entry[0] = buf
                continue
            now = time.perf_counter()
            if not buf.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(now - entry[1])
            entry[0] = buf[head_end + 4 + length :]
            entry[1] = now
            sock.send(request)  # type: ignore[union-attr]
    for sock in state:
        sock.close()
    latencies.sort()
    n = len(latencies)
    return n / seconds, latencies[n // 2] * 1000, latencies[int(n * 0.99)] * 1000, errors


def measure(label: str, argv: list[str], path: str, seconds: int, use_wrk: bool) -> Result:
    port = _free_port()
    proc = _start(argv, port)
    try:
        _wait_http(port, path)
        load = _wrk if use_wrk else _python_load
        load(port, path, 1)  # warm-up: imports, first allocations, TCP slow start
        rps, p50, p99, errors = load(port, path, seconds)
    finally:
        _stop(proc)
    return Result(label, rps, p50, p99, errors)


def run(quick: bool = False) -> list[dict]:
    seconds = 3 if quick else 10
    use_wrk = shutil.which("wrk") is not None
    generator = f"wrk -t1 -c{CONNECTIONS}" if use_wrk else f"python load, {CONNECTIONS} conns"
    with tempfile.TemporaryDirectory(prefix="bench-rawhttp-") as tmp:
        results = {
            label: measure(label, argv, path, seconds, use_wrk)
            for label, argv, path in _servers(Path(tmp))
        }
    rows: list[dict] = []

    def row(name: str, ours: float, unit: str, peer: str, theirs: float, lower_is_better: bool) -> None:
        ratio = (theirs / ours if lower_is_better else ours / theirs) if ours and theirs else None
        rows.append(
            {
                "name": f"{name} ({generator})",
                "figure": round(ours, 3),
                "unit": unit,
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
    baseline = results["uvicorn h11"]
    row("uvicorn httptools req/s", results["uvicorn httptools"].rps, "req/s", "uvicorn h11", baseline.rps, False)
    for result in results.values():
        if result.errors:
            rows.append(
                {"name": f"{result.server} errors", "figure": result.errors, "unit": "responses",
                 "peer": "", "peer_figure": None, "ratio": None}
            )  # fmt: skip
    return rows


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    rows = run(quick=quick)
    width = max(len(r["name"]) for r in rows)
    print(f"{'measurement':<{width}}  {'figure':>10} {'unit':<6} {'peer':<18} {'peer':>10}  ratio")
    for r in rows:
        peer_fig = "-" if r["peer_figure"] is None else f"{r['peer_figure']:10.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['name']:<{width}}  {r['figure']:>10.2f} {r['unit']:<6} {r['peer']:<18} {peer_fig:>10}  {ratio}")


if __name__ == "__main__":
    main()
