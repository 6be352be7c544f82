"""The main paths end to end: create (resolved, unresolved), read, cancel, retry, results."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import World

from activities.helpers import (
    Client,
    commerce,
    create_activity,
    create_task,
    events,
    first_config,
    ok,
    person,
    result_body,
    route_with_operator,
)
from app.errors import NotFound


async def test_task_is_created_resolved_and_completed_by_a_result(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, metadata={"promotions": [{"sku": "A1"}]})
    route_id, operator_id = await route_with_operator(client, actor)
    task = await create_task(
        client, actor, store["id"], route_id, operator_id, attribute_keys=["commerce_info", "promotions"]
    )
    assert task["status"] == "READY"
    assert task["taskDetails"]["route"]["name"] == "Route R1"
    assert task["reason"] == {"code": "Monthly promotion", "label": "Monthly promotion"}
    assert await ok(client, actor, "GET", f"/api/activities/{task['id']}") == task
    targets = await ok(client, actor, "GET", f"/api/activities/{task['id']}/target-users")
    assert [(t["resolutionStatus"], t["lockReason"], t["commerceUserId"]) for t in targets] == [
        ("LOCKED", "CRITERIA_MATCH", person(store, "p1"))
    ]
    attrs = await ok(client, actor, "GET", f"/api/activities/{task['id']}/attributes")
    by_key = {a["key"]: a for a in attrs}
    assert by_key["commerce_info"]["value"] == {
        "name": "Store store-001",
        "externalId": "store-001",
        "taxId": "tax-store-001",
        "address": "Main 123",
    }
    assert by_key["promotions"]["value"] == [{"sku": "A1"}]
    result = await ok(client, actor, "POST", "/api/activity-results/tasks", 201, json=result_body(task))
    assert result["source"] == "RETEN_ACTIVITY" and result["taskResult"]["result"] == "SALE_COMPLETED"
    assert (await ok(client, actor, "GET", f"/api/activities/{task['id']}"))["status"] == "COMPLETED"
    assert [
        (e["eventType"], e["fromStatus"], e["toStatus"]) for e in await events(client, actor, task["id"])
    ] == [
        ("CREATED", None, "READY"),
        ("RESULT_RECEIVED", "READY", "COMPLETED"),
    ]


async def test_unresolved_then_retry_after_fixing_the_commerce(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, roles=(("FINANCE",),))
    activity = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert activity["status"] == "UNRESOLVED"
    kinds = [e["eventType"] for e in await events(client, actor, activity["id"])]
    assert kinds == ["CREATED", "RESOLUTION_FAILED"]
    again = await ok(client, actor, "PATCH", f"/api/activities/{activity['id']}/retry-resolution")
    assert again["status"] == "UNRESOLVED"
    await ok(client, actor, "PATCH", f"/api/commerces/{store['id']}", json={"metadata": {"promotions": []}})
    await ok(
        client,
        actor,
        "POST",
        f"/api/commerces/{store['id']}/users/{person(store, 'p0')}/roles",
        201,
        json={"role": "OWNER"},
    )
    fixed = await ok(client, actor, "PATCH", f"/api/activities/{activity['id']}/retry-resolution")
    assert fixed["status"] == "READY"
    kinds = [e["eventType"] for e in await events(client, actor, activity["id"])]
    assert kinds == ["CREATED", "RESOLUTION_FAILED", "RESOLUTION_RETRY_FAILED", "RESOLUTION_RETRY_SUCCESS"]
    await ok(client, actor, "PATCH", f"/api/activities/{activity['id']}/cancel", 204, json={"reason": "dup"})
    final = await ok(client, actor, "GET", f"/api/activities/{activity['id']}")
    assert final["status"] == "CANCELED" and final["cancelReason"] == "dup"
    response = await client.patch(f"/api/activities/{activity['id']}/cancel", headers=actor.headers())
    assert response.status_code == 400, response.text


async def dispatch_resolution(app_pool: Any, tenant: Any, activity_id: str) -> bool:
    """What the dispatcher calls just before sending an activity (its own transaction, as reten_app)."""
    from app.activities.resolve import resolve_for_dispatch
    from app.db import Tx, open_transaction

    async with app_pool.acquire() as conn:
        await open_transaction(conn, readonly=False, tenant_id=tenant)
        try:
            ready = await resolve_for_dispatch(Tx(conn, tenant), uuid.UUID(activity_id))
        except BaseException:
            await conn.execute("rollback")
            raise
        await conn.execute("commit")
        return ready


async def test_on_dispatch_resolution_is_left_for_the_dispatcher(
    client: Client, world: World, app_pool: Any
) -> None:
    actor = world.admin_a
    await first_config(client, actor, resolution_strategy="ON_DISPATCH")
    keys = {k["key"]: k["id"] for k in await ok(client, actor, "GET", "/api/activity-config/attribute-keys")}
    policy = {
        "attribute_key_id": keys["promotions"],
        "resolution_strategy": "ON_DISPATCH",
        "resolver_type": "INTERNAL_SERVICE",
    }
    await ok(client, actor, "POST", "/api/activity-config/attribute-policies", json=policy)
    good = await commerce(client, actor, "s-good", metadata={"promotions": ["p"]})
    bad = await commerce(client, actor, "s-bad", roles=(("FINANCE",),))
    ready = await create_activity(client, actor, good["id"], attribute_keys=["promotions"])
    doomed = await create_activity(client, actor, bad["id"], attribute_keys=["promotions"])
    for activity in (ready, doomed):
        assert activity["status"] == "READY"
        (target,) = await ok(client, actor, "GET", f"/api/activities/{activity['id']}/target-users")
        assert (target["resolutionStatus"], target["resolutionStrategy"]) == ("PENDING", "ON_DISPATCH")
        (attribute,) = await ok(client, actor, "GET", f"/api/activities/{activity['id']}/attributes")
        assert (attribute["resolutionStatus"], attribute["resolverType"]) == ("PENDING", None)

    assert await dispatch_resolution(app_pool, world.tenant_a, ready["id"]) is True
    (target,) = await ok(client, actor, "GET", f"/api/activities/{ready['id']}/target-users")
    assert (target["resolutionStatus"], target["lockReason"]) == ("LOCKED", "CRITERIA_MATCH")
    (attribute,) = await ok(client, actor, "GET", f"/api/activities/{ready['id']}/attributes")
    assert (attribute["resolutionStatus"], attribute["value"]) == ("RESOLVED", ["p"])

    assert await dispatch_resolution(app_pool, world.tenant_a, doomed["id"]) is False
    assert (await ok(client, actor, "GET", f"/api/activities/{doomed['id']}"))["status"] == "UNRESOLVED"
    last = (await events(client, actor, doomed["id"]))[-1]
    assert (last["eventType"], last["fromStatus"], last["toStatus"]) == (
        "RESOLUTION_FAILED",
        "READY",
        "UNRESOLVED",
    )
    assert "promotions" in last["errorMessage"] and "target user" in last["errorMessage"]
    # Another tenant's activity is simply not there.
    with pytest.raises(NotFound):
        await dispatch_resolution(app_pool, world.tenant_b, ready["id"])
