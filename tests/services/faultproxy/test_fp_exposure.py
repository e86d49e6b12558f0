"""Issue 15 item 2: a proxy never exposes loopback services to the network by accident.

Real faultproxy processes; reachability is proved by connecting to this machine's
non-loopback address (the one its default route uses), not by reading the answer.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.paths import REPO_ROOT
from services.common.processes import free_port
from services.faultproxy.core.addresses import (
    AddressError,
    AddressRefused,
    check_pinned_name,
    pin_listen,
)
from tests.services.faultproxy.fp_support import Api, EchoServer, faultproxy_process, run_cli


def outside_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


OUTSIDE = outside_address()
needs_outside = pytest.mark.skipif(OUTSIDE is None, reason="no non-loopback address here")


def reachable(host: str, port: int, proto: str = "tcp") -> bool:
    if proto == "udp":
        # A UDP listener answers nothing by itself; a bound port is what matters: bind it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return True  # taken on that address (or on all of them)
            return False
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def public() -> Iterator[Api]:
    with faultproxy_process("--public-listen") as (api, _proc):
        yield api


@pytest.fixture()
def public_api(public: Api) -> Iterator[Api]:
    yield public
    public.reset()


# ---- the default: loopback only -----------------------------------------------------------


@needs_outside
@pytest.mark.parametrize(
    ("asked", "family_loopback"),
    [("0.0.0.0:0", "127.0.0.1"), ("[::]:0", "::1"), (":0", "127.0.0.1"), ("0:0", "127.0.0.1")],
)
def test_all_interfaces_is_narrowed_to_loopback(
    api: Api, echo: EchoServer, asked: str, family_loopback: str
) -> None:
    """Chaos Toolkit asks for 0.0.0.0:0: it gets 201 and a loopback listener (before: 201
    and a listener on every interface, reachable from the network)."""
    r = api.post("/proxies", {"name": "p", "listen": asked, "upstream": f"127.0.0.1:{echo.port}"})
    assert r.status_code == 201, r.text
    listen = r.json()["listen"]
    port = port_of(listen)
    assert listen.strip("[]").rsplit(":", 1)[0].strip("[]") == family_loopback, listen
    assert reachable(family_loopback, port)
    assert OUTSIDE is not None
    assert not reachable(OUTSIDE, port), f"{asked} answered {listen} but is reachable outside"


@needs_outside
def test_explicit_outside_address_is_refused_everywhere(api: Api, echo: EchoServer) -> None:
    assert OUTSIDE is not None
    up = f"127.0.0.1:{echo.port}"
    body = {"name": "p", "listen": f"{OUTSIDE}:0", "upstream": up}
    r = api.post("/proxies", body)
    assert r.status_code == 403 and "--public-listen" in r.json()["error"], r.text
    assert OUTSIDE in r.json()["error"]
    r = api.post("/proxies", {**body, "protocol": "udp", "name": "u"})
    assert r.status_code == 403 and "--public-listen" in r.json()["error"], r.text
    r = api.post("/populate", [body])
    assert r.status_code == 403 and "--public-listen" in r.json()["error"], r.text
    assert api.get("/proxies").json() == {}
    # An update that moves a proxy off loopback is refused, and the proxy keeps listening.
    r = api.post("/proxies", {"name": "p", "listen": "127.0.0.1:0", "upstream": up})
    assert r.status_code == 201
    port = port_of(r.json()["listen"])
    r = api.post("/proxies/p", {"listen": f"{OUTSIDE}:{port}"})
    assert r.status_code == 403 and "--public-listen" in r.json()["error"], r.text
    assert api.get("/proxies/p").json()["listen"] == f"127.0.0.1:{port}"
    assert reachable("127.0.0.1", port)
    # ... while an update to "all interfaces" is narrowed, like a creation.
    r = api.post("/proxies/p", {"listen": f"0.0.0.0:{port}"})
    assert r.status_code == 200 and r.json()["listen"] == f"127.0.0.1:{port}", r.text
    assert not reachable(OUTSIDE, port)


@needs_outside
def test_udp_proxy_on_all_interfaces_is_narrowed(api: Api) -> None:
    assert OUTSIDE is not None
    body = {"name": "u", "listen": "0.0.0.0:0", "upstream": "127.0.0.1:9", "protocol": "udp"}
    r = api.post("/proxies", body)
    assert r.status_code == 201, r.text
    listen = r.json()["listen"]
    assert listen.startswith("127.0.0.1:")
    assert not reachable(OUTSIDE, port_of(listen), "udp")


@needs_outside
def test_config_file_cannot_expose_a_proxy(tmp_path: Path, echo: EchoServer) -> None:
    assert OUTSIDE is not None
    cfg = tmp_path / "fp.json"
    up = f"127.0.0.1:{echo.port}"
    cfg.write_text(json.dumps([{"name": "p", "listen": f"{OUTSIDE}:0", "upstream": up}]))
    result = run_cli("--port", str(free_port()), "--config", str(cfg))
    assert result.returncode == 2 and "--public-listen" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # The shape docker/faultproxy.json uses (0.0.0.0) is narrowed outside Compose.
    cfg.write_text(json.dumps([{"name": "p", "listen": "0.0.0.0:0", "upstream": up}]))
    with faultproxy_process("--config", str(cfg)) as (api, _proc):
        listen = api.get("/proxies/p").json()["listen"]
        assert listen.startswith("127.0.0.1:")
        assert not reachable(OUTSIDE, port_of(listen))


# ---- --public-listen: what Compose runs --------------------------------------------------


@needs_outside
def test_public_listen_binds_what_was_asked(public_api: Api, echo: EchoServer) -> None:
    assert OUTSIDE is not None
    up = f"127.0.0.1:{echo.port}"
    r = public_api.post("/proxies", {"name": "all", "listen": "0.0.0.0:0", "upstream": up})
    assert r.status_code == 201 and r.json()["listen"].startswith("0.0.0.0:"), r.text
    assert reachable(OUTSIDE, port_of(r.json()["listen"]))
    r = public_api.post("/proxies", {"name": "one", "listen": f"{OUTSIDE}:0", "upstream": up})
    assert r.status_code == 201 and r.json()["listen"].startswith(f"{OUTSIDE}:"), r.text


def test_public_listen_from_the_environment(echo: EchoServer) -> None:
    env = {"WIRELAB_FAULTPROXY_PUBLIC_LISTEN": "1"}
    with faultproxy_process(env=env) as (api, _proc):
        body = {"name": "p", "listen": "0.0.0.0:0", "upstream": f"127.0.0.1:{echo.port}"}
        r = api.post("/proxies", body)
        assert r.status_code == 201 and r.json()["listen"].startswith("0.0.0.0:"), r.text


# ---- lab names as upstreams: pinned to loopback ------------------------------------------


def test_builtin_names_must_resolve_to_loopback(public_api: Api, echo: EchoServer) -> None:
    """``restapi`` is a Compose name; outside Compose it must not reach whatever this
    machine's DNS calls restapi (before: 201, unresolved)."""
    body = {"name": "p", "listen": "127.0.0.1:0"}
    if _resolves("restapi"):
        pytest.skip("restapi resolves on this machine")
    r = public_api.post("/proxies", {**body, "upstream": "restapi:8000"})
    assert r.status_code in (400, 403) and "restapi" in r.json()["error"], r.text
    assert "127.0.0.1" in r.json()["error"]
    r = public_api.post("/proxies", {**body, "upstream": f"localhost:{echo.port}"})
    assert r.status_code == 201, r.text


