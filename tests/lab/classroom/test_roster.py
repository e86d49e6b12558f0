"""Rosters: plain lists and CSV files become lab names safe for folders and namespaces."""

from __future__ import annotations

import re

import pytest

from lab.classroom.roster import RosterError, numbered, parse_roster, read_roster

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_a_plain_list_with_comments_and_odd_names():
    names = parse_roster("# week 1\nAda Lovelace\n\n  Émile Zola \nbob@example.org\n")
    assert names == ["ada-lovelace", "emile-zola", "bob"]
    assert all(DNS_LABEL.match(n) for n in names)


def test_a_csv_with_a_name_column():
    text = "id,Name,email\n1,Grace Hopper,g@x\n2,Alan Turing,a@x\n"
    assert parse_roster(text) == ["grace-hopper", "alan-turing"]


def test_clashing_and_empty_names_are_refused_with_their_line():
    with pytest.raises(
        RosterError,
        match=r"line 2: 'ada  lovelace' gives the lab name 'ada-lovelace', already taken by line 1",
    ):
        parse_roster("Ada Lovelace\nada  lovelace\n")
    with pytest.raises(RosterError, match="line 2: '!!!' has no letter or digit"):
        parse_roster("ok\n!!!\n")
    with pytest.raises(RosterError, match="needs a column named one of name"):
        parse_roster("id,mail\n1,x\n")
    with pytest.raises(RosterError, match="has no names"):
        parse_roster("# nobody\n")


def test_numbered_students_and_an_unreadable_file(tmp_path):
    assert numbered(3) == ["student01", "student02", "student03"]
    assert numbered(120)[-1] == "student120"
    with pytest.raises(RosterError, match="positive number"):
        numbered(0)
    with pytest.raises(RosterError, match="cannot read roster"):
        read_roster(tmp_path / "missing.txt")
