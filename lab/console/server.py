"""`lab console`: serve the console on 127.0.0.1 in the foreground."""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.ports import default_port, env_var_for

console = Console()
err = Console(stderr=True)
HOST = "127.0.0.1"  # never anything else: the console can change the lab


def console_command(
    port: Annotated[
        int | None, typer.Option(help="port (default: services.ports 'console', 8475)")
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="open the console in the default browser")
    ] = False,
    scenarios_dir: Annotated[
        Path | None, typer.Option(help="scenario library folder (default: scenarios/)")
    ] = None,
) -> None:
    """Serve the lab console (a web page to watch and steer the lab) on 127.0.0.1."""
    import uvicorn

    from lab.backends import BackendError
    from lab.console.app import ConsoleConfig, create_app
    from lab.console.security import load_token
    from lab.context import current_backend
    from services.common.errors import ServiceStartError
    from services.common.net import bind_socket
    from services.common.paths import state_dir

    try:
        backend = current_backend()
        chosen = port if port is not None else default_port("console")
    except (BackendError, ValueError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if not 0 < chosen < 65536:
        err.print(f"[bold red]error:[/] --port {chosen}: a port is 1-65535", highlight=False)
        raise typer.Exit(2)
    folder = state_dir() / "console"
    config = ConsoleConfig(
        backend=backend,
        port=chosen,
        token=load_token(folder),
        state=folder,
        scenarios_dir=scenarios_dir,
    )
    try:
        sock = bind_socket("console", HOST, chosen, env_var=env_var_for("console"))
    except ServiceStartError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    url = f"http://{HOST}:{chosen}/"
    console.print(f"wirelab console ({backend.name} backend): {url}  (Ctrl-C stops it)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_level="warning", access_log=False, lifespan="on")
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
