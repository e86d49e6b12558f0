"""`lab`: bring the lab up and down, see its state, read logs, and (via sub-apps) run
scenarios, measure UDP and check exercises."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lab.backends import BackendError, ServiceStatus, get_backend
from lab.classroom.pointer import apply as apply_lab_pointer
from lab.cli_class import register as register_class_commands
from lab.cli_exercise import exercise_app
from lab.cli_scenarios import register as register_scenario_commands
from lab.cli_udp import udp_app
from lab.context import current_backend, forget_recorded_backend, record_backend
from lab.text import did_you_mean
from services.ports import all_endpoint_names

if TYPE_CHECKING:
    from lab.faultproxy_client import FaultProxyClient

app = typer.Typer(
    help="wirelab: a networking lab. `lab up` starts it, `lab run all` runs the scenarios.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_ports(items: list[str]) -> dict[str, int]:
    ports: dict[str, int] = {}
    names = all_endpoint_names()
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise fail(f"--port wants NAME=PORT (e.g. rawhttp=9080), got {item!r}", 2)
        if name not in names:
            hint = did_you_mean(name, names)
            raise fail(f"--port: unknown endpoint {name!r}{hint}; known: {', '.join(names)}", 2)
        if not 0 < int(value) < 65536:
            raise fail(f"--port {item}: a port is 1-65535", 2)
        ports[name] = int(value)
    return ports


def status_table(rows: list[ServiceStatus], title: str) -> Table:
    table = Table(title=title)
    for col in ("service", "address", "state", "healthy after"):
        table.add_column(col, no_wrap=True)  # an address cut in two is worse than a narrow detail
    table.add_column("detail", overflow="fold")
    colours = {"healthy": "green", "paused": "yellow", "stopped": "yellow", "partitioned": "yellow"}
    for r in rows:
        colour = colours.get(r.state, "red")
        after = f"{r.healthy_after:.2f} s" if r.healthy_after is not None else "-"
        table.add_row(r.service, "\n".join(r.addresses), f"[{colour}]{r.state}[/]", after, r.detail)
    return table


@app.command()
def up(
    backend: Annotated[
        str,
        typer.Option(
            envvar="WIRELAB_BACKEND", help="local, docker or auto (docker when an engine answers)"
        ),
    ] = "auto",
    port: Annotated[
        list[str], typer.Option("--port", "-p", help="NAME=PORT, e.g. rawhttp=9080 (repeatable)")
    ] = [],  # noqa: B006
    port_offset: Annotated[int | None, typer.Option(help="shift every default port by N")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for health")] = 60.0,
    services: Annotated[
        list[str] | None, typer.Argument(help="services to start (default: all)")
    ] = None,
) -> None:
    """Start the lab and wait until every service passes a real health probe."""
    options: dict = {}
    ports = parse_ports(port)
    if ports:
        options["ports"] = ports
    if port_offset is not None:
        options["port_offset"] = port_offset
    try:
        chosen = get_backend(backend, **options)
        t0 = time.monotonic()
        with console.status(f"starting the lab ({chosen.name} backend)..."):
            rows = chosen.up(services or None, timeout=timeout)
        record_backend(chosen.name, options)
    except BackendError as exc:
        raise fail(str(exc)) from None
    console.print(
        status_table(rows, f"wirelab is up ({chosen.name}, {time.monotonic() - t0:.1f} s)")
    )


@app.command()
def down(
    volumes: Annotated[bool, typer.Option(help="also remove stored data volumes (docker)")] = False,
    backend_name: Annotated[
        str | None, typer.Option("--backend", help="default: the one `lab up` used")
    ] = None,
) -> None:
    """Stop every service; leave no process or container behind."""
    try:
        backend = get_backend(backend_name) if backend_name else current_backend()
        backend.down(volumes=volumes)
    except BackendError as exc:
        raise fail(str(exc)) from None
    forget_recorded_backend()
    console.print(f"wirelab is down ({backend.name} backend)")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Probe every service now and show the result. Exit 1 unless all are healthy."""
    try:
        backend = current_backend()
        rows = backend.status()
    except BackendError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(
            json.dumps({"backend": backend.name, "services": [r.to_dict() for r in rows]}, indent=2)
        )
    else:
        console.print(status_table(rows, f"wirelab status ({backend.name} backend)"))
    if not all(r.state == "healthy" for r in rows):
        raise typer.Exit(1)


