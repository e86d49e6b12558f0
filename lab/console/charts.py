"""SVG charts drawn on the server (no script, no CDN): the console and the static reports
embed the same markup, so a report opened from a file draws exactly what the page did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 22, 24


@dataclass
class Series:
    label: str
    values: Sequence[float]
    css: str  # a class from console.css: s-ok, s-bad, s-warn, s-info


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5):
        for power in range(-3, 10):
            top = step * 10**power
            if top >= value:
                return top
    return value


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def line_chart(
    title: str,
    xs: Sequence[float],
    series: Sequence[Series],
    unit: str = "",
    bands: Sequence[tuple[float, float]] = (),
    top: float | None = None,
) -> Markup:
    """Lines with a dot per point; ``bands`` (x0, x1) are shaded (loss bursts)."""
    values = [v for s in series for v in s.values]
    top = top if top is not None else _nice_top(max(values, default=0))
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    span = (x1 - x0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / span * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - min(max(y, 0.0), top) / top * plot_h

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="c-title" x="{LEFT}" y="14">{escape(title)}</text>',
    ]
    step = plot_w / max(1, len(xs) - 1) if len(xs) > 1 else plot_w
    for b0, b1 in bands:
        left = px(b0) - step / 2
        width = max(px(b1) - px(b0) + step, 3.0)
        out.append(
            f'<rect class="burst" x="{max(LEFT, left):.1f}" y="{TOP}" width="{width:.1f}" '
            f'height="{plot_h}"><title>loss burst {b0:.2f}-{b1:.2f} s</title></rect>'
        )
    for frac in (0, 0.5, 1):
        y = TOP + plot_h - frac * plot_h
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="c-axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(top * frac)}{escape(unit) if frac == 1 else ''}</text>"
        )
    out.append(
        f'<text class="c-axis" x="{LEFT}" y="{HEIGHT - 6}">{x0:.1f} s</text>'
        f'<text class="c-axis" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{x1:.1f} s</text>"
    )
    legend_x = WIDTH - RIGHT
    for s in reversed(series):
        out.append(
            f'<text class="c-legend {s.css}" x="{legend_x}" y="14" text-anchor="end">'
            f"● {escape(s.label)}</text>"
        )
        legend_x -= 14 + 7 * len(s.label)
    for s in series:
        points = [(px(x), py(v)) for x, v in zip(xs, s.values, strict=False)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(f'<polyline class="line {s.css}" points="{path}"/>')
        for (x, y), v, xv in zip(points, s.values, xs, strict=False):
            out.append(
                f'<circle class="pt {s.css}" cx="{x:.1f}" cy="{y:.1f}" r="2.2" '
                f'data-x="{xv:.3f}" data-y="{v:.4g}"><title>{xv:.2f} s: '
                f"{escape(s.label)} {v:.4g}{escape(unit)}</title></circle>"
            )
    out.append("</svg>")
    return Markup("".join(out))


def bursts(xs: Sequence[float], flags: Sequence[bool]) -> list[tuple[float, float]]:
    """Runs of consecutive flagged points, as (first x, last x)."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    last = 0.0
    for x, flag in zip(xs, flags, strict=False):
        if flag and start is None:
            start = x
        if not flag and start is not None:
            out.append((start, last))
            start = None
        last = x
    if start is not None:
        out.append((start, last))
    return out


def bar(fraction: float, css: str) -> Markup:
    """A small horizontal bar (progress, share of passes)."""
    pct = max(0.0, min(1.0, fraction)) * 100
    return Markup(
        f'<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg"><rect class="bar-bg" width="100" height="6"/>'
        f'<rect class="{css}" width="{pct:.1f}" height="6"/></svg>'
    )
