"""Sans-I/O pieces with no server: token bucket (fake clock), headers, ranges, links, ETags."""

from __future__ import annotations

import random
import re

import pytest

from services.restapi.conditional import etag_for, match_fails, none_match
from services.restapi.openapi_doc import as_openapi_30
from services.restapi.pagination import PageRequest, last_page, link_header
from services.restapi.practice_logic import (
    CODES_PATTERN,
    ByteRange,
    RangeNotSatisfiable,
    choose_code,
    drip_chunks,
    parse_range,
    parse_weighted_codes,
    range_body,
    seeded_bytes,
)
from services.restapi.ratelimit import Policy, RateLimiter, parse_policy_spec
from services.restapi.ratelimit_middleware import route_group
from services.restapi.settings import parse_settings


def limiter(capacity: int = 5, refill: float = 1.0) -> RateLimiter:
    return RateLimiter({"api": Policy(capacity, refill)})


def test_bucket_allows_capacity_then_refuses_with_honest_retry_after() -> None:
    rl = limiter(5, 1.0)
    decisions = [rl.check("api", "alice", 100.0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after_s == 1
    # Waiting exactly Retry-After gets through; a hair less does not.
    assert not rl.check("api", "alice", 100.0 + 0.999).allowed
    assert rl.check("api", "alice", 100.0 + refused.retry_after_s).allowed


def test_retry_after_rounds_up_for_slow_refill() -> None:
    rl = limiter(2, 0.4)  # one token every 2.5 s
    rl.check("api", "c", 0.0)
    rl.check("api", "c", 0.0)
    refused = rl.check("api", "c", 0.0)
    assert (refused.allowed, refused.retry_after_s) == (False, 3)
    assert not rl.check("api", "c", 2.4).allowed
    assert rl.check("api", "c", 2.5).allowed


def test_buckets_are_per_client_and_group_and_refill_caps_at_capacity() -> None:
    rl = RateLimiter({"api": Policy(2, 1.0), "practice": Policy(1, 1.0)})
    assert rl.check("api", "a", 0).allowed and rl.check("api", "a", 0).allowed
    assert not rl.check("api", "a", 0).allowed
    assert rl.check("api", "b", 0).allowed
    assert rl.check("practice", "a", 0).allowed
    assert rl.check("other", "a", 0) is None  # unlimited group
    d = rl.check("api", "a", 1000.0)  # long idle: back to capacity, not beyond
    assert d.remaining == 1


def test_headers_follow_the_draft_and_the_x_ratelimit_convention() -> None:
    rl = limiter(5, 1.0)
    for _ in range(5):
        d = rl.check("api", "x", 10.0)
    h = dict(d.headers(wall_now=1_700_000_000.2))
    assert h["RateLimit-Policy"] == '"api";q=5;w=5'
    assert h["RateLimit"] == '"api";r=0;t=5'
    assert h["X-RateLimit-Limit"] == "5"
    assert h["X-RateLimit-Remaining"] == "0"
    assert h["X-RateLimit-Reset"] == "1700000006"
    assert "Retry-After" not in h
    refused = dict(rl.check("api", "x", 10.5).headers(0.0))
    assert refused["Retry-After"] == "1"
    assert refused["RateLimit"] == '"api";r=0;t=5'


def test_set_policy_and_disable() -> None:
    rl = limiter(1, 1.0)
    rl.check("api", "x", 0)
    rl.set_policy("api", Policy(3, 1.0))
    assert rl.check("api", "x", 0).remaining == 2
    rl.enabled = False
    assert rl.check("api", "x", 0) is None
    rl.enabled = True
    rl.prune(10_000.0)
    assert rl.buckets == {}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("api", "GROUP=CAPACITY/REFILL_PER_S"),
        ("api=5", "missing '/REFILL_PER_S'"),
        ("api=x/1", "CAPACITY must be an integer"),
        ("api=0/1", "capacity must be at least 1"),
        ("api=5/0", "refill must be a positive number"),
        ("api=5/nan", "refill must be a positive number"),
        ("API=5/1", "GROUP=CAPACITY/REFILL_PER_S"),
    ],
)
def test_policy_spec_errors_name_the_cause(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("/", "/")):
        parse_policy_spec(spec)


def test_policy_spec_ok() -> None:
    assert parse_policy_spec("practice=10/2.5") == ("practice", Policy(10, 2.5))


def test_settings_from_flags_and_env(tmp_path) -> None:
    env = {"WIRELAB_RESTAPI_RATE_LIMIT": "api=5/1", "WIRELAB_RESTAPI_PORT": "18123"}
    s = parse_settings(["--state-dir", str(tmp_path), "--rate-limit", "practice=7/2"], env)
    assert (s.port, s.policies["api"], s.policies["practice"]) == (
        18123,
        Policy(5, 1.0),
        Policy(7, 2.0),
    )
    assert s.rate_limit_enabled
    s = parse_settings(["--state-dir", str(tmp_path)], {"WIRELAB_RESTAPI_NO_RATE_LIMIT": "1"})
    assert not s.rate_limit_enabled


