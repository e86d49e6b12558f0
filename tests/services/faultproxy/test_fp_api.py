"""The Toxiproxy 2.x API, endpoint by endpoint, against a real faultproxy process."""

from __future__ import annotations

import socket

import pytest

from services.common.processes import free_port
from tests.services.faultproxy.fp_support import (
    Api,
    EchoServer,
    connect,
    wait_until,
)


def body(upstream_port: int, name: str = "p", **extra: object) -> dict:
    return {
        "name": name,
        "upstream": f"127.0.0.1:{upstream_port}",
        "listen": "127.0.0.1:0",
        **extra,
    }


def test_version_and_healthz(api: Api) -> None:
    r = api.get("/version")
    assert r.status_code == 200 and r.json()["version"].startswith("2.")
    assert api.get("/healthz").status_code == 200


def test_create_returns_201_with_resolved_listen(api: Api, echo: EchoServer) -> None:
    r = api.post(
        "/proxies", {"name": "p", "upstream": f"localhost:{echo.port}", "listen": "localhost:0"}
    )
    assert r.status_code == 201
    data = r.json()
    host, port = data["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert data["enabled"] is True and data["toxics"] == []
    assert api.get("/proxies").json()["p"]["listen"] == data["listen"]
    with connect(int(port)) as s:
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"upstream": "127.0.0.1:1"}, 400, "missing required field: name"),
        ({"name": "x"}, 400, "missing required field: upstream"),
        ({"name": "x", "upstream": "127.0.0.1"}, 400, "has no port"),
        (
            {"name": "x", "upstream": "127.0.0.1:1", "enabled": "yes"},
            400,
            "enabled must be true or false",
        ),
        ([1, 2], 400, "must be a JSON object"),
    ],
)
def test_create_rejects_bad_bodies(api: Api, payload: object, status: int, fragment: str) -> None:
    r = api.post("/proxies", payload)
    assert r.status_code == status
    assert fragment in r.json()["error"] and r.json()["status"] == status


def test_bad_json_is_400(api: Api) -> None:
    r = api.http.post("/proxies", content=b"{nope")
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]


def test_duplicate_is_409_and_port_in_use_is_500(api: Api, echo: EchoServer) -> None:
    assert api.post("/proxies", body(echo.port)).status_code == 201
    r = api.post("/proxies", body(echo.port))
    assert r.status_code == 409 and r.json()["error"] == "proxy already exists"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = api.post("/proxies", {**body(echo.port, "q"), "listen": f"127.0.0.1:{port}"})
        assert r.status_code == 500
        assert "address already in use" in r.json()["error"].lower()


def test_keys_are_case_insensitive(api: Api, echo: EchoServer) -> None:
    r = api.post(
        "/proxies", {"Name": "ci", "UPSTREAM": f"127.0.0.1:{echo.port}", "Listen": "127.0.0.1:0"}
    )
    assert r.status_code == 201 and r.json()["name"] == "ci"
    r = api.post(
        "/proxies/ci/toxics",
        {"Type": "latency", "STREAM": "upstream", "Attributes": {"Latency": 5}},
    )
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 5, "jitter": 0},
        "name": "latency_upstream",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 1.0,
    }


