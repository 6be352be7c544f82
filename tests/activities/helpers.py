"""Shared builders for the activity tests: a commerce with people, a route with an operator, activities
and results created through the API."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import Actor
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
SCHEDULED = "2031-01-16T09:00:00.000Z"
_keys = itertools.count()


async def ok(client: Client, actor: Actor, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
    """The decoded body of a call that must answer ``status`` (None for an empty body)."""
    response = await client.request(method, url, headers=actor.headers(), **kwargs)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


TARGET_CONFIGS = "/api/activity-config/target-resolution"
# The built-in default a tenant with no config resolves with (app.activities.resolution.DEFAULT_CONFIG),
# written as a config body: tests that change "the tenant's config" create it first.
DEFAULT_CONFIG_BODY = {
    "resolution_strategy": "ON_CREATION",
    "priority": 0,
    "criteria": [{"type": "ROLE_MATCH", "config": {"role": "COMMERCE_REP"}, "priority": 0}],
}


async def first_config(client: Client, actor: Actor, **fields: Any) -> dict[str, Any]:
    """The tenant's first target-resolution config: the built-in default made explicit (``fields`` change
    it). A new tenant has none, and its first config may take priority 0."""
    body = {**DEFAULT_CONFIG_BODY, **fields}
    created: dict[str, Any] = await ok(client, actor, "POST", TARGET_CONFIGS, 201, json=body)
    return created


async def commerce(
    client: Client,
    actor: Actor,
    external_id: str = "store-001",
    *,
    roles: tuple[tuple[str, ...], ...] = (("OWNER",), ("COMMERCE_REP",)),
    **fields: Any,
) -> dict[str, Any]:
    """A commerce with one person per entry of ``roles`` (people named P0, P1, ...); its detail."""
    body = {
        "external_id": external_id,
        "name": f"Store {external_id}",
        "tax_id": f"tax-{external_id}",
        "addresses": [{"source_ref": "a1", "street": "Main", "street_number": "123", "is_primary": True}],
        "users": [
            {"external_id": f"p{n}", "name": f"P{n} Person", "roles": list(r)} for n, r in enumerate(roles)
        ],
        **fields,
    }
    return await ok(client, actor, "POST", "/api/commerces", 201, json=body)


def person(detail: dict[str, Any], external_id: str) -> str:
    """The id of the commerce's person with ``external_id``."""
    return next(u["id"] for u in detail["users"] if u["externalId"] == external_id)


async def route_with_operator(client: Client, actor: Actor, code: str = "R1") -> tuple[str, str]:
    """(route id, operator id), the operator assigned to the route."""
    route = await ok(client, actor, "POST", "/api/routes", 201, json={"name": f"Route {code}", "code": code})
    operator = await ok(
        client, actor, "POST", "/api/operators", 201, json={"type": "SALESMAN", "name": f"Op {code}"}
    )
    await ok(
        client,
        actor,
        "POST",
        f"/api/routes/{route['id']}/operators",
        201,
        json={"operatorId": operator["id"]},
    )
    return route["id"], operator["id"]


def activity_body(commerce_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "MESSAGE",
        "reason": "Monthly promotion",
        "channel": "WHATSAPP",
        "commerce_id": commerce_id,
        "idempotency_key": f"key-{next(_keys)}",
        "scheduled_at": SCHEDULED,
        **fields,
    }


async def create_activity(client: Client, actor: Actor, commerce_id: str, **fields: Any) -> dict[str, Any]:
    return await ok(client, actor, "POST", "/api/activities", 201, json=activity_body(commerce_id, **fields))


async def create_task(
    client: Client, actor: Actor, commerce_id: str, route_id: str, operator_id: str, **fields: Any
) -> dict[str, Any]:
    body = activity_body(
        commerce_id,
        channel="SALESMAN",
        assigned_route_id=route_id,
        assigned_operator_id=operator_id,
        **fields,
    )
    body.pop("type")
    return await ok(client, actor, "POST", "/api/activities/tasks", 201, json=body)


def result_body(activity: dict[str, Any] | None, status: str = "COMPLETED", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "commerce_external_id": activity["commerceAssignment"]["commerce"]["externalId"]
        if activity
        else "store-001",
        "occurred_at": "2031-01-16T14:30:00.000Z",
        "status": status,
        "task_result": {"result": "SALE_COMPLETED", "comment": "Order placed", "contact_type": "OUTBOUND"},
    }
    if activity is not None:
        body["activity_id"] = activity["id"]
    body.update(fields)
    return body


async def events(client: Client, actor: Actor, activity_id: str) -> list[dict[str, Any]]:
    return await ok(client, actor, "GET", f"/api/activities/{activity_id}/status-events")


def on_app_loop(
    client: Client, scenario: Callable[[httpx.AsyncClient], Awaitable[Any]], app: Any = None
) -> Awaitable[Any]:
    """Run ``scenario(http)`` on the app's own event loop (where its pool lives) with an httpx client
    whose requests really overlap: ``asyncio.gather`` over the AsyncTestClient would not do, its transport
    blocks on the portal, one request at a time. ``app``: an ASGI wrapper of ``client.app`` to send to."""

    async def run() -> Any:
        transport = httpx.ASGITransport(app=app or client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
            return await scenario(http)

    return asyncio.to_thread(client.blocking_portal.call, run)


async def burst(
    client: Client, url: str, headers: dict[str, str], body: dict[str, Any], n: int
) -> tuple[list[httpx.Response], int]:
    """``n`` identical POSTs fired at once; also the peak number of requests the app had in flight, to
    prove they overlapped."""
    in_flight = peak = 0

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await client.app(scope, receive, send)
        finally:
            in_flight -= 1

    async def scenario(http: httpx.AsyncClient) -> list[httpx.Response]:
        return list(await asyncio.gather(*(http.post(url, headers=headers, json=body) for _ in range(n))))

    responses = await on_app_loop(client, scenario, counting)
    return responses, peak


async def hook_policy(client: Client, actor: Actor, strategy: str, hook_url: str) -> None:
    """The tenant's policy for ``promotions``: CLIENT_HOOK at ``hook_url``, resolved per ``strategy``."""
    keys = await ok(client, actor, "GET", "/api/activity-config/attribute-keys")
    key_id = next(k["id"] for k in keys if k["key"] == "promotions")
    body = {"attribute_key_id": key_id, "resolution_strategy": strategy, "resolver_type": "CLIENT_HOOK",
            "hook_url": hook_url}  # fmt: skip
    await ok(client, actor, "POST", "/api/activity-config/attribute-policies", json=body)