@app.command()
def logs(
    service: Annotated[str | None, typer.Argument(help="one service (default: all)")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    tail: Annotated[int, typer.Option(help="lines of history")] = 100,
) -> None:
    """Show a service's log (one line per request or connection)."""
    from services.ports import SERVICES

    try:
        backend = current_backend()
        if service is None:
            for name in SERVICES:
                try:
                    for line in backend.logs(name, follow=False, tail=tail):
                        print(f"{name:<17}| {line}")
                except BackendError as exc:
                    print(f"{name:<17}| ({exc})")
            return
        for line in backend.logs(service, follow=follow, tail=tail):
            print(line, flush=True)
    except BackendError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


@app.command()
def ca() -> None:
    """Print the path of the lab CA certificate (for ssl.create_default_context(cafile=...))."""
    try:
        print(current_backend().ca_path())
    except BackendError as exc:
        raise fail(str(exc)) from None


@app.command()
def action(
    verb: Annotated[str, typer.Argument(help="pause, resume, stop, start, partition or heal")],
    service: Annotated[str, typer.Argument(help="a service, e.g. restapi")],
) -> None:
    """Apply a service action through the backend (what scenarios do)."""
    verbs = ("pause", "resume", "stop", "start", "partition", "heal")
    if verb not in verbs:
        raise fail(f"unknown action {verb!r}: choose from {', '.join(verbs)}", 2)
    try:
        getattr(current_backend(), verb)(service)
    except BackendError as exc:
        raise fail(str(exc)) from None
    console.print(f"{verb}: {service}")


proxies_app = typer.Typer(
    help="Save and restore the fault proxy's proxies and toxics.", no_args_is_help=True
)
app.add_typer(proxies_app, name="proxies")


def _fault_proxy() -> FaultProxyClient:
    from lab.faultproxy_client import FaultProxyClient

    return FaultProxyClient(current_backend().faultproxy_url(), timeout=10)


@proxies_app.command("export")
def proxies_export(
    file: Annotated[str, typer.Argument(help="where to write; - for standard output")] = "-",
) -> None:
    """Write every proxy and its toxics as JSON; `faultproxy --config FILE` or `lab proxies load` reads it."""
    from lab.faultproxy_client import FaultProxyError

    try:
        state = json.dumps(_fault_proxy().export_config(), indent=2)
    except FaultProxyError as exc:
        raise fail(f"{exc} (is the lab up? `lab status`)") from None
    if file == "-":
        print(state)
    else:
        with open(file, "w") as fh:
            fh.write(state + "\n")
        console.print(f"wrote {file}")


@proxies_app.command("load")
def proxies_load(
    file: Annotated[str, typer.Argument(help="a file written by `lab proxies export`")],
) -> None:
    """Create or update proxies (and their toxics) from FILE through `POST /populate`."""
    try:
        with open(file) as fh:
            body = json.load(fh)
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise fail(f"{file} is not valid JSON: {exc}") from None
    from lab.faultproxy_client import FaultProxyError

    try:
        result = _fault_proxy().populate(body)
    except FaultProxyError as exc:
        raise fail(str(exc)) from None
    count = len(result.get("proxies", [])) if isinstance(result, dict) else "?"
    console.print(f"loaded {count} proxies from {file}")


app.add_typer(udp_app, name="udp")
app.add_typer(exercise_app, name="exercise")
register_scenario_commands(app)
register_class_commands(app)


def main() -> None:
    apply_lab_pointer()  # `lab use CARD`: this user's chosen lab, unless the shell chose one
    try:
        app()
    except BackendError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