def test_update_disable_closes_and_enable_relistens(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    s = connect(port)
    s.sendall(b"a")
    assert s.recv(1) == b"a"
    r = api.post("/proxies/p", {"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    s.settimeout(5)
    assert s.recv(10) == b""  # the live connection was closed
    s.close()
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    r = api.http.patch("/proxies/p", json={"enabled": True})
    assert r.status_code == 200 and r.json()["listen"] == f"127.0.0.1:{port}"
    with connect(port) as s2:
        s2.sendall(b"b")
        assert s2.recv(1) == b"b"


def test_update_upstream_and_listen(api: Api, echo: EchoServer) -> None:
    api.create("p", 1)
    new_port = free_port()
    r = api.post(
        "/proxies/p", {"upstream": f"127.0.0.1:{echo.port}", "listen": f"127.0.0.1:{new_port}"}
    )
    assert r.status_code == 200 and r.json()["listen"] == f"127.0.0.1:{new_port}"
    with connect(new_port) as s:
        s.sendall(b"z")
        assert s.recv(1) == b"z"


def test_delete_is_204_then_404(api: Api, echo: EchoServer) -> None:
    api.create("p", echo.port)
    r = api.delete("/proxies/p")
    assert r.status_code == 204 and r.content == b""
    r = api.get("/proxies/p")
    assert r.status_code == 404 and r.json() == {"error": "proxy not found", "status": 404}


def test_toxic_crud(api: Api, echo: EchoServer) -> None:
    api.create("p", echo.port)
    api.toxic("p", "latency", "downstream", latency=10)
    api.toxic("p", "bandwidth", "upstream", rate=100)
    listed = api.get("/proxies/p/toxics").json()
    assert [t["name"] for t in listed] == [
        "bandwidth_upstream",
        "latency_downstream",
    ]  # upstream first
    r = api.post("/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 1}})
    assert r.status_code == 409 and r.json()["error"] == "toxic already exists"
    r = api.post("/proxies/p/toxics", {"type": "latency", "stream": "both", "name": "x"})
    assert r.status_code == 400 and "stream was invalid" in r.json()["error"]
    r = api.post("/proxies/p/toxics", {"type": "warp", "name": "y"})
    assert r.status_code == 400 and "invalid toxic type" in r.json()["error"]
    # Attributes merge; toxicity is kept when omitted.
    api.post(
        "/proxies/p/toxics/latency_downstream", {"toxicity": 0.5, "attributes": {"latency": 10}}
    )
    r = api.http.patch("/proxies/p/toxics/latency_downstream", json={"attributes": {"jitter": 3}})
    assert r.status_code == 200
    assert r.json()["attributes"] == {"latency": 10, "jitter": 3} and r.json()["toxicity"] == 0.5
    assert api.get("/proxies/p/toxics/latency_downstream").json()["attributes"]["jitter"] == 3
    assert api.delete("/proxies/p/toxics/latency_downstream").status_code == 204
    assert api.get("/proxies/p/toxics/latency_downstream").status_code == 404
    assert api.delete("/proxies/p/toxics/latency_downstream").status_code == 404


def test_known_toxiproxy_bugs_are_400(api: Api, echo: EchoServer) -> None:
    api.create("p", echo.port)
    r = api.post("/proxies/p/toxics", {"type": "slicer", "attributes": {"average_size": 0}})
    assert r.status_code == 400 and "average_size" in r.json()["error"]
    r = api.post("/proxies/p/toxics", {"type": "bandwidth", "attributes": {"rate": 0}})
    assert r.status_code == 400 and "rate" in r.json()["error"]


def test_reset_reenables_and_clears_toxics(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    api.toxic("p", "latency", latency=100)
    api.post("/proxies/p", {"enabled": False})
    assert api.post("/reset").status_code == 204
    data = api.get("/proxies/p").json()
    assert data["enabled"] is True and data["toxics"] == []
    with connect(port) as s:
        s.sendall(b"r")
        assert s.recv(1) == b"r"


def test_populate_all_or_nothing_and_keeps_identical(api: Api, echo: EchoServer) -> None:
    port = api.create("keep", echo.port)
    api.toxic("keep", "latency", latency=7)
    listen = f"127.0.0.1:{port}"
    good = [
        {"name": "keep", "upstream": f"127.0.0.1:{echo.port}", "listen": listen},
        {"name": "new", "upstream": f"127.0.0.1:{echo.port}", "listen": "127.0.0.1:0"},
    ]
    bad = [*good[1:], {"name": "broken", "upstream": "nohost"}]
    r = api.post("/populate", bad)
    assert r.status_code == 400 and "new" not in api.get("/proxies").json()
    r = api.post("/populate", good)
    assert r.status_code == 201
    names = [p["name"] for p in r.json()["proxies"]]
    assert names == ["keep", "new"]
    assert [t["name"] for t in api.get("/proxies/keep/toxics").json()] == ["latency_downstream"]
    # With toxics in the body (the --config shape), they are applied.
    r = api.post(
        "/populate", [{**good[1], "toxics": [{"type": "slow_close", "attributes": {"delay": 5}}]}]
    )
    assert r.status_code == 201
    assert [t["type"] for t in api.get("/proxies/new/toxics").json()] == ["slow_close"]


def test_config_export_round_trips(api: Api, echo: EchoServer) -> None:
    api.create("p", echo.port)
    api.toxic("p", "latency", latency=3)
    exported = api.get("/config").json()
    assert exported[0]["name"] == "p" and exported[0]["toxics"][0]["attributes"]["latency"] == 3
    api.delete("/proxies/p")
    assert api.post("/populate", exported).status_code == 201
    assert api.get("/proxies/p/toxics").json()[0]["attributes"] == {"latency": 3, "jitter": 0}


def test_browser_user_agent_is_403(api: Api) -> None:
    r = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert (r.status_code, r.text) == (403, "User agent not allowed\n")  # Go's http.Error


def test_unknown_endpoint_and_method(api: Api) -> None:
    assert api.get("/nope").status_code == 404
    assert api.http.put("/proxies").status_code == 405


def test_unicode_names_work_in_paths(api: Api, echo: EchoServer) -> None:
    api.create("prøxy-ü", echo.port)
    assert api.get("/proxies/prøxy-ü").json()["name"] == "prøxy-ü"
    api.toxic("prøxy-ü", "noop", name="tøxic")
    assert api.get("/proxies/prøxy-ü/toxics/tøxic").status_code == 200


def test_connections_listing(api: Api, echo: EchoServer) -> None:
    port = api.create("p", echo.port)
    with connect(port) as s:
        s.sendall(b"x" * 1000)
        assert len(s.recv(2000)) > 0
        api.toxic("p", "latency", latency=1)
        conns = wait_until(lambda: api.get("/proxies/p/connections").json())
        assert len(conns) == 1
        c = conns[0]
        assert c["client"] == f"127.0.0.1:{s.getsockname()[1]}"
        assert c["bytes"]["upstream"] == 1000 and c["age_seconds"] >= 0
        assert c["toxics"]["downstream"] == ["latency_downstream"]
    wait_until(lambda: api.get("/proxies/p/connections").json() == [])


def test_upstream_guard_applies_to_listeners_beyond_loopback(api: Api) -> None:
    """Any upstream behind a loopback listener; an allowlisted one behind any other."""
    r = api.post("/proxies", {"name": "db", "listen": "127.0.0.1:0", "upstream": "10.1.2.3:80"})
    assert r.status_code == 201
    # Without --public-listen a listener beyond loopback is refused before any upstream
    # check (test_fp_exposure.py); with it, the allowlist applies (test_fp_behaviour.py).
    r = api.post("/proxies", {"name": "x", "listen": "192.0.2.1:0", "upstream": "10.1.2.3:80"})
    assert r.status_code == 403 and "--public-listen" in r.json()["error"]
    r = api.post("/proxies/db", {"listen": "192.0.2.1:0"})  # moving it out is checked too
    assert r.status_code == 403 and "--public-listen" in r.json()["error"]
    assert api.get("/proxies/db").json()["listen"].startswith("127.0.0.1:")
