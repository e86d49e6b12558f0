"""faultproxy next to ``socat -b 262144``, Toxiproxy 2.12.0, a naive asyncio proxy and
direct loopback, in one run.

Measurements (each row: ``figure`` is ours, ``peer_figure`` the peer's, ratio = ours/peer),
by section (``--only``):

- ``throughput``: 1 and 8 connections, MB/s (1 MB = 10^6 bytes): a client streams a
  fixed amount (announced in an 8-byte header) to a sink (separate process) through each
  relay; the sink reads that much and answers the byte count; time from first byte to
  that answer. Peers: socat (a C relay, large buffer), a naive asyncio proxy (streams,
  uvloop when installed), Toxiproxy, and direct loopback (no relay: the ceiling).
- ``rtt``: 64-byte ping-pongs against an echo server, in rounds (9, or 3 with
  ``--quick``); each round opens fresh connections and pings every path in turn (direct,
  faultproxy, socat, Toxiproxy; the order rotated per round). Every figure is the median
  over rounds of the per-round figure: added RTT (p50, p99: through the relay minus
  direct, paired within a round), round-trip p50/p99 per path, and faultproxy's p99 over
  Toxiproxy's, whose per-round min-max is in the row name. Each round's figures also go
  to stderr. A p99 is a handful of pings: one burst of load from another process moves
  it by 2x on a shared 2-core machine, so read a single round's ratio with care.
- ``accuracy``: a ``latency`` 100 ms toxic on the downstream, p50 of (RTT - direct p50)
  in ms against the configured 100 ms; 2 MB through a ``bandwidth`` 1000 KB/s toxic,
  achieved KB/s against the configured 1000; faultproxy's errors against Toxiproxy's.
  Both relays in turn for 5 rounds (1 with ``--quick``); each figure is the median round.
- ``http``: HTTP req/s with a non-matching ``http_status`` toxic against none.
- ``persist``: creating proxies with ``--persist`` against without.

Run: ``python -m bench.bench_faultproxy [--quick] [--only SECTION[,SECTION...]]`` or
``python -m bench faultproxy`` (every section).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import httpx

from bench.common import (
    create_proxy,
    faultproxy_process,
    process,
    row,
    toxiproxy_api,
    toxiproxy_missing,
)
from services.common.processes import free_port

TOXIPROXY = "Toxiproxy 2.12.0"

SOCAT = "socat -b 262144"

# A sink ("sink": read to EOF, answer the count) and an echo server, with threads, so the
# measuring end is never the relay's bottleneck on a 2-core machine.
SERVER_SCRIPT = r"""
import socket, struct, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(128)
def sink(c):
    # The client announces its length first: the answer must not depend on the relay
    # passing a half-close on (Toxiproxy does not).
    head = b""
    while len(head) < 8:
        part = c.recv(8 - len(head))
        if not part: c.close(); return
        head += part
    want = struct.unpack("!Q", head)[0]
    buf = bytearray(1 << 20); view = memoryview(buf); total = 0
    while total < want:
        n = c.recv_into(view)
        if not n: break
        total += n
    c.sendall(struct.pack("!Q", total)); c.close()
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=sink if mode == "sink" else echo, args=(c,), daemon=True).start()
"""

NAIVE_PROXY_SCRIPT = r"""
import asyncio, sys
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
listen, target = int(sys.argv[1]), int(sys.argv[2])
async def pipe(r, w):
    while True:
        d = await r.read(262144)
        if not d: break
        w.write(d); await w.drain()
    w.write_eof()  # pass the half-close on
async def handle(cr, cw):
    ur, uw = await asyncio.open_connection("127.0.0.1", target)
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw), return_exceptions=True)
    cw.close(); uw.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=128)
    await srv.serve_forever()
