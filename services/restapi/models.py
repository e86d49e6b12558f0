"""Pydantic models: what goes over the wire, and so what /openapi.json documents."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.restapi.ratelimit import MIN_REFILL_PER_S, RATE_LIMIT_GROUPS

MAX_ID = 2_147_483_647  # keeps ids inside SQLite's INTEGER and every client's int32
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# No \s: Python and ECMA (JSON Schema) regexes disagree on what counts as space (U+0085).
EMAIL_PATTERN = r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+\.[^@\x00-\x20\x7f]+$"
Name = Annotated[str, Field(min_length=1, max_length=100)]
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=EMAIL_PATTERN,
        examples=["ada@example.org"],
    ),
]
Item = Annotated[str, Field(min_length=1, max_length=200)]


def _json_number(value: Any) -> Any:
    # JSON false is not the number 0 and "5" is not 5; 5.0 is (JSON Schema calls it an
    # integer). Path and query values arrive as text, so they keep the lax ``Id``.
    if isinstance(value, bool | str | bytes):
        raise ValueError(f"must be a JSON number, not {type(value).__name__}")
    return value


JsonInt = BeforeValidator(_json_number)
# Field before the validator, or pydantic leaves ge/le unconverted in the JSON schema.
BodyId = Annotated[int, Field(ge=1, le=MAX_ID), JsonInt]
Quantity = Annotated[int, Field(ge=1, le=1000), JsonInt]
PriceCents = Annotated[int, Field(ge=0, le=100_000_000), JsonInt]
Flag = Annotated[bool, Field(strict=True)]


class OrderStatus(StrEnum):
    pending = "pending"
    paid = "paid"
    shipped = "shipped"
    cancelled = "cancelled"


class _Input(BaseModel):
    # An unknown field is a client bug worth a 422, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


class UserIn(_Input):
    """Body of POST /api/users and PUT /api/users/{id} (PUT replaces every field)."""

    name: Name
    email: Email
    active: Flag = True


# PATCH bodies: a field may be absent (unchanged) but never null, since every column is
# required; so the type is not Optional even though the default is None.


class UserPatch(_Input):
    """Body of PATCH: only the fields present change (a JSON merge)."""

    name: Name = None  # type: ignore[assignment]
    email: Email = None  # type: ignore[assignment]
    active: Flag = None  # type: ignore[assignment]


class User(BaseModel):
    id: int
    name: str
    email: str
    active: bool
    created_at: str
    updated_at: str


class OrderIn(_Input):
    user_id: BodyId
    item: Item
    quantity: Quantity = 1
    price_cents: PriceCents = 0
    status: OrderStatus = OrderStatus.pending


class OrderPatch(_Input):
    user_id: BodyId = None  # type: ignore[assignment]
    item: Item = None  # type: ignore[assignment]
    quantity: Quantity = None  # type: ignore[assignment]
    price_cents: PriceCents = None  # type: ignore[assignment]
    status: OrderStatus = None  # type: ignore[assignment]


class Order(BaseModel):
    id: int
    user_id: int
    item: str
    quantity: int
    price_cents: int
    status: OrderStatus
    created_at: str
    updated_at: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class FieldError(BaseModel):
    field: str
    reason: str
    in_: str = Field(alias="in")


class ValidationProblem(Problem):
    errors: list[FieldError]


class Health(BaseModel):
    status: str
    service: str
    users: int
    orders: int


class Identity(BaseModel):
    authenticated: bool
    user: str
    scheme: str
    scopes: list[str] = []


class RequestLogEntry(BaseModel):
    time: float
    client: str
    method: str
    path: str
    status: int
    rate_limited: bool
    duration_ms: float
    idempotency_key: str | None = None
    retry_after: int | None = None


class PolicyOut(BaseModel):
    capacity: int
    refill_per_s: float
    window_s: int


class RateLimitState(BaseModel):
    enabled: bool
    groups: dict[str, PolicyOut]


def _not_null(extra: dict[str, Any] | None = None) -> Callable[[dict[str, Any]], None]:
    """json_schema_extra for an optional field whose null the server refuses: the schema
    says the type alone (the field may still be left out)."""

    def edit(schema: dict[str, Any]) -> None:
        branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
        if branches:
            schema.update(branches[0])
        schema.pop("default", None)
        schema.update(extra or {})

    return edit


class RateLimitUpdate(_Input):
    """Body of POST /_lab/ratelimit: turn the limiter on/off and/or set one group's bucket."""

    # group, capacity and refill_per_s come together or not at all (422 otherwise).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "dependentRequired": {
                "group": ["capacity", "refill_per_s"],
                "capacity": ["group", "refill_per_s"],
                "refill_per_s": ["group", "capacity"],
            }
        },
    )

    enabled: Flag | None = None
    # No null in the schema for these three: a field given at all needs the other two.
    group: str | None = Field(
        default=None,
        examples=["api"],
        description="a route group, or * for all; with capacity and refill_per_s",
        json_schema_extra=_not_null({"enum": [*RATE_LIMIT_GROUPS, "*"]}),
    )
    # JsonInt: "5" and true are not numbers, 5.0 is (JSON Schema calls it an integer).
    capacity: Annotated[int, Field(ge=1, le=1_000_000), JsonInt] | None = Field(
        default=None, json_schema_extra=_not_null()
    )
    refill_per_s: Annotated[float, Field(ge=MIN_REFILL_PER_S, le=1_000_000), JsonInt] | None = (
        Field(
            default=None,
            description=f"tokens a second, at least {MIN_REFILL_PER_S:g} (one per {1 / MIN_REFILL_PER_S:g} s)",
            json_schema_extra=_not_null(),
        )
    )
    restore_defaults: Flag = False


class ResetResult(BaseModel):
    users: int
    orders: int
    rate_limit: RateLimitState


class Echo(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: str
    url: str
    path: str
    args: dict[str, Any]
    headers: dict[str, str]
    origin: str
