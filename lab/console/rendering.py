"""The one Jinja environment: the console's pages and the static reports share templates.

A report inlines the stylesheet (``inline_css``) and carries no token and no script
source, so it opens from a file with no network and no console running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_env: Environment | None = None


def env() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.filters["pct"] = lambda v: f"{100 * float(v):.0f} %"
        _env.filters["short"] = _short
    return _env


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value) if value is not None else "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(template: str, **context: Any) -> str:
    return env().get_template(template).render(**context)


def render_report(template: str, title: str, **context: Any) -> str:
    """A self-contained HTML file: inline CSS, inline SVG, no script source, no token."""
    import time

    css = (STATIC / "console.css").read_text(encoding="utf-8")
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return render(
        template, report=True, inline_css=css, title=title, generated=generated, **context
    )


def write_report(path: Path, template: str, title: str, **context: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(template, title, **context), encoding="utf-8")