def test_settings_reject_unknown_group(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_settings(["--state-dir", str(tmp_path), "--rate-limit", "nope=1/1"], {})
    assert exc.value.code == 2
    assert "unknown group 'nope'" in capsys.readouterr().err


def test_settings_reject_bad_log_level_env(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--state-dir", str(tmp_path)], {"WIRELAB_LOG_LEVEL": "loud"})
    assert (
        "WIRELAB_LOG_LEVEL must be one of debug, info, warning, error, got 'loud'"
        in capsys.readouterr().err
    )
    assert (
        parse_settings(["--state-dir", str(tmp_path)], {"WIRELAB_LOG_LEVEL": "DEBUG"}).log_level
        == "debug"
    )


def test_route_groups() -> None:
    assert route_group("/api/users/1") == "api"
    assert route_group("/status/200") == "practice"
    assert route_group("/auth/basic") == "practice"
    for exempt in ("/_lab/requests", "/healthz", "/docs", "/openapi.json", "/ws/chat"):
        assert route_group(exempt) is None


def test_weighted_codes() -> None:
    assert parse_weighted_codes("200") == [(200, 1.0)]
    assert parse_weighted_codes("200:3, 500:1") == [(200, 3.0), (500, 1.0)]
    for bad, why in [
        ("abc", "not CODE"),
        ("100", "outside 200-599"),
        ("200:0", "more than 0"),
        ("200:0.0,500:1", "more than 0"),
        ("200:-1", "decimal number"),
        ("200:1e3", "decimal number"),
        ("200:inf", "decimal number"),
        ("0" * 100, "not CODE"),
        ("0200", "not CODE"),
        ("\u0662\u0660\u0660", "not CODE"),  # Arabic-Indic digits: int() takes them
        ("200,\t500", "not CODE"),
        ("200," * 20 + "200", "at most 20"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_weighted_codes(bad)
        assert not re.fullmatch(CODES_PATTERN, bad)  # the published pattern agrees
    for good in ["200", " 200:3 , 500:.5 ", "599:00.5", "200," * 19 + "200"]:
        parse_weighted_codes(good)
        assert re.fullmatch(CODES_PATTERN, good)
    rng = random.Random(1)
    picks = [choose_code([(200, 3), (500, 1)], rng) for _ in range(4000)]
    assert 0.70 < picks.count(200) / len(picks) < 0.80


@pytest.mark.parametrize(
    "header, expected",
    [
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=90-", ByteRange(90, 99)),
        ("bytes=-5", ByteRange(95, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=50-5000", ByteRange(50, 99)),
        ("bytes=0-1,5-6", None),  # multiple ranges: whole body is allowed
        ("items=0-1", None),
        ("bytes=5-1", None),
        ("bytes=a-b", None),
        (None, None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


def test_range_not_satisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-0", 100)


def test_bytes_and_drip_schedule() -> None:
    assert range_body(30) == b"abcdefghijklmnopqrstuvwxyzabcd"
    assert seeded_bytes(16, 7) == seeded_bytes(16, 7) != seeded_bytes(16, 8)
    chunks = drip_chunks(250, 2.0)
    assert sum(n for _, n in chunks) == 250 and len(chunks) == 100
    assert sum(p for p, _ in chunks) == pytest.approx(2.0)
    assert drip_chunks(0, 2.0) == []


def test_link_header_keeps_other_params() -> None:
    link = link_header(
        "http://h/api/users", [("q", "x"), ("page", "2")], PageRequest(2, 3), total=7
    )
    assert link == (
        '<http://h/api/users?q=x&page=3&per_page=3>; rel="next", '
        '<http://h/api/users?q=x&page=1&per_page=3>; rel="prev", '
        '<http://h/api/users?q=x&page=1&per_page=3>; rel="first", '
        '<http://h/api/users?q=x&page=3&per_page=3>; rel="last"'
    )
    assert last_page(0, 20) == 1


def test_conditional_rules() -> None:
    tag = etag_for(b"{}")
    assert none_match(tag, tag) and none_match(f'"x", W/{tag}', tag) and none_match("*", tag)
    assert not none_match('"other"', tag) and not none_match(None, tag)
    assert not match_fails(None, tag) and not match_fails(tag, tag) and not match_fails("*", tag)
    assert match_fails('"other"', tag) and match_fails(f"W/{tag}", tag) and match_fails("*", None)


def test_openapi_30_downgrade() -> None:
    spec = {
        "openapi": "3.1.0",
        "components": {
            "schemas": {
                "A": {"anyOf": [{"type": "string"}, {"type": "null"}], "examples": ["x"]},
                "B": {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]},
                "C": {"type": "number", "exclusiveMinimum": 0},
                "D": {"const": "k"},
            }
        },
    }
    out = as_openapi_30(spec)
    s = out["components"]["schemas"]
    assert out["openapi"] == "3.0.3"
    assert s["A"] == {"type": "string", "nullable": True, "example": "x"}
    assert s["B"] == {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True}
    assert s["C"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert s["D"] == {"enum": ["k"]}
