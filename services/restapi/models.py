"""Pydantic models: what goes over the wire, and so what /openapi.json documents."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2_147_483_647  # keeps ids inside SQLite's INTEGER and every client's int32
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["ada@example.org"])
]
Item = Annotated[str, Field(min_length=1, max_length=200)]
Quantity = Annotated[int, Field(ge=1, le=1000)]
PriceCents = Annotated[int, Field(ge=0, le=100_000_000)]


class OrderStatus(str, Enum):
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
    active: bool = True


class UserPatch(_Input):
    """Body of PATCH: only the fields present change (a JSON merge)."""

    name: Name | None = None
    email: Email | None = None
    active: bool | None = None


class User(BaseModel):
    id: int
    name: str
    email: str
    active: bool
    created_at: str
    updated_at: str


class OrderIn(_Input):
    user_id: Id
    item: Item
    quantity: Quantity = 1
    price_cents: PriceCents = 0
    status: OrderStatus = OrderStatus.pending


class OrderPatch(_Input):
    user_id: Id | None = None
    item: Item | None = None
    quantity: Quantity | None = None
    price_cents: PriceCents | None = None
    status: OrderStatus | None = None


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


class PolicyOut(BaseModel):
    capacity: int
    refill_per_s: float
    window_s: int


class RateLimitState(BaseModel):
    enabled: bool
    groups: dict[str, PolicyOut]


class RateLimitUpdate(_Input):
    """Body of POST /_lab/ratelimit: turn the limiter on/off and/or set one group's bucket."""

    enabled: bool | None = None
    group: str | None = Field(default=None, examples=["api"])
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    refill_per_s: float | None = Field(default=None, gt=0, le=1_000_000)
    restore_defaults: bool = False


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