asyncio.run(main())
"""


@contextlib.contextmanager
def server(mode: str) -> Iterator[int]:
    """A sink or echo server in its own process; yields its port."""
    port = free_port()
    with process([sys.executable, "-c", SERVER_SCRIPT, mode, str(port)], port=port):
        yield port


# ---- relays --------------------------------------------------------------------------


@contextlib.contextmanager
def faultproxy(target: int) -> Iterator[tuple[int, httpx.Client]]:
    """A faultproxy with one proxy, ``bench``, to ``target``: (its port, the API client)."""
    with faultproxy_process() as (api, _proc):
        yield create_proxy(api, "bench", target), api


@contextlib.contextmanager
def toxiproxy(target: int) -> Iterator[tuple[int, httpx.Client] | None]:
    """The reference Toxiproxy with one proxy, ``bench``, to ``target``; None when absent."""
    if toxiproxy_missing():
        yield None
        return
    with toxiproxy_api() as api:
        yield create_proxy(api, "bench", target), api


@contextlib.contextmanager
def socat(target: int) -> Iterator[int]:
    port = free_port()
    args = [
        "socat",
        "-b",
        "262144",
        f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
        f"TCP:127.0.0.1:{target}",
    ]
    with process(args, port=port):
        yield port


@contextlib.contextmanager
def naive(target: int) -> Iterator[int]:
    port = free_port()
    with process([sys.executable, "-c", NAIVE_PROXY_SCRIPT, str(port), str(target)], port=port):
        yield port


# ---- measurements --------------------------------------------------------------------


def throughput(port: int, connections: int, per_conn: int) -> float:
    """MB/s of ``connections`` parallel streams of ``per_conn`` bytes each into the sink."""
    block = memoryview(bytes(1 << 20))
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(connections + 1)

    def one() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port)) as s:
                barrier.wait()
                s.sendall(per_conn.to_bytes(8, "big"))
                left = per_conn
                while left > 0:
                    n = min(left, len(block))
                    s.sendall(block[:n])
                    left -= n
                answer = b""
                while len(answer) < 8:
                    part = s.recv(8 - len(answer))
                    if not part:
                        break
                    answer += part
                results.append(int.from_bytes(answer, "big"))
        except BaseException as exc:  # reported below, with the relay named by the caller
            errors.append(exc)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.abort()

    threads = [threading.Thread(target=one) for _ in range(connections)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"throughput run failed: {errors[0]!r}")
    if sum(results) != connections * per_conn:
        raise RuntimeError(f"sink counted {sum(results)} bytes, expected {connections * per_conn}")
    return connections * per_conn / elapsed / 1e6


def ping(s: socket.socket, payload: bytes = b"p" * 64) -> float:
    """One ping-pong on an open connection; the round trip in µs."""
    start = time.perf_counter_ns()
    s.sendall(payload)
    got = 0
    while got < len(payload):
        part = s.recv(len(payload) - got)
        if not part:
            raise RuntimeError("echo closed early")
        got += len(part)
    return (time.perf_counter_ns() - start) / 1000


def interleaved_rtts(ports: list[int], count: int) -> list[list[float]]:
    """RTTs through each port, one ping on each in turn, so a burst of load from other
    processes on this shared machine hits every path alike."""
    socks = [socket.create_connection(("127.0.0.1", p)) for p in ports]
    try:
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(20):  # warm-up: connect, first wake-ups
                ping(s)
        out: list[list[float]] = [[] for _ in ports]
        for _ in range(count):
            for i, s in enumerate(socks):
                out[i].append(ping(s))
        return out
    finally:
        for s in socks:
            s.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


SECTIONS = ("throughput", "rtt", "accuracy", "http", "persist")


def run(quick: bool = False, only: Iterable[str] | None = None) -> list[dict]:
    """All sections, or those in ``only`` (names from SECTIONS), in SECTIONS order."""
    wanted = set(SECTIONS if only is None else only)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    if wanted & {"throughput", "rtt"} and shutil.which("socat") is None:
        raise RuntimeError("socat is not installed (Debian package socat; see .ci/system-deps.sh)")
    missing = toxiproxy_missing()
    if missing and wanted & {"throughput", "rtt", "accuracy"}:
        print(f"# no Toxiproxy peer: {missing}", file=sys.stderr)
    sections: dict[str, Callable[[bool], list[dict]]] = {
        "throughput": throughput_rows,
        "rtt": rtt_rows,
        "accuracy": accuracy_rows,
        "http": http_toxic_rows,
        "persist": persist_rows,
    }
    rows: list[dict] = []
    for name in SECTIONS:
        if name in wanted:
            rows.extend(sections[name](quick))
    return rows


def throughput_rows(quick: bool) -> list[dict]:
    one_conn = 200_000_000 if quick else 500_000_000
    eight_conn = 25_000_000 if quick else 64_000_000
    repeats = 2 if quick else 5
    rows: list[dict] = []
    with server("sink") as target, faultproxy(target) as (fp_port, _), socat(target) as socat_port:
        with naive(target) as naive_port, toxiproxy(target) as tp:
            relays = {
                "faultproxy": fp_port,
                "socat": socat_port,
                "naive": naive_port,
                "direct": target,
            }
            if tp is not None:
                relays["toxiproxy"] = tp[0]
            results: dict[str, dict[int, float]] = {name: {1: 0.0, 8: 0.0} for name in relays}
            # Round-robin over the relays, best of several: load from other processes on a
            # shared machine only ever slows a run down, and it hits every relay alike.
            for _ in range(repeats):
                for name, port in relays.items():
                    for n in (1, 8):
                        figure = throughput(port, n, one_conn if n == 1 else eight_conn)
                        results[name][n] = max(results[name][n], figure)
    # Each row compares one relay's figure (first) with another's, both from ``results``.
    comparisons = [
        ("faultproxy", "socat"),
        ("faultproxy", "naive"),
        ("faultproxy", "direct"),
        ("naive", "socat"),
        ("direct", "socat"),
        ("faultproxy", "toxiproxy"),
    ]
    for n in (1, 8):
        for relay, peer in comparisons:
            if relay not in results or peer not in results:
                continue
            rows.append(
                row(
                    f"throughput, {n} conn, {SHORT[relay]} vs {SHORT[peer]}",
                    results[relay][n],
                    "MB/s",
                    PEER_NAME[peer],
                    results[peer][n],
                )
            )
    return rows


SHORT = {
    "faultproxy": "faultproxy",
    "socat": "socat",
    "naive": "naive asyncio",
    "direct": "direct",
    "toxiproxy": "Toxiproxy",
}
PEER_NAME = {
    "socat": SOCAT,
    "naive": "naive asyncio proxy",
    "direct": "direct loopback",
    "toxiproxy": TOXIPROXY,
}


def rtt_rounds(ports: dict[str, int], rounds: int, pings: int) -> list[dict[str, list[float]]]:
    """``rounds`` rounds of ``pings`` interleaved ping-pongs on every path, fresh
    connections each round, the order of the paths rotated from one round to the next
    (so no path always follows the same one). One dict of RTTs (µs) per round.

    One round's p99 is a handful of the slowest pings: a single burst of load from another
    process on this shared 2-core machine moves it a lot. Several rounds, each reported,
    say how much of a difference between paths is noise.
    """
    names = list(ports)
    out: list[dict[str, list[float]]] = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        rtts = interleaved_rtts([ports[n] for n in order], pings)
        out.append(dict(zip(order, rtts, strict=True)))
    return out


def rtt_rows(quick: bool) -> list[dict]:
    """Round trips of 64-byte ping-pongs through each relay and directly: per path and
    percentile, the median over rounds of the per-round figure."""
    rounds = 3 if quick else 9
    pings = 500 if quick else 2000
    with server("echo") as target:
        with (
            faultproxy(target) as (fp_port, _),
            socat(target) as socat_port,
            toxiproxy(target) as tp,
        ):
            ports = {"direct": target, "faultproxy": fp_port, "socat": socat_port}
            if tp is not None:
                ports["toxiproxy"] = tp[0]
            per_round = rtt_rounds(ports, rounds, pings)

    def stat(path: str, q: float) -> list[float]:
        return [pct(r[path], q) for r in per_round]

    def added(path: str, q: float) -> float:
        # Paired within a round: both paths saw the same minute of machine load.
        return statistics.median(
            a - d for a, d in zip(stat(path, q), stat("direct", q), strict=True)
        )

    for i, r in enumerate(per_round, 1):
        line = ", ".join(f"{p} {pct(r[p], 0.5):.0f}/{pct(r[p], 0.99):.0f}" for p in ports if p in r)
        print(f"# rtt round {i}/{rounds} ({pings} pings), p50/p99 µs: {line}", file=sys.stderr)
    rows: list[dict] = []
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        rows.append(
            row(
                f"added RTT {label} (64 B ping-pong)",
                added("faultproxy", q),
                "µs",
                SOCAT,
                added("socat", q),
            )
        )
    if tp is not None:
        rows.append(
            row(
                "added RTT p50, faultproxy vs Toxiproxy",
                added("faultproxy", 0.5),
                "µs",
                TOXIPROXY,
                added("toxiproxy", 0.5),
            )
        )
        rows.append(
            row(
                "round-trip p99, faultproxy vs Toxiproxy",
                statistics.median(stat("faultproxy", 0.99)),
                "µs",
                TOXIPROXY,
                statistics.median(stat("toxiproxy", 0.99)),
            )
        )
        ratios = [
            f / t for f, t in zip(stat("faultproxy", 0.99), stat("toxiproxy", 0.99), strict=True)
        ]
        rows.append(
            row(
                f"round-trip p99 ratio per round, faultproxy/Toxiproxy: median "
                f"(min-max {min(ratios):.2f}-{max(ratios):.2f} over {rounds} rounds)",
                statistics.median(ratios),
                "x",
                "parity",
                1.0,
            )
        )
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        for path in ("faultproxy", "toxiproxy", "socat"):
            if path in ports:
                rows.append(
                    row(
                        f"round-trip {label}, {SHORT[path]} vs direct",
                        statistics.median(stat(path, q)),
                        "µs",
                        PEER_NAME["direct"],
                        statistics.median(stat("direct", q)),
                    )
                )
    return rows


def accuracy_rows(quick: bool) -> list[dict]:
    """A 100 ms ``latency`` and a 1000 KB/s ``bandwidth`` toxic, on faultproxy and
    Toxiproxy in turn, for several rounds; per relay, the median round (the latency against
    direct loopback's p50 from the same run). One 2-second transfer is off by a few ms
    either way from load alone, which is the size of the errors being compared."""
    rounds = 1 if quick else 5
    runs: dict[str, list[tuple[list[float], float]]] = {}
    with server("echo") as target:
        base = pct(interleaved_rtts([target], 200 if quick else 1000)[0], 0.5)
        with faultproxy(target) as (port, api), toxiproxy(target) as tp:
            relays = {"faultproxy": (port, api)}
            if tp is not None:
                relays["toxiproxy"] = tp
            for _ in range(rounds):
                for who, (relay_port, relay_api) in relays.items():
                    runs.setdefault(who, []).append(toxic_accuracy(relay_port, relay_api, quick))
    accuracy = {
        who: (
            [statistics.median(delayed) for delayed, _ in found],
            statistics.median(kbps for _, kbps in found),
        )
        for who, found in runs.items()
    }
    rows: list[dict] = []
    for who, (delayed, kbps) in accuracy.items():
        rows.append(
            row(
                f"latency toxic 100 ms, p50 added ({who})",
                (statistics.median(delayed) - base) / 1000,
                "ms",
                "configured",
                100.0,
            )
        )
        rows.append(
            row(f"bandwidth toxic 1000 KB/s, achieved ({who})", kbps, "KB/s", "configured", 1000.0)
        )
    if "toxiproxy" in accuracy:
        errors = {
            who: (
                abs((statistics.median(d) - base) / 1000 - 100.0),
                abs(k - 1000.0) / 10,  # percent off
            )
            for who, (d, k) in accuracy.items()
        }
        rows.append(
            row(
                "latency toxic |error|, faultproxy vs Toxiproxy",
                errors["faultproxy"][0],
                "ms",
                TOXIPROXY,
                errors["toxiproxy"][0],
            )
        )
        rows.append(
            row(
                "bandwidth toxic |error|, faultproxy vs Toxiproxy",
                errors["faultproxy"][1],
                "%",
                TOXIPROXY,
                errors["toxiproxy"][1],
            )
        )
    return rows


def toxic_accuracy(port: int, api: httpx.Client, quick: bool) -> tuple[list[float], float]:
    """RTTs (µs) under a 100 ms ``latency`` toxic, and KB/s under a 1000 KB/s ``bandwidth``."""
    api.post(
        "/proxies/bench/toxics", json={"type": "latency", "attributes": {"latency": 100}}
    ).raise_for_status()
    delayed = interleaved_rtts([port], 20 if quick else 50)[0]
    api.post("/reset").raise_for_status()
    api.post(
        "/proxies/bench/toxics",
        json={"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 1000}},
    ).raise_for_status()
    size = 1_000_000 if quick else 2_000_000
    with socket.create_connection(("127.0.0.1", port)) as s:
        payload = bytes(size)
        start = time.perf_counter()
        reader_done = threading.Event()
        got = [0]

        def drain() -> None:
            while got[0] < size:
                part = s.recv(1 << 20)
                if not part:
                    break
                got[0] += len(part)
            reader_done.set()

        threading.Thread(target=drain, daemon=True).start()
        s.sendall(payload)
        reader_done.wait(60)
        elapsed = time.perf_counter() - start
    api.post("/reset").raise_for_status()
    return delayed, got[0] / elapsed / 1000


# ---- HTTP toxics and --persist -----------------------------------------------------------

HTTP_SERVER_SCRIPT = r"""
import socket, sys, threading
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(128)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while True:
        d = c.recv(65536)
        if not d: break
        buf += d
        while b"\r\n\r\n" in buf:
            _, buf = buf.split(b"\r\n\r\n", 1)
            c.sendall(ANSWER)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

HTTP_REQUEST = (
    b"GET /api/items?page=2 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1\r\n"
    b"Accept: application/json\r\n\r\n"
)
HTTP_ANSWER_LEN = len(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")


def http_rates(ports: list[int], count: int) -> list[float]:
    """Sequential keep-alive requests per second through each port, one request on each in
    turn (as `interleaved_rtts` does), so load from other processes hits every path alike."""
    socks = [socket.create_connection(("127.0.0.1", p)) for p in ports]
    spent = [0.0] * len(ports)
    try:
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            for i, s in enumerate(socks):
                start = time.perf_counter()
                s.sendall(HTTP_REQUEST)
                got = 0
                while got < HTTP_ANSWER_LEN:
                    part = s.recv(4096)
                    if not part:
                        raise RuntimeError("HTTP upstream closed early")
                    got += len(part)
                spent[i] += time.perf_counter() - start
    finally:
        for s in socks:
            s.close()
    return [count / t for t in spent]


def http_toxic_rows(quick: bool) -> list[dict]:
    """req/s through a proxy with an ``http_status`` toxic that matches no request, against
    the same faultproxy's plain proxy: interleaved request by request, best of several."""
    port = free_port()
    count = 1000 if quick else 3000
    best = {"plain": 0.0, "toxic": 0.0}
    with process([sys.executable, "-c", HTTP_SERVER_SCRIPT, str(port)], port=port):
        with faultproxy_process() as (api, _proc):
            plain = create_proxy(api, "plain", port)
            toxic = create_proxy(api, "toxic", port)
            api.post(
                "/proxies/toxic/toxics",
                json={
                    "type": "http_status",
                    "attributes": {"status": 503, "match": {"path": "/never"}},
                },
            ).raise_for_status()
            for _ in range(2 if quick else 5):
                plain_rate, toxic_rate = http_rates([plain, toxic], count)
                best["plain"] = max(best["plain"], plain_rate)
                best["toxic"] = max(best["toxic"], toxic_rate)
    return [
        row(
            "HTTP req/s, non-matching http_status toxic vs none",
            best["toxic"],
            "req/s",
            "same proxy without the toxic",
            best["plain"],
        )
    ]


def create_many(extra: tuple[str, ...], n: int, target: int) -> float:
    """Seconds to create ``n`` proxies, one API call each, on a fresh faultproxy."""
    with faultproxy_process(*extra) as (api, _proc):
        start = time.perf_counter()
        for i in range(n):
            create_proxy(api, f"p{i}", target)
        return time.perf_counter() - start


def persist_rows(quick: bool) -> list[dict]:
    """Creating proxies with ``--persist`` against without, alternating, median of runs."""
    import tempfile
    from pathlib import Path

    n = 300 if quick else 1000
    times: dict[str, list[float]] = {"persist": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp, server("echo") as target:
        cfg = Path(tmp) / "state.json"
        for _ in range(1 if quick else 3):
            cfg.write_text("[]")
            times["persist"].append(create_many(("--config", str(cfg), "--persist"), n, target))
            times["plain"].append(create_many((), n, target))
        saved = len(json.loads(cfg.read_text()))
    if saved != n:
        raise RuntimeError(f"--persist saved {saved} proxies, expected {n}")
    return [
        row(
            f"create {n} proxies, --persist vs without",
            statistics.median(times["persist"]),
            "s",
            "without --persist",
            statistics.median(times["plain"]),
        )
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_faultproxy")
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher numbers")
    parser.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help=f"run only these sections (repeat or comma-separate): {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = [s.strip() for part in args.only for s in part.split(",") if s.strip()]
        unknown = sorted(set(only) - set(SECTIONS))
        if unknown:
            parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    for r in run(args.quick, only):
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
