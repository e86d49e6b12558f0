"""`lab class ...`: many isolated labs on one host for a class, their cards, grading
each student against their own lab, and Kubernetes manifests for more than one host.
`lab use CARD` points a student's `lab` command at their lab."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab.classroom import card as cards
from lab.classroom import hosting, pointer
from lab.classroom.port_plan import PortPlanError
from lab.classroom.registry import (
    ClassError,
    ClassLab,
    default_class_dir,
    find_lab,
    load_class,
    plan_class,
    save_class,
)
from lab.classroom.roster import RosterError, numbered, read_roster

class_app = typer.Typer(
    help="Run a class: `lab class up --students N`, `status`, `card NAME`, `grade DIR`, `down`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

ClassDir = Annotated[
    Path | None,
    typer.Option(
        "--class-dir", help="where the class lives (default: .lab/class, or $WIRELAB_CLASS_DIR)"
    ),
]
Students = Annotated[int | None, typer.Option("--students", "-n", help="N labs: student01..N")]
Roster = Annotated[
    Path | None, typer.Option("--roster", help="one name a line, or a CSV with a name column")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _names(students: int | None, roster: Path | None) -> list[str] | None:
    if students is not None and roster is not None:
        raise fail("give --students N or --roster FILE, not both")
    try:
        if roster is not None:
            return read_roster(roster)
        if students is not None:
            return numbered(students)
    except RosterError as exc:
        raise fail(str(exc)) from None
    return None


def _load(class_dir: Path | None) -> tuple[Path, list[ClassLab]]:
    folder = class_dir or default_class_dir()
    try:
        return folder, load_class(folder)
    except ClassError as exc:
        raise fail(str(exc)) from None


@class_app.command("up")
def up(
    students: Students = None,
    roster: Roster = None,
    backend: Annotated[
        str,
        typer.Option(help="local (a process per service) or docker (a compose project per lab)"),
    ] = "local",
    first_slot: Annotated[
        int, typer.Option(help="first slot of the port plan (to sit beside another class)")
    ] = 0,
    jobs: Annotated[int, typer.Option(help="labs started at once")] = 4,
    timeout: Annotated[float, typer.Option(help="seconds for one lab to become healthy")] = 120.0,
    class_dir: ClassDir = None,
) -> None:
    """Start one isolated lab per student: its own ports, state folder, token, data and CA."""
    folder = class_dir or default_class_dir()
    names = _names(students, roster)
    try:
        existing = load_class(folder) if (folder / "class.json").exists() else None
        if existing is not None and existing[0].backend != backend:
            raise ClassError(
                f"{folder} holds a class on the {existing[0].backend} backend: run "
                f"`lab class up --backend {existing[0].backend}`, or `lab class down --purge` first"
            )
        hosting.check_backend(backend)
        if existing is not None:
            if names is not None and names != [lab.name for lab in existing]:
                raise ClassError(
                    f"{folder} already holds a class of {len(existing)} "
                    f"({', '.join(lab.name for lab in existing[:3])}...): `lab class down --purge` "
                    f"first, or --class-dir elsewhere"
                )
            labs = existing  # the same slots and tokens: cards already handed out stay true
        elif names is None:
            raise ClassError("who is in the class? --students N or --roster FILE")
        else:
            labs = plan_class(names, folder, first_slot, backend=backend)
        save_class(folder, labs)
    except (ClassError, PortPlanError) as exc:
        raise fail(str(exc)) from None
    running = hosting.status_all(labs)
    to_start = [lab for lab in labs if not all(s.state == "healthy" for s in running[lab.name])]
    for lab in to_start:
        if all(s.state in ("not started", "exited", "stopped") for s in running[lab.name]):
            busy = hosting.busy_ports(lab)
            if busy:
                raise fail(
                    f"lab {lab.name} (slot {lab.slot}, offset {lab.offset}): ports already in "
                    f"use: {', '.join(busy[:4])}. Stop what holds them, or plan the class "
                    f"elsewhere with --first-slot (after `lab class down --purge`)"
                )
    t0 = time.monotonic()

    def report(result: hosting.LabResult) -> None:
        mark = "[green]up[/]" if result.ok else "[red]failed[/]"
        detail = "" if result.ok else f": {escape(result.detail)}"
        console.print(f"  {escape(result.name)} {mark} ({result.seconds:.1f} s){detail}")

    console.print(f"starting {len(to_start)} of {len(labs)} labs ({jobs} at a time)...")
    results = hosting.up_all(to_start, jobs=jobs, timeout=timeout, on_result=report)
    card_folder = folder / "cards"
    for lab in labs:
        cards.write_cards(lab, card_folder)
    failed = [r for r in results if not r.ok]
    console.print(
        f"class up: {len(labs) - len(failed)}/{len(labs)} labs healthy in "
        f"{time.monotonic() - t0:.1f} s; cards in {escape(str(card_folder))}"
    )
    if failed:
        raise typer.Exit(1)


@class_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    class_dir: ClassDir = None,
) -> None:
    """Probe every lab of the class now. Exit 1 unless every service of every lab is healthy."""
    _, labs = _load(class_dir)
    rows = hosting.status_all(labs)
    healthy = {name: sum(1 for s in r if s.state == "healthy") for name, r in rows.items()}
    if as_json:
        print(json.dumps({
            lab.name: {"slot": lab.slot, "offset": lab.offset, "state_dir": lab.state_dir,
                       "services": [s.to_dict() for s in rows[lab.name]]}
            for lab in labs
        }, indent=2))  # fmt: skip
    else:
        table = Table(title=f"class of {len(labs)}")
        for col in ("student", "offset", "healthy", "not healthy"):
            table.add_column(col, no_wrap=col != "not healthy")
        for lab in labs:
            bad = ", ".join(
                f"{s.service} {s.state}" for s in rows[lab.name] if s.state != "healthy"
            )
            colour = "green" if not bad else "red"
            table.add_row(escape(lab.name), str(lab.offset),
                          f"[{colour}]{healthy[lab.name]}/{len(rows[lab.name])}[/]", escape(bad))  # fmt: skip
        console.print(table)
    if any(healthy[n] != len(r) for n, r in rows.items()):
        raise typer.Exit(1)


@class_app.command("down")
def down(
    purge: Annotated[
        bool, typer.Option(help="also delete the class: folders, data, CAs, tokens, cards")
    ] = False,
    class_dir: ClassDir = None,
) -> None:
    """Stop every lab of the class (data and cards are kept unless --purge; on docker
    --purge also removes each lab's state volume)."""
    folder, labs = _load(class_dir)
    hosting.down_all(labs, purge=purge)
    if purge:
        shutil.rmtree(folder, ignore_errors=True)
    console.print(
        f"class down: {len(labs)} labs stopped" + (f", {folder} deleted" if purge else "")
    )


@class_app.command("card")
def card(
    name: Annotated[str, typer.Argument(help="the student (as in `lab class status`)")],
    html: Annotated[
        Path | None, typer.Option("--html", help="also write the HTML page here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the card as JSON")] = False,
    class_dir: ClassDir = None,
) -> None:
    """A student's card: hosts, ports, CA, token and the `lab use` command."""
    folder, labs = _load(class_dir)
    try:
        lab = find_lab(labs, name)
    except ClassError as exc:
        raise fail(str(exc)) from None
    page = html or folder / "cards" / f"{lab.name}.html"
    data = cards.card_data(lab, str(page))
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(cards.card_html(data))
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        print(cards.card_text(data), end="")
        print(f"  HTML page: {page}")


@class_app.command("grade")
def grade(
    submissions: Annotated[Path, typer.Argument(help="a folder of DIR/<student>/NN*.py")],
    only: Annotated[
        list[int], typer.Option("--only", help="just these exercises (repeatable)")
    ] = [],  # noqa: B006
    jobs: Annotated[int, typer.Option(help="students graded at once")] = 4,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="write the grades here")] = None,
    class_dir: ClassDir = None,
) -> None:
    """Check each student's submissions against that student's own lab, several at once."""
    from lab.classroom.grading import ClassGrade, grade_class, write_class_csv

    _, labs = _load(class_dir)
    if not submissions.is_dir():
        raise fail(f"{submissions} is not a folder (it should hold one subfolder per student)")

    def report(g: ClassGrade) -> None:
        if g.error:
            console.print(f"  {escape(g.student)}: [red]error[/] {escape(g.error)}")
        else:
            marks = " ".join(f"{k}:{v}" for k, v in g.verdicts.items())
            console.print(f"  {escape(g.student)}: {g.passed}/{len(g.verdicts)} ({escape(marks)})")

    grades = grade_class(labs, submissions, only=only, jobs=jobs, on_grade=report)
    if not grades:
        raise fail(f"{submissions} has no student subfolders")
    if csv_file is not None:
        write_class_csv(csv_file, grades)
        console.print(f"CSV written to {escape(str(csv_file))}")
    raise typer.Exit(0 if all(g.ok for g in grades) else 1)


