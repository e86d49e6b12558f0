"""Running an exercise's program by hand, against the active lab, exactly as its check does.

`lab exercise show N` prints the command (the lab's real host, ports and CA file, and the
lab's own Python: a bare ``python`` outside the virtual environment has no httpx), and
`lab exercise run N FILE` runs it. The READMEs write addresses as placeholders such as
``{faultproxy}`` or ``{rawhttp.line.via_proxy}`` (HOST:PORT), ``{python}`` and
``{ca_file}``; `show` fills them in from the lab that is running.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from lab.exercise import evidence
from lab.exercise.catalog import Exercise
from lab.exercise.checkfile import CheckFileError, load_check_file
from lab.exercise.program import program_env
from services.common.processes import free_port
from services.ports import all_endpoint_names, default_port

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_.-]*)\}")


def python() -> str:
    """The lab's own Python (its virtual environment has every library the exercises use)."""
    return sys.executable


def _host_port(endpoint: str) -> dict[str, str]:
    host, port = evidence.address(endpoint)
    return {"WIRELAB_TARGET_HOST": host, "WIRELAB_TARGET_PORT": str(port)}


def _url(endpoint: str, scheme: str = "http", path: str = "") -> str:
    host, port = evidence.address(endpoint)
    return f"{scheme}://{host}:{port}{path}"


def _listen() -> dict[str, str]:
    """Where a student's server listens when run by hand: a free loopback port."""
    return {"WIRELAB_LISTEN_HOST": "127.0.0.1", "WIRELAB_LISTEN_PORT": str(free_port())}


def _p(params: Mapping[str, object], name: str, default: object) -> str:
    return str(params.get(name, default))


# What each judge gives the program on its main run (the run a student reproduces by hand),
# keyed by the judge named in check.yaml. Targets are the lab's services themselves: the
# check's own taps, relays and toxics exist only while it runs.
ENVIRONMENTS: dict[str, Callable[[Mapping[str, object]], dict[str, str]]] = {
    "ex01_raw_requests": lambda p: {**_host_port("rawhttp"), "WIRELAB_PATH": "/"},
    "ex02_your_own_404": lambda p: _listen(),
    "ex03_framing": lambda p: {
        **_host_port("rawhttp.line.via_proxy"),
        "WIRELAB_KEYS": "fragments,halfclose,no-such-story",
    },
    "ex04_timeouts": lambda p: _host_port("rawhttp.via_proxy"),
    "ex05_concurrency": lambda p: {
        "WIRELAB_TARGET_URL": _url("restapi.via_proxy"),
        "WIRELAB_TOKEN": _p(p, "token", "bob-token"),
    },
    "ex06_polite_client": lambda p: {
        "WIRELAB_TARGET_URL": _url("restapi"),
        "WIRELAB_TOKEN": _p(p, "token", "carol-token"),
        "WIRELAB_PREFIX": "/anything/exercise-06/by-hand/",
        "WIRELAB_COUNT": _p(p, "count", 30),
    },
    "ex07_idempotent_retries": lambda p: {
        "WIRELAB_TARGET_URL": _url("restapi.via_proxy"),
        "WIRELAB_TOKEN": _p(p, "token", "alice-token"),
        "WIRELAB_ITEM": "exercise-07 by hand",
        "WIRELAB_COUNT": _p(p, "count", 10),
    },
    "ex08_udp_loss": lambda p: {
        **_host_port("udpstream"),
        "WIRELAB_COUNT": _p(p, "count", 1000),
        "WIRELAB_RATE": _p(p, "rate", 500),
    },
    "ex09_tls_by_hand": lambda p: {
        **_host_port("rawhttp.https"),
        "WIRELAB_CA_FILE": evidence.ca_path(),
        "WIRELAB_SERVER_NAME": "localhost",
    },
    "ex10_websocket_chat": lambda p: {
        "WIRELAB_TARGET_URL": _url("restapi", "ws", "/ws/chat"),
        "WIRELAB_NAME": "relay-bot",
        "WIRELAB_TIMEOUT": _p(p, "program_timeout", 15),
    },
    "ex11_echo_server": lambda p: _listen(),
    # By hand, run the receiver first; the sender then needs WIRELAB_ROLE=sender and
    # WIRELAB_TARGET_HOST/PORT pointing at the receiver (the README shows both lines).
    "ex12_udp_pair": lambda p: {
        "WIRELAB_ROLE": "receiver",
        **_listen(),
        "WIRELAB_COUNT": _p(p, "count", 400),
        "WIRELAB_RATE": _p(p, "rate", 400),
        "WIRELAB_IDLE": _p(p, "idle", 1.0),
    },
    "ex13_websocket_server": lambda p: _listen(),
    "ex14_api_client": lambda p: {
        "WIRELAB_TARGET_URL": _url("restapi"),
        "WIRELAB_TOKEN": _p(p, "token", "carol-token"),
        "WIRELAB_PER_PAGE": _p(p, "per_page", 3),
        "WIRELAB_NEW_NAME": "Ada Lovelace by hand",
        "WIRELAB_NEW_EMAIL": "ada-by-hand@wirelab.test",
        "WIRELAB_USER_ID": "1",
        "WIRELAB_SUFFIX": " (by hand)",
    },
}


