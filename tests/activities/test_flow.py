"""The main paths end to end: create (resolved, unresolved), read, cancel, retry, results."""

from __future__ import annotations

from conftest import World

from activities.helpers import (
    Client,
    commerce,
    create_activity,
    create_task,
    events,
    ok,
    person,
    result_body,
    route_with_operator,
)


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
