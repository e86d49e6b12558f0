"""`lab up` / `lab status` at 80 columns: every address labelled, nothing cut mid-token."""

from __future__ import annotations

import re

from rich.console import Console

from lab.backends.base import ServiceStatus
from lab.cli import endpoint_labels, status_table
from services.ports import BY_NAME, ENDPOINTS, PROXY_OFFSET, SERVICES, VIA_PROXY


def addresses(service: str, host: str = "127.0.0.1") -> list[str]:
    """What both backends list for a service (the local one builds it the same way)."""
    names = [e.name for e in ENDPOINTS if e.service == service]
    if service == "faultproxy":
        names += [e.name + VIA_PROXY for e in ENDPOINTS if e.proxied]
    out = []
    for name in names:
        base = BY_NAME[name.removesuffix(VIA_PROXY)]
        port = base.port + (PROXY_OFFSET if name.endswith(VIA_PROXY) else 0)
        out.append(f"{host}:{port}/{base.proto}")
    return out


def render(rows: list[ServiceStatus], width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(status_table(rows, "wirelab status (docker backend)"))
    return console.export_text().splitlines()


def sample_rows() -> list[ServiceStatus]:
    return [
        ServiceStatus("rawhttp", "healthy", addresses("rawhttp"), 1.23, "3f2a9c1d8e7b, probe 4 ms"),
        ServiceStatus(
            "rawhttp-blocking",
            "unhealthy",
            addresses("rawhttp-blocking"),
            None,
            "127.0.0.1:8081: Connection refused",
        ),
        ServiceStatus("udpstream", "paused", addresses("udpstream"), None, "pid 1234567 (SIGSTOP)"),
        ServiceStatus("restapi", "partitioned", addresses("restapi"), None, "off the lab network"),
        ServiceStatus("faultproxy", "healthy", addresses("faultproxy"), 0.5, "pid 42, probe 3 ms"),
    ]


def test_every_line_fits_and_no_token_is_cut():
    lines = render(sample_rows())
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    tokens = ["3f2a9c1d8e7b,", "127.0.0.1:8081:", "Connection", "refused", "1234567", "(SIGSTOP)"]
    for row in sample_rows():
        tokens += [a.rpartition(":")[2] for a in row.addresses]  # "8080/tcp"
    for token in tokens:
        assert re.search(rf"(?<![\w/.:]){re.escape(token)}(?![\w/])", text), (token, text)


def test_the_old_narrow_detail_column_would_fail_this_check():
    """The plausible wrong table: a detail column squeezed to a few characters."""
    from rich.table import Table

    table = Table()
    for col in ("service", "address", "state", "healthy after"):
        table.add_column(col, no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_row("rawhttp-blocking", "127.0.0.1:8081/tcp", "unhealthy", "-", "127.0.0.1:8081: x")
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    assert "127.0.0.1:8081:" not in console.export_text()


def test_rawhttp_addresses_say_what_speaks_there():
    lines = render(sample_rows())
    for label, port in (("http", 8080), ("echo", 9000), ("line", 9001), ("https", 8443)):
        assert any(re.search(rf"│ {label} +{port}/tcp ", line) for line in lines), (label, lines)
    proxied = {"→rawhttp": 18080, "→blocking": 18081, "→udpstream": 19999, "api": 8474}
    for label, port in proxied.items():
        assert any(re.search(rf"│ {label} +{port}/", line) for line in lines), (label, lines)
    assert "ports on 127.0.0.1" in "\n".join(lines)


def test_labels_follow_the_backends_address_order():
    for service in SERVICES:
        assert len(endpoint_labels(service)) == len(addresses(service)), service
    assert endpoint_labels("rawhttp") == ["http", "echo", "line", "https"]


def test_addresses_on_several_hosts_keep_the_host():
    """Inside the lab network addresses are DNS names: they are shown whole."""
    rows = [ServiceStatus("restapi", "healthy", ["restapi:8000/tcp"], None, "ok")]
    rows.append(ServiceStatus("udpstream", "healthy", ["udpstream:9999/udp"], None, "ok"))
    text = "\n".join(render(rows))
    assert "http restapi:8000/tcp" in text and "udp udpstream:9999/udp" in text
