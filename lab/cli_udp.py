"""``lab udp measure`` and ``lab udp ping``: see what the network did to a UDP stream."""

from __future__ import annotations

import json

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lab.targets import TargetError, resolve
from services.udpstream.client import MeasureResult, PingResult, UdpStreamError, measure, ping
from services.udpstream.stats import IntervalSlice

udp_app = typer.Typer(
    help="Measure a UDP stream (loss, reordering, duplicates, jitter, delay) or ping the echo.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

SPARK = " ▁▂▃▄▅▆▇█"
MAX_SLICE_ROWS = 30


def _fail(message: str, as_json: bool) -> typer.Exit:
    if as_json:
        print(json.dumps({"error": message}))
    else:
        err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


def _target(target: str, as_json: bool) -> tuple[str, int]:
    try:
        return resolve(target)
    except (TargetError, KeyError) as exc:
        raise _fail(str(exc).strip("'\""), as_json) from None
    except Exception as exc:  # a backend that cannot answer: its message is the cause
        raise _fail(f"cannot resolve {target!r}: {exc}", as_json) from None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def _spark(values: list[float], top: float | None = None) -> str:
    top = top if top is not None else max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


def result_table(r: MeasureResult) -> Table:
    table = Table(
        title=f"udpstream {r.target}: {r.requested} x {r.size} B at {r.rate}/s", show_header=False
    )
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("sent", f"{r.sent}"),
        ("received", f"{r.received}"),
        ("lost", f"{r.lost} ({r.loss_pct:.2f} %)"),
        ("duplicated", f"{r.duplicates}"),
        ("out of order", f"{r.out_of_order} (max distance {r.max_reorder})"),
        ("jitter (RFC 3550)", _ms(r.jitter_ms)),
        ("one-way delay spread", _ms(r.delay_spread_ms)),
        ("delay p50 / p99 above min", f"{_ms(r.delay_p50_ms)} / {_ms(r.delay_p99_ms)}"),
        (
            "throughput",
            f"{r.throughput_pps:,.0f} datagrams/s, {r.throughput_bps / 1e6:,.2f} Mbit/s",
        ),
        ("sender's pace", f"{r.send_rate_pps:,.0f} datagrams/s (asked {r.rate:,})"),
        ("longest loss burst", f"{r.longest_loss_burst} ({r.loss_bursts} bursts)"),
        ("ended", f"{r.end_reason} after {r.elapsed_s:.2f} s"),
    ]
    if r.sender_stalled_ms:
        rows.append(
            ("sender stalled", f"{r.sender_stalled_ms:.0f} ms behind its schedule (paused?)")
        )
    if r.malformed or r.other_streams or r.ignored:
        rows.append(
            (
                "ignored",
                f"{r.malformed} malformed, {r.other_streams} other stream, {r.ignored} out of range",
            )
        )
    for name, value in rows:
        table.add_row(name, value)
    return table


