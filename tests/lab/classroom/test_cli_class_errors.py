"""`lab class` refuses bad input with one line naming the cause (no lab is started here)."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from lab.classroom.port_plan import capacity
from lab.classroom.registry import plan_class, save_class
from lab.cli import app

runner = CliRunner()


@pytest.fixture
def class_dir(tmp_path, monkeypatch):
    folder = tmp_path / "class"
    monkeypatch.setenv("WIRELAB_CLASS_DIR", str(folder))
    return folder


def lab(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def test_no_class_yet(class_dir):
    code, out = lab("class", "status")
    assert code == 2 and f"no class in {class_dir}" in out and "lab class up" in out


def test_who_and_how_many(class_dir, tmp_path):
    roster = tmp_path / "r.txt"
    roster.write_text("ada\n")
    assert lab("class", "up", "--students", "2", "--roster", str(roster))[1].endswith(
        "give --students N or --roster FILE, not both"
    )
    assert "who is in the class?" in lab("class", "up")[1]
    too_many = str(capacity() + 1)
    assert (
        f"do not fit: this host's plan holds {capacity()} labs"
        in lab("class", "up", "--students", too_many)[1]
    )
    assert (
        "unknown backend 'podman' for a class: choose local or docker"
        in lab("class", "up", "--students", "1", "--backend", "podman")[1]
    )
    assert not class_dir.exists()  # nothing planned, nothing started


def test_a_class_keeps_its_backend(class_dir):
    save_class(class_dir, plan_class(["ada"], class_dir, first_slot=640))
    code, out = lab("class", "up", "--backend", "docker")
    assert code == 2 and f"{class_dir} holds a class on the local backend" in out
    assert "lab class up --backend local" in out


def test_unknown_student_and_a_card_that_is_not_one(class_dir, tmp_path):
    save_class(class_dir, plan_class(["ada-lovelace", "alan-turing"], class_dir, first_slot=600))
    code, out = lab("class", "card", "ada-lovelace")
    assert code == 0 and "lab use" in out and "ada-lovelace.html" in out
    code, out = lab("class", "card", "ada-lovelce")
    assert (
        code == 2 and "no student 'ada-lovelce' in this class (did you mean 'ada-lovelace'?)" in out
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    code, out = lab("use", str(notes))
    assert code == 2 and "is not a lab card" in out
    assert "unknown target 'helm'" in lab("class", "render", "--target", "helm", "--students", "1",
                                          "--out", str(tmp_path / "o"))[1]  # fmt: skip


def test_a_port_already_taken_is_named_before_anything_starts(class_dir):
    labs = plan_class(["ada", "alan"], class_dir, first_slot=650)
    save_class(class_dir, labs)
    port = labs[1].ports()["restapi"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            squatter.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port} is busy on this machine already")
        squatter.listen()
        code, out = lab("class", "up")
    assert code == 2
    assert (
        f"lab alan (slot 651, offset {labs[1].offset}): ports already in use: restapi {port}/tcp"
        in out
    )
    assert not list((class_dir / "ada").glob("pids/*.json"))  # ada was not started either
