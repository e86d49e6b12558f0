"""Cards round-trip through their HTML page, and `lab use` feeds later commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from lab.classroom import pointer
from lab.classroom.card import CardError, card_data, card_html, card_text, read_card
from lab.classroom.registry import TOKEN_ENV, plan_class
from lab.faultproxy_client import TOKEN_ENV as CLIENT_TOKEN_ENV
from services.common.paths import REPO_ROOT


@pytest.fixture
def lab(tmp_path):
    return plan_class(["ada"], tmp_path / "class", first_slot=3)[0]


def test_the_token_variable_is_the_clients():
    assert TOKEN_ENV == CLIENT_TOKEN_ENV


def test_the_html_page_is_the_card(lab, tmp_path):
    card = card_data(lab, "ada.html")
    page = tmp_path / "ada.html"
    page.write_text(card_html(card))
    assert read_card(page) == card
    text = page.read_text()
    assert "<script src" not in text and "<link" not in text  # self-contained
    assert f"{lab.ports()['restapi']}" in text and lab.token in text
    assert str(lab.ports()["faultproxy"]) in card_text(card)


def test_a_name_that_tries_to_close_the_script_stays_inert(lab, tmp_path):
    card = card_data(lab) | {"name": "</script><b>x"}
    page = tmp_path / "x.html"
    page.write_text(card_html(card))
    assert read_card(page)["name"] == "</script><b>x"
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    Tags().feed(page.read_text())
    assert "b" not in tags and tags.count("script") == 1


def test_not_a_card(tmp_path):
    other = tmp_path / "notes.html"
    other.write_text("<html>hello</html>")
    with pytest.raises(CardError, match="not a lab card"):
        read_card(other)
    (tmp_path / "x.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(CardError, match="not a wirelab lab card"):
        read_card(tmp_path / "x.json")


def test_lab_use_sets_the_lab_for_later_commands_and_the_shell_wins(lab, tmp_path, monkeypatch):
    page = tmp_path / "ada.html"
    page.write_text(card_html(card_data(lab)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    env["WIRELAB_USE_FILE"] = str(tmp_path / "use.json")

    def lab_cli(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "lab.cli", *args], env=env | extra, cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    done = lab_cli("use", str(page))
    assert done.returncode == 0, done.stderr
    assert "ada" in done.stdout
    # A later command sees the lab: `lab ca` prints the CA path under the lab's folder.
    assert lab_cli("ca").stdout.strip() == os.path.join(lab.state_dir, "tls", "ca.pem")
    # The shell's own choice wins over the pointer.
    mine = lab_cli("ca", WIRELAB_STATE_DIR=str(tmp_path / "mine")).stdout.strip()
    assert mine == str(tmp_path / "mine" / "tls" / "ca.pem")
    printed = lab_cli("use", str(page), "--print").stdout
    assert f"export WIRELAB_PORT_OFFSET={lab.offset}" in printed
    assert f"export {TOKEN_ENV}={lab.token}" in printed
    assert lab_cli("use", "--clear").returncode == 0
    assert not (tmp_path / "use.json").exists()
    assert lab_cli("ca").stdout.strip() != os.path.join(lab.state_dir, "tls", "ca.pem")


def test_apply_fills_only_an_empty_shell(lab, tmp_path, monkeypatch):
    # apply() writes os.environ: give it a copy, so nothing leaks into later tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELAB_")}
    monkeypatch.setattr(os, "environ", env | {"WIRELAB_USE_FILE": str(tmp_path / "use.json")})
    pointer.write_pointer(card_data(lab), "card")
    monkeypatch.setenv("WIRELAB_PORT_OFFSET", "5")  # half a lab chosen by the shell
    assert pointer.apply() is None
    assert "WIRELAB_STATE_DIR" not in os.environ
    monkeypatch.delenv("WIRELAB_PORT_OFFSET")
    assert pointer.apply() == "ada"
    assert os.environ["WIRELAB_PORT_OFFSET"] == str(lab.offset)
    assert os.environ[TOKEN_ENV] == lab.token
