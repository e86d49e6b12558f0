"""A student's card: what they need to use their lab (hosts, ports, CA, token, `lab use`).

Rendered as text (the terminal) and as one self-contained HTML page (no external file,
no script that runs). The HTML page embeds the card as JSON, so the page the student
was handed is itself what `lab use` reads: ``lab use card.html``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from lab.classroom.registry import ClassLab
from services.common.lab_ca import ca_files
from services.ports import BY_NAME, VIA_PROXY

CARD_VERSION = 1
_EMBED = re.compile(r'<script type="application/json" id="wirelab-card">(.*?)</script>', re.DOTALL)


class CardError(ValueError):
    """A file that is not a lab card; the message says what was expected."""


def ca_cert_path(lab: ClassLab) -> str:
    """Where the lab's CA sits on this host: its state folder, or for a docker lab the copy
    `lab up` takes out of the lab's volume (DockerBackend.ca_path)."""
    if lab.project:
        return str(Path(lab.state_dir) / "docker" / lab.project / "ca.pem")
    return str(ca_files(lab.state_dir).ca_cert)


def card_data(lab: ClassLab, card_path: str = "CARD") -> dict:
    card = {
        "wirelab_card": CARD_VERSION,
        "name": lab.name,
        "host": lab.host,
        "backend": lab.backend,
        "port_offset": lab.offset,
        "ports": lab.ports(),
        "ca_cert": ca_cert_path(lab),
        "state_dir": lab.state_dir,
        "faultproxy_token": lab.token,
        "use_command": f"lab use {card_path}",
    }
    if lab.project:
        card["compose_project"] = lab.project
    return card


def shift(offset: int) -> str:
    """How a lab's ports relate to the defaults: ``defaults + 1200`` / ``defaults - 3376``."""
    return f"defaults {'-' if offset < 0 else '+'} {abs(offset)}"


def _rows(card: dict) -> list[tuple[str, str, str]]:
    """(endpoint, direct address, address through the fault proxy)."""
    ports, host = card["ports"], card["host"]
    rows = []
    for name, port in ports.items():
        if name.endswith(VIA_PROXY):
            continue
        proto = BY_NAME[name].proto
        via = ports.get(name + VIA_PROXY)
        rows.append(
            (name, f"{host}:{port}/{proto}", f"{host}:{via}/{proto}" if via is not None else "-")
        )
    return rows


def card_text(card: dict) -> str:
    rows = _rows(card)
    width = max(len(r[0]) for r in rows)
    lines = [
        f"wirelab lab card: {card['name']}",
        "",
        f"  use it:      {card['use_command']}",
        f"  host:        {card['host']}   (every port below: the {shift(card['port_offset'])})",
        f"  CA:          {card['ca_cert']}",
        f"  proxy token: {card['faultproxy_token']}   (Authorization: Bearer <token> on the fault proxy API)",
        "",
        f"  {'endpoint':<{width}}  {'direct':<24}  through the fault proxy",
    ]
    lines += [f"  {name:<{width}}  {direct:<24}  {via}" for name, direct, via in rows]
    return "\n".join(lines) + "\n"


def card_html(card: dict) -> str:
    e = html.escape
    # "</" inside the JSON would end the script element early; escape it.
    embedded = json.dumps(card, indent=1).replace("</", "<\\/")
    rows = "\n".join(
        f"<tr><td>{e(n)}</td><td><code>{e(d)}</code></td><td><code>{e(v)}</code></td></tr>"
        for n, d, v in _rows(card)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>wirelab lab card: {e(card["name"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}
code, pre {{ font-family: ui-monospace, monospace; }}
pre {{ background: #f3f3f3; padding: .6rem; overflow-x: auto; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .2rem .8rem .2rem 0; text-align: left; }}
</style></head><body>
<h1>Your lab: {e(card["name"])}</h1>
<p>Point your <code>lab</code> command at this lab (save this page as a file first):</p>
<pre>{e(card["use_command"])}</pre>
<p>Every later <code>lab</code> command (<code>lab status</code>, <code>lab run</code>,
<code>lab exercise check</code>) then talks to this lab. <code>lab use --clear</code> undoes it.</p>
<h2>Where things are</h2>
<table>
<tr><th>host</th><td><code>{e(card["host"])}</code> (each port: the {shift(card["port_offset"])})</td></tr>
<tr><th>CA certificate</th><td><code>{e(card["ca_cert"])}</code></td></tr>
<tr><th>fault proxy token</th><td><code>{e(card["faultproxy_token"])}</code></td></tr>
</table>
<h2>Ports</h2>
<table><tr><th>endpoint</th><th>direct</th><th>through the fault proxy</th></tr>
{rows}
</table>
<script type="application/json" id="wirelab-card">{embedded}</script>
</body></html>
"""


def read_card(path: Path) -> dict:
    """A card from its JSON file, its HTML page, or the lab's state folder."""
    if path.is_dir():
        path = path / "card.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CardError(f"cannot read card {path}: {exc.strerror}") from None
    match = _EMBED.search(text)
    raw = match.group(1).replace("<\\/", "</") if match else text
    try:
        card = json.loads(raw)
    except ValueError:
        raise CardError(
            f"{path} is not a lab card (expected the card's .html or .json from `lab class card`)"
        ) from None
    if not isinstance(card, dict) or card.get("wirelab_card") != CARD_VERSION:
        raise CardError(f"{path} is not a wirelab lab card (version {CARD_VERSION})")
    missing = [k for k in ("state_dir", "port_offset", "faultproxy_token") if k not in card]
    if missing:
        raise CardError(f"{path}: the card lacks {', '.join(missing)}")
    return card


def write_cards(lab: ClassLab, folder: Path) -> dict[str, Path]:
    """card.json and card.html in the lab's state folder, and <name>.html in ``folder``."""
    state = Path(lab.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{lab.name}.html"
    card = card_data(lab, str(page))
    paths = {"json": state / "card.json", "html": page}
    paths["json"].write_text(json.dumps(card, indent=2) + "\n")
    page.write_text(card_html(card))
    return paths
