"""/api/users: CRUD with pagination, ETags, Idempotency-Key on POST, HEAD and OPTIONS."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.restapi.crud import Resource, add_crud_routes
from services.restapi.http_helpers import (
    PAGE_HEADERS,
    READ_ERRORS,
    get_with_head,
    page_params,
    paged,
    store_of,
    translate_storage_errors,
)
from services.restapi.models import Id, Order, User, UserIn, UserPatch
from services.restapi.pagination import PageRequest
from services.restapi.storage import Store

router = APIRouter(prefix="/api/users", tags=["users"])
USERS = Resource(
    singular="user",
    plural="users",
    a_singular="a user",
    model=User,
    model_in=UserIn,
    model_patch=UserPatch,
    list_page=Store.list_users,
    get=Store.get_user,
    create=Store.create_user,
    update=Store.update_user,
    delete=Store.delete_user,
    delete_summary="Delete a user without orders",
)
add_crud_routes(router, USERS)


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
