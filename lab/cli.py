"""`lab`: bring the lab up and down, see its state, read logs, and (via sub-apps) run
scenarios, measure UDP and check exercises."""

from __future__ import annotations

# isort: off
import lab.interrupts  # first: a Ctrl-C while the rest imports is one line, not a traceback
# isort: on

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab.backends import BackendError, ServiceStatus, get_backend
from lab.classroom.pointer import apply as apply_lab_pointer
from lab.cli_class import register as register_class_commands
from lab.cli_exercise import exercise_app
from lab.cli_scenarios import register as register_scenario_commands
from lab.cli_state import print_leftovers, report_repairs
from lab.cli_udp import udp_app
from lab.console.server import console_command
from lab.context import (
    backend_for_up,
    check_shell_agrees,
    current_backend,
    forget_recorded_backend,
    recorded_backend_name,
    remember_up,
)
from lab.repair import leftovers as lab_leftovers
from lab.text import did_you_mean
from services.ports import ENDPOINTS, PortConfigError, all_endpoint_names

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


# How `lab status` names each address of a service: what speaks there.
_KIND_LABELS = {"http": "http", "echo": "echo", "line": "line", "tls": "https", "udp": "udp"}


def endpoint_labels(service: str) -> list[str]:
    """A short name per address, in the order both backends list them (services/ports.py).

    A service's own endpoints are named by protocol (the fault proxy's by "api"); the
    proxy's listeners by what they front, as "→echo" (the proxy in front of rawhttp.echo).
    """
    own = [e for e in ENDPOINTS if e.service == service]
    labels = ["api" if service == "faultproxy" else _KIND_LABELS.get(e.kind, e.kind) for e in own]
    if service == "faultproxy":
        labels += ["→" + e.name.removeprefix("rawhttp.") for e in ENDPOINTS if e.proxied]
    return labels


def _split_address(address: str) -> tuple[str, str]:
    """ "127.0.0.1:8080/tcp" -> ("127.0.0.1", "8080/tcp")."""
    host, _, port = address.rpartition(":")
    return host, port


def status_table(rows: list[ServiceStatus], title: str) -> Table:
    """One row per service, readable at 80 columns: addresses and ids are never cut.

    When every address is on one host (127.0.0.1, as usual) the host goes in the title and
    the address column shows "label port/proto"; the time to health sits beside the state.
    """
    hosts = {_split_address(a)[0] for r in rows for a in r.addresses}
    one_host = len(hosts) == 1
    if one_host:
        title += f" · ports on {hosts.pop()}"
    table = Table(title=title)
    table.add_column("service", no_wrap=True)
    table.add_column("address", no_wrap=True)  # an address cut in two is worse than a narrow detail
    table.add_column("state", no_wrap=True)
    # Words wrap; a token is folded only if it is longer than the whole column.
    table.add_column("detail", overflow="fold", min_width=18, ratio=1)
    colours = {"healthy": "green", "paused": "yellow", "stopped": "yellow", "partitioned": "yellow"}
    for r in rows:
        colour = colours.get(r.state, "red")
        labels = endpoint_labels(r.service)
        if len(labels) != len(r.addresses):
            labels = [""] * len(r.addresses)
        width = max((len(label) for label in labels), default=0)
        lines = []
        for label, address in zip(labels, r.addresses, strict=True):
            shown = _split_address(address)[1] if one_host else address
            lines.append(f"{label:<{width}} {shown}".strip())
        after = f" {r.healthy_after:.2f}s" if r.healthy_after is not None else ""
        table.add_row(
            r.service, "\n".join(lines), f"[{colour}]{r.state}[/]{after}", escape(r.detail)
        )
    return table


@app.command()
def up(
    backend: Annotated[
        str,
        typer.Option(
            envvar="WIRELAB_BACKEND",
            help="local, docker or auto (docker when an engine answers and the image can be made)",
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
    if backend == "auto" and recorded_backend_name() is None:  # a recorded lab keeps its own
        from lab.backends.docker_backend import auto_backend

        backend, note = auto_backend()
        if note:
            err.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    try:
        chosen, recorded = backend_for_up(backend, options)
        t0 = time.monotonic()
        if recorded:
            report_repairs(chosen)
        with console.status(f"starting the lab ({chosen.name} backend)..."):
            rows = chosen.up(services or None, timeout=timeout)
        remember_up(chosen, options)
    except BackendError as exc:
        raise fail(str(exc), getattr(exc, "exit_code", 1)) from None
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
        check_shell_agrees(backend_name)
        backend = get_backend(backend_name) if backend_name else current_backend()
        backend.down(volumes=volumes)
    except BackendError as exc:
        raise fail(str(exc), getattr(exc, "exit_code", 1)) from None
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
    dirty = lab_leftovers(backend, rows)
    if as_json:
        print(
            json.dumps(
                {
                    "backend": backend.name,
                    "services": [r.to_dict() for r in rows],
                    "leftovers": dirty,
                },
                indent=2,
            )
        )
    else:
        console.print(status_table(rows, f"wirelab status ({backend.name} backend)"))
        print_leftovers(dirty)
    if dirty or not all(r.state == "healthy" for r in rows):
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
app.command("console")(console_command)


@app.callback()
def _agree_with_recorded_lab(ctx: typer.Context) -> None:
    """Refuse (exit 2) a command that would reach another lab than the recorded one."""
    if ctx.invoked_subcommand != "run":  # `lab run` switches inside its own try, so no
        # Ctrl-C can fall between here and there (typer would exit 130 without a word)
        lab.interrupts.raise_on_interrupt()  # from here commands roll back on KeyboardInterrupt
    if ctx.invoked_subcommand in ("up", "down", "scenarios", "validate", "class", "use"):
        return  # up and down check their own flags too; the others reach no one lab
    try:
        check_shell_agrees()
    except BackendError as exc:
        raise fail(str(exc), 2) from None


def main() -> None:
    apply_lab_pointer()  # `lab use CARD`: this user's chosen lab, unless the shell chose one
    try:
        app()
    except BackendError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(getattr(exc, "exit_code", 1))
    except PortConfigError as exc:  # a port variable or offset in this shell: one line
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    finally:
        lab.interrupts.ignore_interrupts()  # the command is over: its exit code stands


if __name__ == "__main__":
    main()
