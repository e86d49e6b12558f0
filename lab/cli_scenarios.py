"""`lab run`, `lab validate` and `lab scenarios`: the scenario engine on the command line.

`lab/cli.py` calls ``register(app)``. Exit codes of `lab run`: 0 all passed (or skipped
with a reason), 1 a scenario failed or errored, 2 bad input (a scenario file, a
selector, --set) or the lab is not up, 130 interrupted (after the rollback).
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab.interrupts import exit_on_interrupt, ignore_interrupts, raise_on_interrupt
from lab.scenario.library import (
    YAML_SUFFIXES,
    Loaded,
    SelectionError,
    load_all,
    load_paths,
    scenarios_root,
    select,
)
from lab.scenario.variables import parse_overrides

console = Console()
err = Console(stderr=True)
AGAIN = "interrupted again: the lab was already rolled back"  # a Ctrl-C after the rollback


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _print_problems(loaded: Loaded) -> None:
    for exc in loaded.errors:
        for problem in exc.problems:
            err.print(f"[red]✘[/] {escape(str(problem))}", highlight=False, soft_wrap=True)


def _files(names: list[str]) -> list[str]:
    """The names that are scenario files on disk (others are selectors, paths into the
    library like ``timeouts/read-timeout-latency`` included)."""
    return [n for n in names if n.endswith(YAML_SUFFIXES) and Path(n).is_file()]


def _load(names: list[str], overrides: dict[str, Any], root: Path | None) -> Loaded:
    """Library scenarios, plus any names that are paths to scenario files."""
    paths = [Path(n) for n in _files(names)]
    if paths and len(paths) == len(names):
        return load_paths(paths, overrides)
    loaded = load_all(root, overrides)
    if paths:
        extra = load_paths(paths, overrides)
        loaded.scenarios += extra.scenarios
        loaded.errors += extra.errors
    return loaded


def _selected(loaded: Loaded, names: list[str]) -> list:
    file_names = _files(names)
    selectors = [n for n in names if n not in file_names]
    if file_names and not selectors:
        return loaded.scenarios
    try:
        chosen = select(loaded.scenarios, selectors)
    except SelectionError as exc:
        raise _fail(str(exc)) from None
    resolved = {str(Path(f).resolve()) for f in file_names}
    chosen += [s for s in loaded.scenarios if str(s.path.resolve()) in resolved and s not in chosen]
    return chosen


def _backend_ready(bring_up: bool) -> Any:
    """The recorded lab, repaired of what a killed run left (toxics, disabled proxies,
    paused services), and up; else exit 2 with the exact cause."""
    from lab.backends import BackendError
    from lab.cli_state import report_repairs
    from lab.context import current_backend, remember_up

    try:
        backend = current_backend()
        report_repairs(backend)
        rows = backend.status()
        if all(r.state == "healthy" for r in rows):
            return backend
        if not bring_up:
            causes = "; ".join(
                f"{r.service} is {r.state}" + (f" ({r.detail})" if r.detail else "")
                for r in rows
                if r.state != "healthy"
            )
            raise _fail(
                f"the lab is not up ({backend.name} backend): {causes}. Run `lab up` first, "
                "or pass --up to `lab run` to bring it up"
            )
        with console.status(f"bringing the lab up ({backend.name} backend)..."):
            backend.up()
        remember_up(backend, {})
        return backend
    except BackendError as exc:
        raise _fail(str(exc), getattr(exc, "exit_code", 2)) from None


def _start_run(
    names: list[str] | None,
    set_: list[str],
    up: bool,
    verbose: bool,
    scenarios_dir: Path | None,
    wait_for: Path | None = None,
) -> tuple[list, Any, Any, Any, Any]:
    """Everything before the first scenario: load, select, get the lab ready."""
    from lab.faultproxy_client import FaultProxyClient
    from lab.scenario.engine import Runner
    from lab.scenario.progress import RichProgress

    names = list(names or ["all"])
    try:
        overrides = parse_overrides(set_)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    loaded = _load(names, overrides, scenarios_dir)
    if loaded.errors:
        _print_problems(loaded)
        raise _fail(f"{len(loaded.errors)} scenario file(s) are invalid; nothing was run")
    chosen = _selected(loaded, names)
    if not chosen:
        raise _fail(f"no scenarios found under {scenarios_dir or scenarios_root()}")
    if wait_for is not None:
        _wait_for(wait_for)
    backend = _backend_ready(up)
    proxy_api = FaultProxyClient(backend.faultproxy_url())
    progress = RichProgress(console, verbose=verbose)
    runner = Runner(backend, proxy_api, progress)
    return chosen, backend, proxy_api, progress, runner


def run_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="scenario names, themes, tags, files, or all")
    ] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="override a variable: key=value (repeatable)")
    ] = [],  # noqa: B006
    junit: Annotated[Path | None, typer.Option("--junit", help="write JUnit XML here")] = None,
    json_: Annotated[
        Path | None, typer.Option("--json", help="write the JSON journal here")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="write a self-contained HTML report here")
    ] = None,
    up: Annotated[bool, typer.Option("--up", help="bring the lab up first if it is not")] = False,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, max=1000, help="run the selection N times in a row")
    ] = 1,
    stop_on_failure: Annotated[
        bool, typer.Option("--stop-on-failure", "-x", help="stop at the first failure")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print every step")] = False,
    scenarios_dir: Annotated[Path | None, typer.Option(help="scenario library folder")] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", hidden=True, help="progress lines only (the runner)")
    ] = False,
    wait_for: Annotated[
        Path | None, typer.Option("--wait-for", hidden=True, help="start when FILE exists")
    ] = None,
) -> None:
    """Run scenarios: apply faults, drive clients, check what they see, always roll back.

    On the docker backend, scenarios run in a runner container on the lab network (no
    docker-proxy between client and service), except those that pause, stop or partition
    a service, which run here; the report merges both and says where each ran.
    """
    try:
        from lab.scenario.engine import Interrupted
        from lab.scenario.journal import journal, write_journal
        from lab.scenario.junit import write_junit
        from lab.scenario.progress import print_report

        raise_on_interrupt()  # not earlier (lab/cli.py): a Ctrl-C lands in the except below
        chosen, backend, proxy_api, progress, runner = _start_run(
            names, set_, up, verbose, scenarios_dir, wait_for
        )
        in_network, on_host = _split(backend, chosen)
        if not in_network:  # nothing else to stop: another Ctrl-C ends the process as soon
            # as it can have read that the lab rolled back (installed before that line is out)
            progress.before_interrupted_line = lambda: exit_on_interrupt(AGAIN)
    except KeyboardInterrupt:
        # Nothing applied yet (the lab repair, if any, is complete or harmless to redo).
        ignore_interrupts()  # one line, even if Ctrl-C comes again
        err.print("interrupted while starting: no scenario ran, nothing to roll back")
        raise typer.Exit(130) from None

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM rolls back exactly like Ctrl-C

    previous = signal.signal(signal.SIGTERM, terminate)
    started = time.time()
    interrupted = False
    results: list = []
    remote: dict[int, dict] = {}  # id(result) -> the runner's journal entry
    session = None
    try:
        if in_network:  # started now, so its start overlaps the host's scenarios
            session = _start_runner(backend, in_network, on_host, set_, repeat,
                                    stop_on_failure, verbose)  # fmt: skip
        if on_host:
            results += runner.run(on_host, repeat=repeat, stop_on_failure=stop_on_failure)
        failed = any(r.status in ("failed", "error") for r in results)
        if session is not None and not (stop_on_failure and failed):
            found, interrupted = _collect(session, in_network)
            results += [result for result, _ in found]
            remote = {id(result): entry for result, entry in found}
    except Interrupted as exc:
        results, interrupted = results + exc.results, True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # Every scenario run here has rolled back by now: another Ctrl-C just ends the
        # process (once the runner container, if any, has been told and closed).
        if session is None:
            exit_on_interrupt(AGAIN)
        signal.signal(signal.SIGTERM, previous)
        progress.stop()
        if session is not None:
            session.close()
        if interrupted and in_network:
            with contextlib.suppress(Exception):
                proxy_api.reset()  # a safety net: the runner rolled back its own faults
        exit_on_interrupt(AGAIN)
        runner.close()
        proxy_api.close()
    order = {id(s): i for i, s in enumerate(chosen)}
    results.sort(key=lambda r: (r.iteration, order.get(id(r.scenario), 0)))
    ran_in = _ran_in(backend, remote)
    if not no_report:
        print_report(console, results, ran_in=ran_in)
    data = journal(results, backend.name, started, interrupted)
    if ran_in is not None:
        for i, result in enumerate(results):
            entry = remote.get(id(result))
            if entry:  # the runner's own entry, with every step it recorded
                data["scenarios"][i] = {**entry, "theme": result.scenario.theme}
            data["scenarios"][i]["ran_in"] = ran_in(result)
    if json_:
        write_journal(json_, data)
    if junit:
        write_junit(junit, results)
    if html:
        from lab.console.reports import scenario_report

        scenario_report(html, data)
    if interrupted:
        if not no_report:
            ignore_interrupts()  # one closing line: a Ctrl-C after this one changes nothing
            err.print("[yellow]interrupted: the lab was rolled back[/]")
        raise typer.Exit(130)
    if not data["passed"]:
        raise typer.Exit(1)


def _split(backend: Any, chosen: list) -> tuple[list, list]:
    """(scenarios for the runner container in the lab network, scenarios for the host).

    Only the docker backend, from the host, has a network to run in: there, a scenario
    runs in the lab network unless it acts on services (which needs the engine).
    """
    if getattr(backend, "name", "") != "docker" or getattr(backend, "in_network", True):
        return [], list(chosen)
    from lab.backends.docker_runner import WHERE_NETWORK, placement

    in_network = [s for s in chosen if placement(s.needs) == WHERE_NETWORK]
    return in_network, [s for s in chosen if s not in in_network]


def _ran_in(backend: Any, remote: dict[int, dict]) -> Any:
    """Where each result's probes ran (a report column), or None when all ran here."""
    if getattr(backend, "name", "") != "docker" or getattr(backend, "in_network", True):
        return None
    from lab.backends.docker_runner import WHERE_HOST, WHERE_NETWORK

    return lambda result: WHERE_NETWORK if id(result) in remote else WHERE_HOST


