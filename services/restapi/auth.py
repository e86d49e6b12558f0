"""Demo credentials and who a request comes from.

Bearer tokens guard writes (scope ``write``); one endpoint uses HTTP Basic for comparison.
The tokens are public on purpose: this is a lab, and docs/restapi.md lists them.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from starlette.types import Scope

from services.restapi.problems import ProblemError

REALM = "wirelab"


@dataclass(frozen=True)
class Token:
    name: str  # the client name the rate limiter and the request log use
    scopes: frozenset[str]


DEMO_TOKENS: dict[str, Token] = {
    "alice-token": Token("alice", frozenset({"read", "write"})),
    "bob-token": Token("bob", frozenset({"read"})),
    "carol-token": Token("carol", frozenset({"read", "write"})),
    "admin-token": Token("admin", frozenset({"read", "write", "admin"})),
}
BASIC_USERS: dict[str, str] = {"student": "wirelab"}


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def client_of(scope: Scope) -> str:
    """The rate-limit and log identity: a known token's name, else the peer IP.

    An unknown token counts as anonymous, so made-up tokens cannot mint fresh buckets.
    """
    token = DEMO_TOKENS.get(bearer_token(_header(scope, b"authorization")) or "")
    if token is not None:
        return token.name
    peer = scope.get("client")
    return peer[0] if peer else "unknown"


def require_scope(authorization: str | None, scope_name: str) -> Token:
    """401 with WWW-Authenticate for no/unknown token; 403 when the token lacks the scope."""
    raw = bearer_token(authorization)
    if raw is None:
        why = (
            "no Authorization header"
            if not authorization
            else "Authorization is not a Bearer token"
        )
        raise ProblemError(
            401,
            f"{why}; send 'Authorization: Bearer <token>' (demo tokens are in docs/restapi.md)",
            kind="unauthenticated",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", scope="{scope_name}"'},
        )
    token = DEMO_TOKENS.get(raw)
    if token is None:
        raise ProblemError(
            401,
            "unknown bearer token",
            kind="invalid-token",
            headers={
                "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", error_description="unknown token"'
            },
        )
    if scope_name not in token.scopes:
        raise ProblemError(
            403,
            f"token of {token.name!r} has scopes {sorted(token.scopes)}; this needs {scope_name!r}",
            kind="insufficient-scope",
            headers={
                "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope_name}"'
            },
        )
    return token


def check_basic(authorization: str | None) -> str:
    """Return the user name for valid Basic credentials, else raise a 401 challenge."""
    challenge = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise ProblemError(
            401,
            "send 'Authorization: Basic base64(user:password)'",
            kind="unauthenticated",
            headers=challenge,
        )
    try:
        user, sep, password = (
            base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            401,
            "Basic credentials are not valid base64 of UTF-8 'user:password'",
            kind="unauthenticated",
            headers=challenge,
        ) from None
    expected = BASIC_USERS.get(user)
    # compare_digest: no timing hint about how much of the password matched.
    if (
        not sep
        or expected is None
        or not secrets.compare_digest(password.encode(), expected.encode())
    ):
        raise ProblemError(
            401, "wrong user name or password", kind="unauthenticated", headers=challenge
        )
    return user