def hand_env(exercise: Exercise) -> dict[str, str]:
    """The variables exercise N's check gives the program, for this lab.

    Raises ``evidence.LabUnavailable`` when the lab cannot say where its services are.
    An exercise whose judge is not in the table gets none (its README says what it needs).
    """
    try:
        spec = load_check_file(exercise)
    except CheckFileError:
        return {}
    make = ENVIRONMENTS.get(spec.judge)
    return make(spec.params) if make else {}


def command_line(env: Mapping[str, str], program: str) -> str:
    """``VAR=value ... /path/to/python program``, quoted for a POSIX shell."""
    words = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    return " ".join([*words, shlex.quote(python()), shlex.quote(program)])


def _address(endpoint: str) -> str:
    try:
        host, port = evidence.address(endpoint)
    except evidence.LabUnavailable:  # a lab that cannot answer: its configured default
        host, port = "127.0.0.1", default_port(endpoint)
    return f"{host}:{port}"


def fill_placeholders(text: str) -> str:
    """Replace ``{endpoint}``, ``{python}`` and ``{ca_file}``; leave every other brace alone."""
    endpoints = set(all_endpoint_names())

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in endpoints:
            return _address(name)
        if name == "python":
            return python()
        if name == "ca_file":
            try:
                return evidence.ca_path()
            except evidence.LabUnavailable:
                return "$(lab ca)"
        return match.group(0)

    return PLACEHOLDER.sub(one, text)


def split_code_blocks(markdown: str) -> list[tuple[bool, str]]:
    """(is_code, text) pieces in order: fenced blocks apart, so they can be printed unwrapped."""
    pieces: list[tuple[bool, str]] = []
    prose: list[str] = []
    code: list[str] | None = None
    for line in markdown.splitlines():
        fence = line.strip().startswith("```")
        if code is None and fence:
            pieces.append((False, "\n".join(prose)))
            prose, code = [], []
        elif code is not None and fence:
            pieces.append((True, "\n".join(code)))
            code = None
        elif code is not None:
            code.append(line)
        else:
            prose.append(line)
    if code is not None:  # an unclosed fence: show it as code anyway
        pieces.append((True, "\n".join(code)))
    pieces.append((False, "\n".join(prose)))
    return [(is_code, text) for is_code, text in pieces if text.strip()]


def run_by_hand(program: Path, env: Mapping[str, str]) -> int:
    """Run the program in the foreground with the check's environment; its exit code.

    It runs in this terminal's process group, so Ctrl-C reaches it as it would by hand.
    """
    proc = subprocess.Popen(
        [python(), str(program)],
        cwd=program.parent,
        env=program_env(env),
    )
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return 128 + signal.SIGINT