def interval_view(slices: list[IntervalSlice], interval: float) -> Group:
    """Sparklines over the whole run, plus a row per slice (only lossy ones on long runs)."""
    width_ms = round(interval * 1000)
    lines = Table.grid(padding=(0, 1))
    lines.add_column(style="bold")
    lines.add_column()
    # One character per slice; a long run folds neighbours together to fit the terminal.
    fold = max(1, -(-len(slices) // max(20, console.width - 12)))
    groups = [slices[i : i + fold] for i in range(0, len(slices), fold)]
    # Heights are shares of what each column expected, so a short last slice looks full.
    expected = [sum(s.expected for s in g) or 1 for g in groups]
    received = [sum(s.received for s in g) / e for g, e in zip(groups, expected, strict=True)]
    lines.add_row("received", _spark(received, 1.0))
    lost = _spark([sum(s.lost for s in g) / e for g, e in zip(groups, expected, strict=True)], 1.0)
    lines.add_row("lost", f"[red]{lost}[/red]")
    lines.add_row("jitter", _spark([max(s.jitter_ms for s in g) for g in groups]))
    if fold > 1:
        lines.add_row("", f"(one character = {fold} slices)")
    shown = (
        slices if len(slices) <= MAX_SLICE_ROWS else [s for s in slices if s.lost or s.duplicates]
    )
    table = Table(
        title=f"per {width_ms} ms slice" + ("" if shown is slices else " (lossy slices only)")
    )
    for col in ("from", "received", "lost", "dup", "jitter"):
        table.add_column(col, justify="right")
    for s in shown[:MAX_SLICE_ROWS]:
        style = "red" if s.lost else None
        table.add_row(
            f"{s.start_s:.1f} s",
            str(s.received),
            str(s.lost),
            str(s.duplicates),
            f"{s.jitter_ms:.3f} ms",
            style=style,
        )
    if len(shown) > MAX_SLICE_ROWS:
        table.caption = f"{len(shown) - MAX_SLICE_ROWS} more slices not shown; use --json for all"
    return Group(lines, table)


@udp_app.command("measure")
def measure_cmd(
    target: str = typer.Option(
        "udpstream", "--target", "-t", help="udpstream, udpstream.via_proxy or HOST:PORT"
    ),
    rate: int = typer.Option(1000, "--rate", "-r", min=1, help="datagrams per second"),
    size: int = typer.Option(
        512,
        "--size",
        "-s",
        min=26,
        help="bytes per datagram (UDP payload, 26-byte header included)",
    ),
    count: int | None = typer.Option(None, "--count", "-n", min=1, help="datagrams to send"),
    duration: float | None = typer.Option(
        None, "--duration", "-d", help="seconds to stream (default 5 s)"
    ),
    pattern: str = typer.Option("zeros", "--pattern", help="payload: zeros, ones, ramp or random"),
    interval: float = typer.Option(
        0.1, "--interval", help="slice width of the interval view, seconds"
    ),
    timeout: float = typer.Option(2.0, "--timeout", help="seconds to wait for the server"),
    as_json: bool = typer.Option(False, "--json", help="print JSON only"),
    html: str | None = typer.Option(None, "--html", help="write a self-contained HTML report here"),
) -> None:
    """Request a stream, receive it, and report loss, duplicates, reordering, jitter and delay."""
    if count is not None and duration is not None:
        raise _fail("give --count or --duration, not both", as_json)
    if duration is not None and not duration > 0:
        raise _fail(f"--duration must be more than 0, got {duration}", as_json)
    if not 0.001 <= interval <= 60:
        raise _fail(f"--interval must be between 0.001 and 60 s, got {interval}", as_json)
    if count is None and duration is None:
        duration = 5.0
    host, port = _target(target, as_json)
    total = count if count is not None else max(1, round(rate * duration))
    kwargs = dict(
        count=count, duration=duration, pattern=pattern, interval=interval, timeout=timeout
    )
    try:
        if as_json:
            result = measure(host, port, rate, size, **kwargs)
        else:
            result = _measure_live(host, port, rate, size, total, kwargs)
    except UdpStreamError as exc:
        raise _fail(str(exc), as_json) from None
    except KeyboardInterrupt:
        raise _fail("interrupted (the stream was stopped)", as_json) from None
    if html:
        from pathlib import Path

        from lab.console.reports import udp_report

        udp_report(Path(html), result)
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    console.print(result_table(result))
    console.print(interval_view(result.intervals, interval))


def _measure_live(
    host: str, port: int, rate: int, size: int, total: int, kwargs: dict
) -> MeasureResult:
    bar = Progress(
        TextColumn("[bold]receiving"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("stream", total=total, detail="")

    def on_progress(p) -> None:
        detail = f"lost {p.lost_so_far}  dup {p.duplicates}  jitter {p.jitter_ms:.3f} ms"
        bar.update(task, completed=p.received, total=p.expected, detail=detail)

    with bar:
        return measure(host, port, rate, size, progress=on_progress, **kwargs)


def ping_table(r: PingResult) -> Table:
    table = Table(title=f"udpstream echo {r.target}")
    for col in ("sent", "received", "loss", "min", "avg", "p50", "p99", "max"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_row(
        str(r.sent), str(r.received), f"{r.loss_pct:.1f} %",
        _ms(r.min_ms), _ms(r.avg_ms), _ms(r.p50_ms), _ms(r.p99_ms), _ms(r.max_ms),
    )  # fmt: skip
    return table


@udp_app.command("ping")
def ping_cmd(
    target: str = typer.Option(
        "udpstream", "--target", "-t", help="udpstream, udpstream.via_proxy or HOST:PORT"
    ),
    count: int = typer.Option(
        10, "--count", "-n", min=1, max=100_000, help="echo datagrams to send"
    ),
    interval: float = typer.Option(0.2, "--interval", "-i", min=0.0, help="seconds between sends"),
    size: int = typer.Option(64, "--size", "-s", min=20, max=65507, help="bytes per echo datagram"),
    timeout: float = typer.Option(
        1.0, "--timeout", min=0.0, help="seconds to wait after the last send"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON only"),
) -> None:
    """Echo round-trip times: min, avg, p50, p99, max and loss."""
    host, port = _target(target, as_json)
    try:
        if as_json:
            result = ping(host, port, count=count, interval=interval, size=size, timeout=timeout)
        else:
            with console.status(f"pinging {host}:{port}/udp ({count} echoes)"):
                result = ping(
                    host, port, count=count, interval=interval, size=size, timeout=timeout
                )
    except UdpStreamError as exc:
        raise _fail(str(exc), as_json) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", as_json) from None
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        console.print(ping_table(result))