def test_names_listed_with_allow_are_trusted_as_listed() -> None:
    # db.example does not resolve anywhere: listing it is the operator's word for it.
    with faultproxy_process("--public-listen", "--allow", "db.example") as (api, _proc):
        body = {"name": "p", "listen": "127.0.0.1:0", "upstream": "db.example:5432"}
        assert api.post("/proxies", body).status_code == 201


def _resolves(name: str) -> bool:
    try:
        socket.getaddrinfo(name, None)
        return True
    except OSError:
        return False


# ---- the rules themselves (sans-I/O, with a stand-in resolver) ---------------------------


def fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise AddressError(f"host {host!r} does not resolve")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("asked", "bound"),
    [
        ("0.0.0.0:0", "127.0.0.1:0"),
        ("[::]:5", "[::1]:5"),
        (":7", "127.0.0.1:7"),
        ("localhost:0", "127.0.0.1:0"),
        ("LOCALHOST.:0", "127.0.0.1:0"),
        ("[::ffff:0.0.0.0]:0", "127.0.0.1:0"),
        ("[::ffff:127.0.0.1]:0", "[::ffff:7f00:1]:0"),
        ("127.0.0.2:9", "127.0.0.2:9"),
        ("0:0", "127.0.0.1:0"),  # "0" is 0.0.0.0 to inet_aton
        ("me.test:0", "127.0.1.1:0"),
    ],
)
def test_pin_listen_narrows(asked: str, bound: str) -> None:
    dns = fake_dns({"0": ["0.0.0.0"], "me.test": ["127.0.1.1"], "lan.test": ["10.0.0.5"]})
    assert pin_listen(asked, False, dns) == bound


