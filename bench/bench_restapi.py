"""Benchmark: what the rate limiter costs on GET /api/users/{id}.

Three servers on the same uvicorn settings, measured in the same run, interleaved:
  * restapi with the limiter on (a limit nobody reaches, so every request is counted),
  * restapi with the limiter off (``--no-rate-limit``),
  * a minimal FastAPI app with one route returning the same JSON (the floor).
Load comes from ``wrk`` when installed, else from a small asyncio HTTP/1.1 keep-alive client.
Target: the limiter costs less than 10% of requests per second.

    python -m bench.bench_restapi [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from services.common.paths import REPO_ROOT
from services.common.processes import free_port, stop_process

PATH = "/api/users/1"
HIGH_LIMIT = "api=1000000000/1000000000"
USER = {
    "id": 1,
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "active": True,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
}


# -- the peer: one route, same uvicorn settings ---------------------------------------
def serve_peer(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    from services.common.net import bind_socket
    from services.restapi.server import uvicorn_config
    from services.restapi.settings import Settings

    app = FastAPI()

    @app.get("/api/users/{user_id}")
    async def get_user(user_id: int) -> dict:
        return {**USER, "id": user_id}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    sock = bind_socket("bench-peer", "127.0.0.1", port)
    uvicorn.Server(uvicorn_config(app, Settings(log_level="warning"))).run(sockets=[sock])


# -- processes --------------------------------------------------------------------------
@contextlib.contextmanager
def server(args: list[str], port: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{args} exited: {proc.stderr.read().decode(errors='replace')[-500:]}"
                )
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args} not ready after 30 s") from None
                time.sleep(0.1)
        yield url
    finally:
        stop_process(proc, grace=10)


# -- load generators --------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) from ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if not rps or not p99:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    if errors:
        raise RuntimeError(f"the server answered {errors.group(1)} non-2xx responses:\n{output}")
    return float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


def load_wrk(url: str, seconds: float, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url + PATH],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    return parse_wrk(out.stdout)


async def _python_load(port: int, seconds: float, connections: int) -> tuple[float, float]:
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"unexpected response: {head[:80]!r}")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99) - 1]


def load_python(url: str, seconds: float, connections: int) -> tuple[float, float]:
    return asyncio.run(_python_load(int(url.rsplit(":", 1)[1]), seconds, connections))


# -- in-process: the CPU cost per request, without sockets or the scheduler's noise ---------
async def _asgi_round(app: object, n: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    statuses = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    # CPU time of this process, not wall time: waiting for a core that a neighbour holds
    # is not a cost of the code under test.
    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)  # type: ignore[operator]
    elapsed = time.process_time() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"in-process run answered {sorted(set(statuses))}, expected only 200")
    return elapsed / n * 1e6


def asgi_cost(rounds: int, n: int) -> dict[str, float]:
    """CPU microseconds per GET through the whole app, limiter on and off; best round of
    each (other load on the machine can only make a round slower)."""
    from services.restapi.app_factory import create_app
    from services.restapi.ratelimit import parse_policy_spec
    from services.restapi.settings import Settings

    group, policy = parse_policy_spec(HIGH_LIMIT)
    apps = {}
    with tempfile.TemporaryDirectory(prefix="bench-restapi-asgi-") as tmp:
        for name, enabled in (("limiter on", True), ("limiter off", False)):
            settings = Settings(
                state_dir=Path(tmp) / name.replace(" ", "-"), rate_limit_enabled=enabled
            )
            settings.policies[group] = policy
            apps[name] = create_app(settings)
        best = {name: float("inf") for name in apps}

        async def measure() -> None:
            for app in apps.values():
                await _asgi_round(app, 200)  # warm-up
            for _ in range(rounds):
                for name, app in apps.items():
                    best[name] = min(best[name], await _asgi_round(app, n))

        asyncio.run(measure())
        for app in apps.values():
            app.state.store.close()
    return best


# -- the run ----------------------------------------------------------------------------
def run(quick: bool = False) -> list[dict]:
    seconds, rounds, connections = (2.0, 2, 16) if quick else (4.0, 5, 16)
    wrk = shutil.which("wrk")
    load = load_wrk if wrk else load_python
    tool = "wrk" if wrk else "python asyncio client"
    state = Path(tempfile.mkdtemp(prefix="bench-restapi-"))
    variants = {
        "limiter on": [
            "-m",
            "services.restapi",
            "--state-dir",
            str(state / "on"),
            "--log-level",
            "warning",
            "--rate-limit",
            HIGH_LIMIT,
        ],
        "limiter off": [
            "-m",
            "services.restapi",
            "--state-dir",
            str(state / "off"),
            "--log-level",
            "warning",
            "--no-rate-limit",
        ],
        "minimal FastAPI": ["-m", "bench.bench_restapi", "--serve-peer"],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    print(
        f"bench_restapi: GET {PATH}, {connections} connections, {tool}, "
        f"best of {rounds} rounds x {seconds:g} s per server",
        file=sys.stderr,
    )
    with contextlib.ExitStack() as stack:
        urls = {}
        for name, args in variants.items():
            port = free_port()
            urls[name] = stack.enter_context(server([*args, "--port", str(port)], port))
            load(urls[name], 1.0, connections)  # warm-up: imports, caches, page cache
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits all three
            for name in variants:
                results[name].append(load(urls[name], seconds, connections))
    shutil.rmtree(state, ignore_errors=True)

    # Best round of each: other load on this shared machine only ever makes a round worse.
    rps = {n: max(r for r, _ in v) for n, v in results.items()}
    p99 = {n: min(p for _, p in v) for n, v in results.items()}
    cpu = asgi_cost(rounds=4 if quick else 10, n=1000 if quick else 3000)

    def row(name: str, a: str, b: str, metric: str) -> dict:
        values, unit = (rps, "req/s") if metric == "rps" else (p99, "ms p99")
        return {
            "name": name,
            "figure": round(values[a], 2),
            "unit": unit,
            "peer": b,
            "peer_figure": round(values[b], 2),
            "ratio": round(values[a] / values[b], 3),
        }

    return [
        row("req/s, limiter on vs off", "limiter on", "limiter off", "rps"),
        row("p99, limiter on vs off", "limiter on", "limiter off", "p99"),
        row("req/s, restapi vs one-route app", "limiter on", "minimal FastAPI", "rps"),
        row("p99, restapi vs one-route app", "limiter on", "minimal FastAPI", "p99"),
        {
            "name": "in-process us/request, limiter on vs off",
            "figure": round(cpu["limiter on"], 2),
            "unit": "us/req",
            "peer": "limiter off",
            "peer_figure": round(cpu["limiter off"], 2),
            "ratio": round(cpu["limiter on"] / cpu["limiter off"], 3),
        },
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_restapi", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--serve-peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_peer:
        serve_peer(args.port)
        return
    rows = run(quick=args.quick)
    for r in rows:
        print(
            f"{r['name']:<34} {r['figure']:>10} {r['unit']:<6}  {r['peer']:<16} {r['peer_figure']:>10}  ratio {r['ratio']}"
        )
    over_http, in_process = rows[0], rows[-1]
    http_cost, cpu_cost = 1 - over_http["ratio"], in_process["ratio"] - 1
    print(
        f"limiter cost over HTTP: {100 * http_cost:.1f}% of req/s "
        f"({'meets' if http_cost < 0.10 else 'MISSES'} the < 10% target; rounds on a shared "
        f"machine are noisy). In-process: +{100 * cpu_cost:.1f}% CPU per request through the "
        "app alone, before uvicorn's own per-request work dilutes it."
    )


if __name__ == "__main__":
    main()
