"""The CRUD routes /api/users and /api/orders share, registered once per resource.

Collection: GET/HEAD (pages, Link, X-Total-Count), POST (Idempotency-Key, 201 + Location),
OPTIONS. Item: GET/HEAD (ETag, If-None-Match gives 304), PUT and PATCH and DELETE
(If-Match gives 412), OPTIONS.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations,
and the body models are only known inside ``add_crud_routes``, so they must be objects
rather than strings it would try to resolve in this module's globals.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.restapi.auth import Token
from services.restapi.http_helpers import (
    E422_IDEMPOTENT,
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
from services.restapi.models import Id
from services.restapi.pagination import PageRequest
from services.restapi.storage import IdempotencyKey, Store

COLLECTION_ALLOW = "GET, HEAD, POST, OPTIONS"
ITEM_ALLOW = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
IDEMPOTENCY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    pattern=IDEMPOTENCY_KEY.pattern,
    description="Retrying a POST with the same key returns the first result instead of creating a duplicate",
)

Row = dict[str, Any]
Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Resource:
    """One collection: its names (for handler names, summaries, the path parameter),
    its models, and the Store calls behind it."""

    singular: str  # "user": handlers get_user..., path parameter user_id
    plural: str  # "users": list_users, users_options
    a_singular: str  # "a user" / "an order", for the summaries
    model: type[BaseModel]
    model_in: type[BaseModel]
    model_patch: type[BaseModel]
    list_page: Callable[[Store, int, int], tuple[list[Row], int]]
    get: Callable[[Store, int], Row]
    create: Callable[[Store, Row, IdempotencyKey | None], Row]
    update: Callable[[Store, int, Row], Row]
    delete: Callable[[Store, int], None]
    delete_summary: str

    @property
    def id_name(self) -> str:
        return f"{self.singular}_id"

    def current(self, request: Request, item_id: int) -> Row:
        """The stored item, or 404."""
        store = store_of(request)
        return translate_storage_errors(lambda: self.get(store, item_id))


def _endpoint(fn: Endpoint, name: str, id_name: str | None = None) -> Endpoint:
    """``fn`` under the handler name FastAPI derives route names and operationIds from;
    with ``id_name``, its ``item_id`` parameter is shown to FastAPI under that name, so the
    URL template, the OpenAPI parameter and validation errors say ``user_id``/``order_id``."""
    endpoint = fn
    if id_name is not None:
        signature = inspect.signature(fn)
        params = [
            p.replace(name=id_name) if p.name == "item_id" else p
            for p in signature.parameters.values()
        ]

        async def endpoint(**kwargs: Any) -> Response:
            kwargs["item_id"] = kwargs.pop(id_name)
            return await fn(**kwargs)

        endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = name
    return endpoint


def add_crud_routes(router: APIRouter, res: Resource) -> None:
    """Register the collection and item routes on ``router`` (its prefix is the collection).

    The handlers have no docstrings on purpose: FastAPI would publish them as descriptions.
    """
    item_path = f"/{{{res.id_name}}}"

    # -- collection ---------------------------------------------------------------------
    async def list_items(request: Request, page: PageRequest = Depends(page_params)) -> Response:
        items, total = res.list_page(store_of(request), page.offset, page.per_page)
        return paged(request, items, total, page)

    get_with_head(
        router,
        "",
        response_model=list[res.model],  # type: ignore[valid-type]
        responses={200: {"headers": PAGE_HEADERS}, **READ_ERRORS},
        summary=f"List {res.plural}, a page at a time",
    )(_endpoint(list_items, f"list_{res.plural}"))

    async def create_item(
        request: Request,
        body: res.model_in,  # type: ignore[valid-type]
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
        item = translate_storage_errors(lambda: res.create(store, payload, idem))
        return resource_response(request, item, 201, {"Location": f"{router.prefix}/{item['id']}"})

    router.add_api_route(
        "",
        _endpoint(create_item, f"create_{res.singular}"),
        methods=["POST"],
        status_code=201,
        response_model=res.model,
        responses={
            201: {"headers": {"Location": {"schema": {"type": "string"}}, **ETAG_HEADER}},
            **WRITE_ERRORS,
            **E422_IDEMPOTENT,
        },
        summary=f"Create {res.a_singular} (needs a write token)",
    )

    async def collection_options() -> Response:
        return allow_response(COLLECTION_ALLOW)

    router.add_api_route(
        "",
        _endpoint(collection_options, f"{res.plural}_options"),
        methods=["OPTIONS"],
        status_code=204,
        summary="Allowed methods on the collection",
    )

    # -- one item -----------------------------------------------------------------------
    async def get_item(request: Request, item_id: Id) -> Response:
        return resource_response(request, res.current(request, item_id))

    get_with_head(
        router,
        item_path,
        response_model=res.model,
        responses={
            200: {"headers": ETAG_HEADER},
            304: {"description": "Not modified (If-None-Match)"},
            **READ_ERRORS,
        },
        summary=f"Read one {res.singular} (ETag; If-None-Match gives 304)",
    )(_endpoint(get_item, f"get_{res.singular}", res.id_name))

    def update(request: Request, item_id: int, changes: Row) -> Response:
        check_if_match(request, res.current(request, item_id))
        store = store_of(request)
        item = translate_storage_errors(lambda: res.update(store, item_id, changes))
        return resource_response(request, item)

    def add_update(
        method: str, body_model: type[BaseModel], partial: bool, verb: str, summary: str
    ) -> None:
        # PUT replaces (every field sent), PATCH merges (only the fields the client set).
        async def update_item(
            request: Request,
            item_id: Id,
            body: body_model,  # type: ignore[valid-type]
            _token: Token = Depends(writer),
            _json: None = Depends(require_json),
        ) -> Response:
            return update(request, item_id, body.model_dump(mode="json", exclude_unset=partial))

        router.add_api_route(
            item_path,
            _endpoint(update_item, f"{verb}_{res.singular}", res.id_name),
            methods=[method],
            response_model=res.model,
            responses=WRITE_ERRORS,
            summary=summary,
        )

    add_update("PUT", res.model_in, False, "replace", f"Replace {res.a_singular}")
    add_update("PATCH", res.model_patch, True, "patch", f"Change some fields of {res.a_singular}")

    async def delete_item(
        request: Request, item_id: Id, _token: Token = Depends(writer)
    ) -> Response:
        check_if_match(request, res.current(request, item_id))
        store = store_of(request)
        translate_storage_errors(lambda: res.delete(store, item_id))
        return Response(status_code=204)

    router.add_api_route(
        item_path,
        _endpoint(delete_item, f"delete_{res.singular}", res.id_name),
        methods=["DELETE"],
        status_code=204,
        responses=WRITE_ERRORS,
        summary=res.delete_summary,
    )

    async def item_options(request: Request, item_id: Id) -> Response:
        res.current(request, item_id)  # a deleted item has no options: 404
        return allow_response(ITEM_ALLOW)

    router.add_api_route(
        item_path,
        _endpoint(item_options, f"{res.singular}_options", res.id_name),
        methods=["OPTIONS"],
        status_code=204,
        responses=READ_ERRORS,
        summary=f"Allowed methods on {res.a_singular}",
    )