def _wait_for(gate: Path, timeout: float = 600.0) -> None:
    """The runner container's gate: `lab run` on the host opens it after its own part."""
    deadline = time.monotonic() + timeout
    while not gate.exists():
        if time.monotonic() > deadline:
            raise _fail(f"{gate} did not appear within {timeout:.0f}s")
        time.sleep(0.05)


def _start_runner(
    backend: Any,
    scenarios: list,
    on_host: list,
    set_: list[str],
    repeat: int,
    stop_on_failure: bool,
    verbose: bool,
) -> Any:
    """Start the runner container for ``scenarios``; it waits until ``_collect`` opens it."""
    from lab.backends import BackendError
    from lab.backends.docker_runner import RunnerPlan, RunnerSession

    args = [a for item in set_ for a in ("--set", item)]
    args += ["--repeat", str(repeat)] if repeat > 1 else []
    args += ["--stop-on-failure"] if stop_on_failure else []
    args += ["--verbose"] if verbose else []
    first = f"{len(on_host)} on the host first (they pause, stop or partition services), "
    console.print(
        f"[dim]{first if on_host else ''}{len(scenarios)} in the lab network (a runner "
        "container, no docker-proxy in the way)[/]",
        highlight=False,
    )
    try:
        return RunnerSession(
            backend,
            RunnerPlan([s.path for s in scenarios]),
            args,
            columns=console.width,
            colour=console.is_terminal,
        )
    except BackendError as exc:
        raise _fail(str(exc)) from None


