"""/api/orders: the same verbs as users; an order must point at an existing user (else 409)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.restapi.auth import Token
from services.restapi.http_helpers import (
    ETAG_HEADER,
    PAGE_HEADERS,
    READ_ERRORS,
    WRITE_ERRORS,
    allow_response,
    check_if_match,
    get_with_head,
    idempotency_key,
    page_params,
    paged,
    replay_if_seen,
    require_json,
    resource_response,
    store_of,
    translate_storage_errors,
    writer,
)
from services.restapi.models import Id, Order, OrderIn, OrderPatch
from services.restapi.pagination import PageRequest
from services.restapi.routes_users import IDEMPOTENCY_HEADER, ITEM_ALLOW

router = APIRouter(prefix="/api/orders", tags=["orders"])
COLLECTION_ALLOW = "GET, HEAD, POST, OPTIONS"


@get_with_head(
    router,
    "",
    response_model=list[Order],
    responses={200: {"headers": PAGE_HEADERS}, **READ_ERRORS},
    summary="List orders, a page at a time",
)
async def list_orders(request: Request, page: PageRequest = Depends(page_params)) -> Response:
    orders, total = store_of(request).list_orders(page.offset, page.per_page)
    return paged(request, orders, total, page)


@router.post(
    "",
    status_code=201,
    response_model=Order,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}, **ETAG_HEADER}},
        **WRITE_ERRORS,
    },
    summary="Create an order (needs a write token)",
)
async def create_order(
    request: Request,
    body: OrderIn,
    token: Token = Depends(writer),
    _json: None = Depends(require_json),
    key: str | None = IDEMPOTENCY_HEADER,
) -> Response:
    store = store_of(request)
    payload = body.model_dump(mode="json")
    idem = idempotency_key(request, token.name, key, payload)
    replay = replay_if_seen(store, idem)
    if replay is not None:
        return replay
    order = translate_storage_errors(lambda: store.create_order(payload, idem))
    return resource_response(request, order, 201, {"Location": f"/api/orders/{order['id']}"})


@router.options("", status_code=204, summary="Allowed methods on the collection")
async def orders_options() -> Response:
    return allow_response(COLLECTION_ALLOW)


@get_with_head(
    router,
    "/{order_id}",
    response_model=Order,
    responses={
        200: {"headers": ETAG_HEADER},
        304: {"description": "Not modified (If-None-Match)"},
        **READ_ERRORS,
    },
    summary="Read one order (ETag; If-None-Match gives 304)",
)
async def get_order(request: Request, order_id: Id) -> Response:
    store = store_of(request)
    return resource_response(request, translate_storage_errors(lambda: store.get_order(order_id)))


def _current(request: Request, order_id: int) -> dict:
    store = store_of(request)
    return translate_storage_errors(lambda: store.get_order(order_id))


@router.put("/{order_id}", response_model=Order, responses=WRITE_ERRORS, summary="Replace an order")
async def replace_order(
    request: Request,
    order_id: Id,
    body: OrderIn,
    _token: Token = Depends(writer),
    _json: None = Depends(require_json),
) -> Response:
    check_if_match(request, _current(request, order_id))
    store = store_of(request)
    order = translate_storage_errors(
        lambda: store.update_order(order_id, body.model_dump(mode="json"))
    )
    return resource_response(request, order)


@router.patch(
    "/{order_id}",
    response_model=Order,
    responses=WRITE_ERRORS,
    summary="Change some fields of an order",
)
async def patch_order(
    request: Request,
    order_id: Id,
    body: OrderPatch,
    _token: Token = Depends(writer),
    _json: None = Depends(require_json),
) -> Response:
    check_if_match(request, _current(request, order_id))
    store = store_of(request)
    changes = body.model_dump(mode="json", exclude_unset=True)
    order = translate_storage_errors(lambda: store.update_order(order_id, changes))
    return resource_response(request, order)


@router.delete("/{order_id}", status_code=204, responses=WRITE_ERRORS, summary="Delete an order")
async def delete_order(request: Request, order_id: Id, _token: Token = Depends(writer)) -> Response:
    check_if_match(request, _current(request, order_id))
    store = store_of(request)
    translate_storage_errors(lambda: store.delete_order(order_id))
    return Response(status_code=204)


@router.options(
    "/{order_id}", status_code=204, responses=READ_ERRORS, summary="Allowed methods on an order"
)
async def order_options(request: Request, order_id: Id) -> Response:
    _current(request, order_id)  # a deleted order has no options: 404
    return allow_response(ITEM_ALLOW)
