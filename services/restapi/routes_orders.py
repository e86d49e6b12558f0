"""/api/orders: the same verbs as users; an order must point at an existing user (else 409)."""

from __future__ import annotations

from fastapi import APIRouter

from services.restapi.crud import Resource, add_crud_routes
from services.restapi.models import Order, OrderIn, OrderPatch
from services.restapi.storage import Store

router = APIRouter(prefix="/api/orders", tags=["orders"])
ORDERS = Resource(
    singular="order",
    plural="orders",
    a_singular="an order",
    model=Order,
    model_in=OrderIn,
    model_patch=OrderPatch,
    list_page=Store.list_orders,
    get=Store.get_order,
    create=Store.create_order,
    update=Store.update_order,
    delete=Store.delete_order,
    delete_summary="Delete an order",
)
add_crud_routes(router, ORDERS)
