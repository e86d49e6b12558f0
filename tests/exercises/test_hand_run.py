"""`lab exercise show` and `lab exercise run`: instructions that work as printed.

Through the real CLI, against the session lab (on a random port offset): the commands name
this lab's ports, its CA file and its Python, are never wrapped at 80 columns, and
`lab exercise run` gives a program the environment its check gives it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from lab.exercise import hand_run
from lab.exercise.catalog import all_exercises, find_exercise
from services.common.paths import REPO_ROOT
from services.ports import BY_NAME


def lab_cli(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _port(lab, endpoint: str) -> int:
    return lab.address(endpoint)[1]


@pytest.mark.parametrize("exercise", all_exercises(), ids=lambda e: e.path.name)
def test_show_prints_every_command_whole_at_80_columns(lab, exercise, tmp_path: Path) -> None:
    done = lab_cli("exercise", "show", str(exercise.number), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    env = hand_run.hand_env(exercise)
    if "WIRELAB_LISTEN_PORT" in env:  # a server: a fresh free port each time, compare the rest
        env.pop("WIRELAB_LISTEN_PORT")
        first = next(iter(env))
        program = f"{sys.executable} {exercise.working_name}"
        by_hand = next(
            (line for line in lines if line.startswith(f"{first}=") and line.endswith(program)),
            f"no line runs {program} with {first}=...",
        )
        for key, value in env.items():
            assert f"{key}={shlex.quote(value)}" in by_hand, (key, by_hand)
    else:
        assert hand_run.command_line(env, exercise.working_name) in lines
    assert f"lab exercise run {exercise.number} {exercise.working_name}" in lines
    # Every line of every code block in the README, placeholders filled, on a line of its own.
    readme = hand_run.fill_placeholders(exercise.readme.read_text(encoding="utf-8"))
    for is_code, piece in hand_run.split_code_blocks(readme):
        if is_code:
            for line in textwrap.dedent(piece).splitlines():
                assert line.strip() in lines, (line, done.stdout)
    assert "{" + "python}" not in done.stdout and "{" + "faultproxy}" not in done.stdout


def test_show_names_the_offset_ports_the_ca_file_and_the_labs_python(lab, tmp_path: Path) -> None:
    assert _port(lab, "faultproxy") != BY_NAME["faultproxy"].port  # the lab is on an offset
    framing = lab_cli("exercise", "show", "3", cwd=tmp_path).stdout
    proxy_api = f"http://127.0.0.1:{_port(lab, 'faultproxy')}/proxies/rawhttp_line/toxics"
    assert f"curl -X POST {proxy_api} \\" in framing
    assert "127.0.0.1:8474" not in framing
    assert f"WIRELAB_TARGET_PORT={_port(lab, 'rawhttp.line.via_proxy')} " in framing
    tls = lab_cli("exercise", "show", "9", cwd=tmp_path).stdout
    assert f"WIRELAB_TARGET_PORT={_port(lab, 'rawhttp.https')} " in tls
    assert f"WIRELAB_CA_FILE={lab.ca_path()} " in tls
    assert f" {sys.executable} 09-tls-by-hand.py" in tls
    chat = " ".join(lab_cli("exercise", "show", "10", cwd=tmp_path).stdout.split())
    # a hint in prose: folded at spaces like the text around it, never inside a word
    assert f"{sys.executable} -m websockets ws://127.0.0.1:{_port(lab, 'restapi')}/ws/chat" in chat


def test_run_gives_the_program_the_checks_environment(lab, tmp_path: Path) -> None:
    """Exercise 9's by-hand run verifies rawhttp's certificate with the lab CA."""
    program = tmp_path / "09-tls-by-hand.py"
    program.write_bytes(find_exercise(9).solution.read_bytes())
    done = lab_cli("exercise", "run", "9", str(program), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified" in done.stdout and "\nHTTP/1.1 200 OK\n" in done.stdout, done.stdout
    assert "certificate verify failed" not in done.stderr


def test_run_passes_the_exit_code_and_refuses_a_missing_file(lab, tmp_path: Path) -> None:
    program = tmp_path / "mine.py"
    program.write_text(
        "import os, sys\nprint(os.environ['WIRELAB_TARGET_PORT'], sys.executable)\nsys.exit(3)\n"
    )
    done = lab_cli("exercise", "run", "1", str(program), cwd=tmp_path)
    assert done.returncode == 3
    assert done.stdout.split() == [str(_port(lab, "rawhttp")), sys.executable]
    missing = lab_cli("exercise", "run", "1", str(tmp_path / "nope.py"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_placeholders_leave_other_braces_alone() -> None:
    text = '{"name": "slicer"} {python} {no-such-thing} {faultproxy}'
    filled = hand_run.fill_placeholders(text)
    assert filled.startswith('{"name": "slicer"} ' + sys.executable + " {no-such-thing} ")
    assert not filled.endswith("{faultproxy}")


def test_rawhttps_home_page_lists_the_ports_in_use(lab) -> None:
    page = httpx.get(f"http://127.0.0.1:{_port(lab, 'rawhttp')}/", timeout=10).text
    for endpoint in ("rawhttp", "rawhttp.blocking", "rawhttp.echo", "rawhttp.line",
                     "rawhttp.https", "restapi", "udpstream", "faultproxy"):  # fmt: skip
        assert f"<td>{_port(lab, endpoint)}</td>" in page, endpoint
    assert "<td>8080</td>" not in page and "{{port:" not in page
    assert f"nc 127.0.0.1 {_port(lab, 'rawhttp')}</code>" in page
