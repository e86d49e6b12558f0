"""/api/users: CRUD with pagination, ETags, Idempotency-Key on POST, HEAD and OPTIONS."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from services.restapi.auth import Token
from services.restapi.http_helpers import (
    ETAG_HEADER,
    IDEMPOTENCY_KEY,
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
from services.restapi.models import Id, Order, User, UserIn, UserPatch
from services.restapi.pagination import PageRequest

router = APIRouter(prefix="/api/users", tags=["users"])
COLLECTION_ALLOW = "GET, HEAD, POST, OPTIONS"
ITEM_ALLOW = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
IDEMPOTENCY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    pattern=IDEMPOTENCY_KEY.pattern,
    description="Retrying a POST with the same key returns the first result instead of creating a duplicate",
)


@get_with_head(
    router,
    "",
    response_model=list[User],
    responses={200: {"headers": PAGE_HEADERS}, **READ_ERRORS},
    summary="List users, a page at a time",
)
async def list_users(request: Request, page: PageRequest = Depends(page_params)) -> Response:
    users, total = store_of(request).list_users(page.offset, page.per_page)
    return paged(request, users, total, page)


@router.post(
    "",
    status_code=201,
    response_model=User,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}, **ETAG_HEADER}},
        **WRITE_ERRORS,
    },
    summary="Create a user (needs a write token)",
)
async def create_user(
    request: Request,
    body: UserIn,
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
    user = translate_storage_errors(lambda: store.create_user(payload, idem))
    return resource_response(request, user, 201, {"Location": f"/api/users/{user['id']}"})


@router.options("", status_code=204, summary="Allowed methods on the collection")
async def users_options() -> Response:
    return allow_response(COLLECTION_ALLOW)


@get_with_head(
    router,
    "/{user_id}",
    response_model=User,
    responses={
        200: {"headers": ETAG_HEADER},
        304: {"description": "Not modified (If-None-Match)"},
        **READ_ERRORS,
    },
    summary="Read one user (ETag; If-None-Match gives 304)",
)
async def get_user(request: Request, user_id: Id) -> Response:
    store = store_of(request)
    return resource_response(request, translate_storage_errors(lambda: store.get_user(user_id)))


def _current(request: Request, user_id: int) -> dict:
    store = store_of(request)
    return translate_storage_errors(lambda: store.get_user(user_id))


@router.put("/{user_id}", response_model=User, responses=WRITE_ERRORS, summary="Replace a user")
async def replace_user(
    request: Request,
    user_id: Id,
    body: UserIn,
    _token: Token = Depends(writer),
    _json: None = Depends(require_json),
) -> Response:
    check_if_match(request, _current(request, user_id))
    store = store_of(request)
    user = translate_storage_errors(
        lambda: store.update_user(user_id, body.model_dump(mode="json"))
    )
    return resource_response(request, user)


@router.patch(
    "/{user_id}",
    response_model=User,
    responses=WRITE_ERRORS,
    summary="Change some fields of a user",
)
async def patch_user(
    request: Request,
    user_id: Id,
    body: UserPatch,
    _token: Token = Depends(writer),
    _json: None = Depends(require_json),
) -> Response:
    check_if_match(request, _current(request, user_id))
    store = store_of(request)
    changes = body.model_dump(mode="json", exclude_unset=True)
    user = translate_storage_errors(lambda: store.update_user(user_id, changes))
    return resource_response(request, user)


@router.delete(
    "/{user_id}", status_code=204, responses=WRITE_ERRORS, summary="Delete a user without orders"
)
async def delete_user(request: Request, user_id: Id, _token: Token = Depends(writer)) -> Response:
    check_if_match(request, _current(request, user_id))
    store = store_of(request)
    translate_storage_errors(lambda: store.delete_user(user_id))
    return Response(status_code=204)


@router.options(
    "/{user_id}", status_code=204, responses=READ_ERRORS, summary="Allowed methods on a user"
)
async def user_options(request: Request, user_id: Id) -> Response:
    _current(request, user_id)  # a deleted user has no options: 404
    return allow_response(ITEM_ALLOW)


@get_with_head(
    router,
    "/{user_id}/orders",
    response_model=list[Order],
    responses={200: {"headers": PAGE_HEADERS}, **READ_ERRORS},
    summary="List one user's orders",
)
async def list_user_orders(
    request: Request, user_id: Id, page: PageRequest = Depends(page_params)
) -> Response:
    store = store_of(request)
    orders, total = translate_storage_errors(
        lambda: store.list_orders(page.offset, page.per_page, user_id)
    )
    return paged(request, orders, total, page)
