"""First checks of the integration pull: the item shape, key-only auth."""

from __future__ import annotations

from typing import Any

import msgspec
from activities.helpers import commerce, create_task, ok, route_with_operator
from conftest import World, assert_error

from app.integration.schemas import IntegrationTask


async def _key(client: Any, world: World, permissions: list[str]) -> str:
    body = {"name": "integration", "permissions": permissions}
    return (await ok(client, world.admin_a, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]


async def test_pull_item_shape(client: Any, world: World) -> None:
    store = await commerce(client, world.admin_a)
    route_id, operator_id = await route_with_operator(client, world.admin_a)
    task = await create_task(client, world.admin_a, store["id"], route_id, operator_id)
    key = await _key(client, world, ["VIEW_ACTIVITIES"])
    response = await client.get("/api/integration/activities/tasks", headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"] == {"page": 1, "limit": 20, "total": 1, "totalPages": 1}
    item = msgspec.convert(body["data"][0], IntegrationTask, strict=True)
    assert str(item.id) == task["id"]
    assert item.status == "PENDING" and item.lifecycle_status == "SCHEDULED"
    assert item.commerce_external_id == "store-001"
    bearer = await client.get("/api/integration/activities/tasks", headers=world.admin_a.headers())
    assert_error(bearer, 401)
