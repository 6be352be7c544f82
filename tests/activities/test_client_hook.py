"""CLIENT_HOOK attribute resolution against a real loopback hook (the guarded client; the test settings
allow http and loopback): asked at creation, on retry and at dispatch, as its policy says."""

from __future__ import annotations

import json
from typing import Any

from conftest import World

from activities.helpers import Client, commerce, create_activity, hook_policy, ok
from app.loadtest.receiver import Receiver


async def _promotions(client: Client, actor: Any, activity_id: str) -> dict[str, Any]:
    rows = await ok(client, actor, "GET", f"/api/activities/{activity_id}/attributes")
    return next(r for r in rows if r["key"] == "promotions")


async def test_an_upfront_hook_gives_the_value_at_creation(client: Client, world: World) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"value": {"promo": "2x1"}}') as hook:
        await hook_policy(client, actor, "UPFRONT", hook.url + "/hook/")
        store = await commerce(client, actor)
        activity = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert activity["status"] == "READY"
    promo = await _promotions(client, actor, activity["id"])
    assert promo["resolutionStatus"] == "RESOLVED" and promo["value"] == {"promo": "2x1"}
    assert promo["resolverType"] == "CLIENT_HOOK"
    [request] = hook.requests
    assert request.method == "POST" and request.path == "/hook"
    sent = json.loads(request.body)
    assert sent == {
        "attributeKey": "promotions",
        "activity": {
            "id": activity["id"],
            "type": "MESSAGE",
            "channel": "WHATSAPP",
            "commerceId": store["id"],
            "commerceExternalId": "store-001",
        },
    }


async def test_a_failing_hook_fails_the_attribute_unless_a_fallback_is_given(
    client: Client, world: World
) -> None:
    actor = world.admin_a
    async with Receiver(status=500, body=b'{"value": "not from a 500"}') as hook:
        await hook_policy(client, actor, "UPFRONT", hook.url)
        store = await commerce(client, actor)
        failed = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
        rescued = await create_activity(
            client, actor, store["id"], attributes=[{"key": "promotions", "fallback": ["none"]}]
        )
        hook.status, hook.body = 200, b'["no object"]'
        odd = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert failed["status"] == "UNRESOLVED"
    promo = await _promotions(client, actor, failed["id"])
    assert promo["resolutionStatus"] == "FAILED" and "HTTP_STATUS" in promo["errorMessage"]
    assert "not from a 500" not in promo["errorMessage"]
    assert (await _promotions(client, actor, rescued["id"]))["value"] == ["none"]
    assert "`value`" in (await _promotions(client, actor, odd["id"]))["errorMessage"]


async def test_a_retry_asks_the_hook_again(client: Client, world: World) -> None:
    actor = world.admin_a
    async with Receiver(status=503) as hook:
        await hook_policy(client, actor, "UPFRONT", hook.url)
        store = await commerce(client, actor)
        activity = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
        assert activity["status"] == "UNRESOLVED"
        hook.status, hook.body = 200, b'{"value": 7}'
        retried = await ok(client, actor, "PATCH", f"/api/activities/{activity['id']}/retry-resolution")
    assert retried["status"] == "READY"
    assert (await _promotions(client, actor, activity["id"]))["value"] == 7
    assert len(hook.requests) == 2


async def test_an_on_dispatch_hook_is_asked_at_dispatch_only(client: Client, world: World) -> None:
    actor = world.admin_a
    providers = await ok(client, actor, "GET", "/api/dispatch-providers")
    mock = next(p["id"] for p in providers if p["code"] == "MOCK")
    await ok(
        client,
        actor,
        "POST",
        "/api/dispatch-configs",
        201,
        json={"dispatch_provider_id": mock, "channel": "SALESMAN"},
    )
    async with Receiver(body=b'{"value": "fresh"}') as hook:
        await hook_policy(client, actor, "ON_DISPATCH", hook.url)
        store = await commerce(client, actor)
        route = await ok(client, actor, "POST", "/api/routes", 201, json={"name": "R", "code": "R1"})
        operator = await ok(
            client, actor, "POST", "/api/operators", 201, json={"type": "SALESMAN", "name": "Op"}
        )
        await ok(
            client,
            actor,
            "POST",
            f"/api/routes/{route['id']}/operators",
            201,
            json={"operatorId": operator["id"]},
        )
        body = {
            "reason": "Visit", "channel": "SALESMAN", "commerce_id": store["id"], "idempotency_key": "hook-1",
            "assigned_route_id": route["id"], "assigned_operator_id": operator["id"],
            "scheduled_at": "2031-01-16T09:00:00.000Z", "attribute_keys": ["promotions"],
        }  # fmt: skip
        task = await ok(client, actor, "POST", "/api/activities/tasks", 201, json=body)
        assert (await _promotions(client, actor, task["id"]))["resolutionStatus"] == "PENDING"
        assert hook.requests == []
        response = await client.post(f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers())
        assert response.status_code == 204, response.text
    promo = await _promotions(client, actor, task["id"])
    assert (promo["resolutionStatus"], promo["value"]) == ("RESOLVED", "fresh")
    assert len(hook.requests) == 1
