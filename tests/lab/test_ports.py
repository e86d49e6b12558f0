import pytest

from lab.proxies import standard_proxies
from lab.targets import TargetError, resolve
from services.ports import BY_NAME, default_port, env_var_for


def test_defaults_match_the_design_table():
    assert {e.name: e.port for e in BY_NAME.values()} == {
        "rawhttp": 8080,
        "rawhttp.blocking": 8081,
        "rawhttp.echo": 9000,
        "rawhttp.line": 9001,
        "rawhttp.https": 8443,
        "restapi": 8000,
        "udpstream": 9999,
        "faultproxy": 8474,
        "console": 8475,
    }
    assert default_port("udpstream.via_proxy", {}) == 19999
    assert default_port("rawhttp.echo.via_proxy", {}) == 19000


def test_env_var_override_and_offset():
    assert env_var_for("rawhttp.echo") == "WIRELAB_RAWHTTP_ECHO_PORT"
    env = {"WIRELAB_PORT_OFFSET": "100", "WIRELAB_RESTAPI_PORT": "7000"}
    assert default_port("rawhttp", env) == 8180
    assert default_port("restapi", env) == 7000  # an explicit port is not shifted
    assert default_port("restapi.via_proxy", env) == 17000
    assert (
        default_port("restapi.via_proxy", {**env, "WIRELAB_RESTAPI_VIA_PROXY_PORT": "5555"}) == 5555
    )


def test_bad_env_values_say_which_variable():
    with pytest.raises(ValueError, match="WIRELAB_RAWHTTP_PORT must be a port number, got 'http'"):
        default_port("rawhttp", {"WIRELAB_RAWHTTP_PORT": "http"})
    with pytest.raises(ValueError, match="WIRELAB_PORT_OFFSET"):
        default_port("rawhttp", {"WIRELAB_PORT_OFFSET": "x"})
    with pytest.raises(KeyError):
        default_port("faultproxy.via_proxy", {})


def test_standard_proxies_cover_every_proxied_endpoint():
    proxies = {p["name"]: p for p in standard_proxies(env={})}
    assert set(proxies) == {
        "rawhttp",
        "rawhttp_blocking",
        "rawhttp_echo",
        "rawhttp_line",
        "restapi",
        "udpstream",
    }
    assert proxies["udpstream"] == {
        "name": "udpstream",
        "listen": "127.0.0.1:19999",
        "upstream": "127.0.0.1:9999",
        "enabled": True,
        "protocol": "udp",
    }
    docker = {
        p["name"]: p
        for p in standard_proxies(listen_host="0.0.0.0", upstream_host=lambda e: e.service, env={})
    }
    assert docker["rawhttp_blocking"]["upstream"] == "rawhttp-blocking:8081"


def test_targets_resolve_literals_and_suggest_names():
    assert resolve("example.test:81") == ("example.test", 81)
    assert resolve(":9") == ("127.0.0.1", 9)
    with pytest.raises(TargetError, match="did you mean 'restapi.via_proxy'"):
        resolve("restapi.via_proxi")


def test_published_ports_parse_and_skip_bad_entries():
    from services.ports import published_ports

    env = {
        "WIRELAB_PUBLISHED_PORTS": "rawhttp=9080, restapi=9000,nope=1,udpstream=x,"
        "faultproxy=70000,rawhttp.via_proxy=19080,garbage"
    }
    assert published_ports(env) == {"rawhttp": 9080, "restapi": 9000, "rawhttp.via_proxy": 19080}
    assert published_ports({}) == {}


def test_an_offset_or_port_out_of_range_is_one_line_not_a_traceback(tmp_path):
    import subprocess
    import sys

    import pytest

    from services.ports import PortConfigError, default_port

    with pytest.raises(PortConfigError, match="port offset 99999 puts rawhttp on port 108079"):
        default_port("rawhttp", {"WIRELAB_PORT_OFFSET": "99999"})
    with pytest.raises(PortConfigError, match="WIRELAB_RESTAPI_PORT=0 puts restapi on port 0"):
        default_port("restapi", {"WIRELAB_RESTAPI_PORT": "0"})
    with pytest.raises(PortConfigError, match=r"WIRELAB_RAWHTTP_PORT \+ 10000"):
        default_port("rawhttp.via_proxy", {"WIRELAB_RAWHTTP_PORT": "60000"})
    env = {"PATH": "/usr/bin:/bin", "WIRELAB_STATE_DIR": str(tmp_path), "WIRELAB_BACKEND": "local"}
    for args in (["up", "--port-offset", "99999"], ["status"]):
        extra = {"WIRELAB_RESTAPI_PORT": "70000"} if args == ["status"] else {}
        done = subprocess.run(
            [sys.executable, "-m", "lab.cli", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode in (1, 2), done.stderr
        assert "Traceback" not in done.stderr and "ports are 1-65535" in done.stderr, done.stderr
