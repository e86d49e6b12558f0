"""`python -m bench [NAME ...] [--quick] [--json FILE]`: run the benchmarks, print one table."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(discover())})"
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher numbers")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    names = args.names or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(discover())}",
            file=sys.stderr,
        )
        return 2
    # Piped output (CI logs, `| tee`) gets a wide table instead of the 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 160)
    rows: list[dict] = []
    failed = []
    for name in names:
        t0 = time.monotonic()
        console.print(f"[bold]running bench_{name}[/] ...")
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            for row in module.run(quick=args.quick):
                rows.append({"bench": name, **row})
        except Exception:
            failed.append(name)
            console.print(f"[red]bench_{name} failed:[/]\n{traceback.format_exc()}")
        console.print(f"  done in {time.monotonic() - t0:.1f} s")
    table = Table(title="wirelab benchmarks (ratio = figure / peer figure, same run)")
    for col in ("bench", "measurement", "figure", "unit", "peer", "peer figure", "ratio"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["bench"], r.get("name", ""), fmt(r.get("figure")), r.get("unit", ""),
            r.get("peer", ""), fmt(r.get("peer_figure")), fmt(r.get("ratio")),
        )  # fmt: skip
    console.print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
