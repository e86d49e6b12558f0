"""``python -m services.udpstream --host H --port P [caps...] [--log-level debug]``."""

from __future__ import annotations

import argparse
import signal
import time

from services.common.net import bind_socket
from services.common.service_main import run_service, setup_logging
from services.ports import BY_NAME, default_port
from services.udpstream.control import Caps
from services.udpstream.engine import Engine
from services.udpstream.pacing import QUANTUM_NS
from services.udpstream.server import UdpStreamServer

DEFAULTS = Caps()


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.udpstream", description="UDP streamer and echo."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_port, default=None, help="UDP port (default from services.ports)"
    )
    p.add_argument("--log-level", default=None, help="debug shows every control datagram")
    caps = p.add_argument_group("caps (per client = per source address)")
    caps.add_argument(
        "--max-rate", type=_positive(int), default=DEFAULTS.max_rate, help="datagrams/s per stream"
    )
    caps.add_argument(
        "--max-size", type=_positive(int), default=DEFAULTS.max_size, help="bytes per datagram"
    )
    caps.add_argument(
        "--max-bandwidth",
        type=_positive(int),
        default=DEFAULTS.max_bandwidth,
        help="bytes/s per client",
    )
    caps.add_argument(
        "--max-streams-per-client", type=_positive(int), default=DEFAULTS.max_streams_per_client
    )
    caps.add_argument(
        "--max-streams", type=_positive(int), default=DEFAULTS.max_streams, help="all clients"
    )
    caps.add_argument(
        "--max-duration",
        type=_positive(float),
        default=DEFAULTS.max_duration,
        help="seconds per stream",
    )
    caps.add_argument(
        "--max-client-seconds",
        type=_positive(float),
        default=DEFAULTS.max_client_seconds,
        help="stream-seconds per client per --client-window",
    )
    caps.add_argument("--client-window", type=_positive(float), default=DEFAULTS.client_window)
    caps.add_argument(
        "--keepalive-timeout",
        type=_positive(float),
        default=DEFAULTS.keepalive_timeout,
        help="seconds of client silence that stop its streams",
    )
    caps.add_argument(
        "--amplification-factor",
        type=_positive(float),
        default=DEFAULTS.amplification_factor,
        help="bytes sent per byte received before an address is validated",
    )
    p.add_argument(
        "--pacing-quantum-us", type=_positive(int), default=QUANTUM_NS // 1000,
        help="above 1e6/quantum datagrams/s, send in bursts once per quantum (see pacing.py)",
    )  # fmt: skip
    return p


def main() -> None:
    args = build_parser().parse_args()
    log = setup_logging("udpstream", args.log_level)
    port = args.port if args.port is not None else default_port("udpstream")
    caps = Caps(
        max_rate=args.max_rate,
        max_size=args.max_size,
        max_bandwidth=args.max_bandwidth,
        max_streams_per_client=args.max_streams_per_client,
        max_streams=args.max_streams,
        max_duration=args.max_duration,
        max_client_seconds=args.max_client_seconds,
        client_window=args.client_window,
        keepalive_timeout=args.keepalive_timeout,
        amplification_factor=args.amplification_factor,
    )
    sock = bind_socket(
        "udpstream", args.host, port, proto="udp", env_var=BY_NAME["udpstream"].env_var
    )
    server = UdpStreamServer(
        sock,
        Engine(
            caps, started_ns=time.monotonic_ns(), pacing_quantum_ns=args.pacing_quantum_us * 1000
        ),
    )
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    log.info("udpstream listening on %s:%d/udp", args.host, sock.getsockname()[1])
    try:
        server.serve_forever()
    finally:
        sock.close()
    log.info("udpstream stopped")


if __name__ == "__main__":
    run_service("udpstream", main)
