"""The import-graph helper finds the circles it must, and only those."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support_imports import import_cycles, import_graph


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_lazy_and_relative_imports_close_a_circle(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg.sub import b\n",  # lazy, `from pkg import mod`
            "pkg/sub/__init__.py": "",
            "pkg/sub/b.py": "from ..c import X\n",  # relative
            "pkg/c.py": "import pkg.a\nimport json\n",  # stdlib imports are not edges
            "pkg/d.py": "from pkg import a\n",  # outside the circle
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_type_checking_imports_count_only_when_asked(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.a import A\n"
                "else:\n    from pkg import c\n"
            ),
            "pkg/c.py": "",
        },
    )
    assert import_graph(tmp_path, "pkg")["pkg.b"] == {"pkg.c"}
    assert import_cycles(import_graph(tmp_path, "pkg")) == []
    assert import_cycles(import_graph(tmp_path, "pkg", type_checking=True)) == [["pkg.a", "pkg.b"]]


def test_an_acyclic_package_and_a_non_package(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "from pkg.a import x\n", "pkg/a.py": "x = 1\n"})
    assert import_cycles(import_graph(tmp_path, "pkg")) == []
    with pytest.raises(ValueError, match="is not a package"):
        import_graph(tmp_path, "nope")