@class_app.command("render")
def render(
    out: Annotated[Path, typer.Option("--out", help="folder for the manifests")],
    target: Annotated[str, typer.Option(help="kubernetes")] = "kubernetes",
    students: Students = None,
    roster: Roster = None,
    image: Annotated[str, typer.Option(help="the lab image every service runs")] = "wirelab:latest",
) -> None:
    """Render the class for a cluster: one namespace per lab (see docs/kubernetes.md)."""
    from lab.classroom.kubernetes import render_class

    if target != "kubernetes":
        raise fail(f"unknown target {target!r}: choose kubernetes")
    names = _names(students, roster)
    if names is None:
        raise fail("who is in the class? --students N or --roster FILE")
    try:
        written = render_class(names, out, image=image)
    except PortPlanError as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {len(written)} files for {len(names)} labs under {escape(str(out))}")


def use_command(
    card_file: Annotated[
        Path | None,
        typer.Argument(metavar="CARD", help="the card's .html or .json, or a lab's state folder"),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="forget the lab; back to your own")
    ] = False,
    print_env: Annotated[
        bool,
        typer.Option("--print", help='print export lines instead: eval "$(lab use CARD --print)"'),
    ] = False,
) -> None:
    """Point later `lab` commands at the lab on CARD (a class card). No CARD: show which."""
    if clear:
        existed = pointer.clear_pointer()
        console.print("back to your own lab" if existed else "no lab was chosen with `lab use`")
        return
    if card_file is None:
        data = pointer.read_pointer()
        if data is None:
            console.print("no lab chosen with `lab use`: commands use your own lab")
        else:
            console.print(
                f"using {escape(str(data.get('name')))} (from {escape(str(data.get('card')))})"
            )
        return
    try:
        data = cards.read_card(card_file)
    except cards.CardError as exc:
        raise fail(str(exc)) from None
    if print_env:
        print(pointer.export_lines(data))
        return
    path = pointer.write_pointer(data, str(card_file.resolve()))
    console.print(
        f"`lab` now talks to lab {escape(str(data.get('name')))} "
        f"(ports: the {cards.shift(data['port_offset'])}); `lab use --clear` undoes it. ({escape(str(path))})"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(class_app, name="class")
    app.command("use")(use_command)
