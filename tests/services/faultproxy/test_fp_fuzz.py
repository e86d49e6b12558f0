"""Property-based fuzzing of the API: bad input always gets a 4xx JSON error, never a 500
or a crash (malformed JSON, wrong types, negative and huge numbers, unknown toxic types,
unicode names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.services.faultproxy.fp_support import Api, EchoServer, faultproxy_process

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 1e300, -1e-300, 0.5]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
toxic_types = st.sampled_from(
    [
        "latency",
        "bandwidth",
        "slicer",
        "timeout",
        "reset_peer",
        "slow_close",
        "limit_data",
        "noop",
        "loss",
        "LATENCY",
        "",
        "💥",
    ]
)
attr_names = st.sampled_from(
    [
        "latency",
        "jitter",
        "rate",
        "average_size",
        "size_variation",
        "delay",
        "timeout",
        "bytes",
        "Latency",
        "x",
    ]
)
toxic_bodies = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(toxic_types, json_values),
        "name": st.one_of(st.text(max_size=20), json_values),
        "stream": st.one_of(
            st.sampled_from(["upstream", "downstream", "Upstream", "sideways", ""]), json_values
        ),
        "toxicity": st.one_of(numbers, json_values),
        "attributes": st.one_of(
            st.dictionaries(attr_names, st.one_of(numbers, json_values), max_size=4), json_values
        ),
    },
)
proxy_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=20), json_values),
        "upstream": st.one_of(
            st.sampled_from(["127.0.0.1:1", "localhost:9", "[::1]:5", "8.8.8.8:53", "x:y", ""]),
            st.text(max_size=20),
            json_values,
        ),
        "listen": st.one_of(
            st.sampled_from(["127.0.0.1:0", "localhost:0", "nope", "127.0.0.1:99999"]), json_values
        ),
        "enabled": st.one_of(st.booleans(), json_values),
        "protocol": st.one_of(st.sampled_from(["tcp", "udp", "sctp"]), json_values),
        "toxics": st.one_of(st.lists(toxic_bodies, max_size=2), json_values),
    },
)
raw_bodies = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def fp() -> Iterator[Api]:
    echo = EchoServer()
    with faultproxy_process() as (api, _proc):
        r = api.post(
            "/proxies",
            {"name": "fz", "upstream": f"127.0.0.1:{echo.port}", "listen": "127.0.0.1:0"},
        )
        assert r.status_code == 201
        api.toxic("fz", "noop", name="t")
        yield api
    echo.close()


# Toxiproxy's populate errors also carry "proxies" (those created before the error).
POPULATE_ERROR_KEYS = frozenset({"error", "status", "proxies"})


def check(r, api: Api, keys: frozenset[str] = frozenset({"error", "status"})) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == keys and body["status"] == r.status_code
        assert isinstance(body["error"], str) and body["error"]
    # Keep the fixture proxy and its toxic; drop what the example created.
    for name in list(api.get("/proxies").json()):
        if name != "fz":
            api.delete(f"/proxies/{quote(name, safe='')}")
    if api.get("/proxies/fz/toxics/t").status_code == 404:
        api.toxic("fz", "noop", name="t")


@FUZZ
@given(body=proxy_bodies)
def test_create_proxy_never_500(fp: Api, body: dict) -> None:
    check(fp.post("/proxies", body), fp)


@FUZZ
@given(body=st.one_of(st.lists(proxy_bodies, max_size=3), json_values))
def test_populate_never_500(fp: Api, body: object) -> None:
    check(fp.post("/populate", body), fp, POPULATE_ERROR_KEYS)


@FUZZ
@given(body=toxic_bodies)
def test_add_toxic_never_500(fp: Api, body: dict) -> None:
    r = fp.post("/proxies/fz/toxics", body)
    if r.status_code == 200:
        fp.delete(f"/proxies/fz/toxics/{quote(r.json()['name'], safe='')}")
    check(r, fp)


@FUZZ
@given(body=toxic_bodies)
def test_update_toxic_never_500(fp: Api, body: dict) -> None:
    check(fp.post("/proxies/fz/toxics/t", body), fp)


@FUZZ
@given(
    raw=raw_bodies,
    path=st.sampled_from(["/proxies", "/populate", "/proxies/fz/toxics", "/proxies/fz/toxics/t"]),
)
def test_raw_bodies_never_500(fp: Api, raw: bytes, path: str) -> None:
    keys = POPULATE_ERROR_KEYS if path == "/populate" else frozenset({"error", "status"})
    check(fp.http.post(path, content=raw), fp, keys)


@FUZZ
@given(name=st.text(min_size=1, max_size=30), method=st.sampled_from(["GET", "DELETE", "POST"]))
def test_unicode_paths_never_500(fp: Api, name: str, method: str) -> None:
    for path in (f"/proxies/{quote(name, safe='')}", f"/proxies/fz/toxics/{quote(name, safe='')}"):
        if name in ("fz", "t"):
            continue
        check(
            fp.http.request(method, path, json={"enabled": True} if method == "POST" else None), fp
        )


def test_server_survives_the_fuzzing(fp: Api) -> None:
    assert fp.get("/healthz").status_code == 200
    assert fp.get("/proxies/fz").json()["enabled"] in (True, False)