@pytest.mark.parametrize(
    "asked", ["10.0.0.5:0", "[fe80::1]:0", "lan.test:0", "[::ffff:10.0.0.5]:0"]
)
def test_pin_listen_refuses_explicit_outside(asked: str) -> None:
    dns = fake_dns({"lan.test": ["10.0.0.5"]})
    with pytest.raises(AddressRefused, match="--public-listen"):
        pin_listen(asked, False, dns)
    assert pin_listen(asked, True, dns).rsplit(":", 1)[0] != "127.0.0.1"


def test_pinned_name_checks_every_address() -> None:
    dns = fake_dns({"restapi": ["127.0.0.1", "10.1.2.3"], "localhost.": ["::1"]})
    with pytest.raises(AddressRefused, match=r"10\.1\.2\.3"):
        check_pinned_name("restapi", lambda a: a.startswith("127."), dns)
    assert check_pinned_name("localhost.", lambda a: False, dns) == ["::1"]
    assert check_pinned_name("restapi", lambda a: True, dns) == ["127.0.0.1", "10.1.2.3"]
    with pytest.raises(AddressRefused, match="does not resolve"):
        check_pinned_name("udpstream", lambda a: True, dns)


# ---- the API's own gate: browsers, huge heads ---------------------------------------------


@pytest.mark.parametrize(
    "agent", ["Mozilla/5.0 (X11)", "mozilla/5.0", "MOZILLA/4.0", "MoZiLlA/5.0 (Macintosh)"]
)
def test_browser_user_agents_are_refused_in_any_case(api: Api, agent: str) -> None:
    r = api.get("/proxies", headers={"User-Agent": agent})
    assert r.status_code == 403, (agent, r.status_code)
    assert "User agent not allowed" in r.text


def test_non_browser_agents_pass(api: Api) -> None:
    for agent in ("curl/8.5.0", "python-httpx/0.27", "toxiproxy-cli", "Go-http-client/1.1"):
        assert api.get("/proxies", headers={"User-Agent": agent}).status_code == 200


@pytest.mark.parametrize("size", [1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024])
def test_huge_header_gets_431_not_a_reset(fp: Api, size: int) -> None:
    """The whole head is sent before reading, as a naive client would: it must read a
    431, not ECONNRESET (before: a reset from 1 MB on)."""
    head = b"GET /proxies HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", fp.port), timeout=10) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading early; the answer must still be there
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b"connection: close" in answer.lower()
    # ... and the API still answers the next client.
    assert fp.get("/version").status_code == 200


# ---- Compose: the stack's command line is enough for its config ---------------------------


def test_compose_command_line_accepts_the_compose_config(tmp_path: Path) -> None:
    """faultproxy started with compose.yaml's own flags loads docker/faultproxy.json (the
    lab's names as upstreams, 0.0.0.0 listeners); ports moved to 0 to stay off defaults."""
    import yaml

    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    command = compose["services"]["faultproxy"]["command"]
    assert "--public-listen" in command
    flags = [a for a in command[3:] if not a.startswith(("--host=", "--port=", "--config="))]
    proxies = json.loads((REPO_ROOT / "docker" / "faultproxy.json").read_text())
    for proxy in proxies:
        assert proxy["listen"].startswith("0.0.0.0:")
        proxy["listen"] = "0.0.0.0:0"
    cfg = tmp_path / "fp.json"
    cfg.write_text(json.dumps(proxies))
    with faultproxy_process(*flags, "--config", str(cfg)) as (api, _proc):
        got = api.get("/proxies").json()
        assert set(got) == {p["name"] for p in proxies}
        assert all(p["listen"].startswith("0.0.0.0:") for p in got.values())
    # Without the flags the same names are refused (they do not resolve to loopback here).
    if not _resolves("restapi"):
        result = run_cli("--port", str(free_port()), "--public-listen", "--config", str(cfg))
        assert result.returncode == 2 and "rawhttp" in result.stderr, result.stderr