def _collect(session: Any, scenarios: list) -> tuple[list[tuple[Any, dict]], bool]:
    """Let the runner go, stream it, and turn its journal into ScenarioResults."""
    from lab.scenario.engine import ScenarioResult

    outcome = session.run()
    by_name = {s.name: s for s in scenarios}
    found: list[tuple[Any, dict]] = []
    for entry in (outcome.journal or {}).get("scenarios", []):
        scenario = by_name.get(entry.get("name"))
        if scenario is None:
            continue
        result = ScenarioResult(
            scenario,
            entry.get("status", "error"),
            reason=entry.get("failure") or entry.get("reason") or "",
            started=float(entry.get("started", 0.0)),
            duration=float(entry.get("duration", 0.0)),
            leftovers=list(entry.get("leftovers") or []),
            iteration=int(entry.get("iteration", 1)),
        )
        found.append((result, entry))
    if outcome.journal is None and not outcome.interrupted:
        # It never got to run them (it could not reach the lab, say): each is an error,
        # with the runner's last words, rather than a silent pass.
        last = (outcome.log_tail.strip().splitlines() or ["no output"])[-1][:300]
        reason = f"the runner container exited with {outcome.exit_code} before reporting: {last}"
        for scenario in scenarios:
            result = ScenarioResult(scenario, "error", reason=reason)
            found.append((result, {}))
    return found, outcome.interrupted


def validate_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="files, names, themes or tags (default: all)")
    ] = None,
    set_: Annotated[list[str], typer.Option("--set", help="override a variable: key=value")] = [],  # noqa: B006
    scenarios_dir: Annotated[Path | None, typer.Option(help="scenario library folder")] = None,
) -> None:
    """Check scenario files without running them: every problem with file:line:column."""
    names = list(names or ["all"])
    try:
        overrides = parse_overrides(set_)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    loaded = _load(names, overrides, scenarios_dir)
    if loaded.errors:
        _print_problems(loaded)
        count = sum(len(e.problems) for e in loaded.errors)
        raise _fail(f"{count} problem(s) in {len(loaded.errors)} file(s)", 1)
    chosen = _selected(loaded, names)
    console.print(f"[green]✔[/] {len(chosen)} scenario(s) valid")


def scenarios_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    scenarios_dir: Annotated[Path | None, typer.Option(help="scenario library folder")] = None,
) -> None:
    """List the scenarios with their theme, summary, tags and needs."""
    import json

    loaded = load_all(scenarios_dir)
    rows = [
        {
            "theme": s.theme,
            "name": s.name,
            "summary": s.summary,
            "tags": s.tags,
            "needs": s.needs,
            "file": str(s.path),
        }
        for s in loaded.scenarios
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title=f"scenarios ({len(rows)})")
        for col in ("theme", "name", "summary", "tags"):
            table.add_column(col, overflow="fold")
        for row in rows:
            tags = ", ".join(row["tags"]) + (
                f" [needs {', '.join(row['needs'])}]" if row["needs"] else ""
            )
            table.add_row(row["theme"], row["name"], escape(row["summary"]), escape(tags))
        console.print(table)
    if loaded.errors:
        _print_problems(loaded)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("validate")(validate_command)
    app.command("scenarios")(scenarios_command)
