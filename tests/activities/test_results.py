"""POST /api/activity-results/tasks (CONTRACT.md §6): both body revisions, matching by activity id, by
provider id and the STANDALONE path, result-type rules, the status mapping and its event, the terminal-
result rule and hard_override, permissions, tenants, API keys, bad input and atomicity."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from citus_mode import CITUS
from conftest import Actor, World, add_user, assert_error
from httpx import Response

from activities.helpers import (
    Client,
    commerce,
    create_activity,
    create_task,
    events,
    ok,
    result_body,
    route_with_operator,
)

URL = "/api/activity-results/tasks"
INTEGRATION_URL = "/api/integration/activity-results/tasks"
OCCURRED = "2031-01-16T14:30:00.000Z"
RESULT_KEYS = {
    "id", "activityId", "commerceId", "source", "status", "externalStatus", "providerActivityId",
    "occurredAt", "taskResult", "createdAt", "updatedAt",
}  # fmt: skip
TASK_RESULT_KEYS = {"result", "comment", "contactType", "operatorExternalId", "futureScheduledAt", "payload"}


# ---------------------------------------------------------------------------------------------------
# Local helpers
# ---------------------------------------------------------------------------------------------------
async def new_task(
    client: Client, actor: Actor, external_id: str = "store-001", *, roles: tuple[tuple[str, ...], ...] = ()
) -> dict[str, Any]:
    """A TASK on a new commerce (READY by default; UNRESOLVED when ``roles`` leaves nobody to target)."""
    store = await commerce(client, actor, external_id, **({"roles": roles} if roles else {}))
    route_id, operator_id = await route_with_operator(client, actor, f"R-{external_id}")
    return await create_task(client, actor, store["id"], route_id, operator_id)


async def submit(client: Client, actor: Actor, body: dict[str, Any]) -> Response:
    return await client.post(URL, headers=actor.headers(), json=body)


async def status_of(client: Client, actor: Actor, activity_id: str) -> str:
    return (await ok(client, actor, "GET", f"/api/activities/{activity_id}"))["status"]


async def stored(app_pool: asyncpg.Pool, tenant: uuid.UUID | None) -> list[dict[str, Any]]:
    """The tenant's result rows, read as the application role."""
    assert tenant is not None
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        rows = await conn.fetch(
            "select id, activity_id, commerce_id, source, status, result, provider_activity_id"
            " from app.activity_results order by created_at, id"
        )
    return [dict(r) for r in rows]


async def set_provider_id(owner_pool: asyncpg.Pool, tenant: uuid.UUID, activity_id: str, value: str) -> None:
    """Setup only: what the dispatcher (a later issue) will do."""
    async with owner_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        await conn.execute(
            "update app.activities set provider_activity_id = $1 where id = $2", value, uuid.UUID(activity_id)
        )


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def flat_body(activity: dict[str, Any] | None, status: str = "COMPLETED", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "commerceExternalId": "store-001",
        "status": status,
        "resultTypeCode": "SALE_COMPLETED",
        "occurredAt": OCCURRED,
    }
    if activity is not None:
        body["activityId"] = activity["id"]
        body["commerceExternalId"] = activity["commerceAssignment"]["commerce"]["externalId"]
    body.update(fields)
    return body


async def type_id(client: Client, actor: Actor, code: str) -> str:
    types = await ok(client, actor, "GET", "/api/activity-config/task-result-types")
    return next(t["id"] for t in types if t["code"] == code)


async def assert_rejected(
    client: Client,
    actor: Actor,
    app_pool: asyncpg.Pool,
    task: dict[str, Any],
    body: dict[str, Any],
    status: int,
) -> dict[str, Any]:
    """The result is refused with ``status`` and nothing changed: rows, activity status, events."""
    rows = await stored(app_pool, actor.tenant_id)
    before_status = await status_of(client, actor, task["id"])
    before_events = await events(client, actor, task["id"])
    error = assert_error(await submit(client, actor, body), status)
    assert await stored(app_pool, actor.tenant_id) == rows
    assert await status_of(client, actor, task["id"]) == before_status
    assert await events(client, actor, task["id"]) == before_events
    return error


# ---------------------------------------------------------------------------------------------------
# Both body revisions
# ---------------------------------------------------------------------------------------------------
async def test_nested_body_answers_the_stored_result(client: Client, world: World) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    body = result_body(
        task,
        occurred_at="2031-01-16T16:30:00+02:00",
        external_status="DONE_BY_PROVIDER",
        raw_payload={"provider": {"id": 7}},
    )
    body["task_result"].update(operator_external_id="op-9", payload={"order": {"lines": 3}})
    response = await submit(client, actor, body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert set(result) == RESULT_KEYS and set(result["taskResult"]) == TASK_RESULT_KEYS
    uuid.UUID(result["id"])
    assert result["activityId"] == task["id"]
    assert result["commerceId"] == task["commerceAssignment"]["commerceId"]
    assert result["source"] == "RETEN_ACTIVITY" and result["status"] == "COMPLETED"
    assert result["externalStatus"] == "DONE_BY_PROVIDER" and result["providerActivityId"] is None
    assert result["occurredAt"] == OCCURRED  # UTC, milliseconds, Z
    assert result["taskResult"] == {
        "result": "SALE_COMPLETED",
        "comment": "Order placed",
        "contactType": "OUTBOUND",
        "operatorExternalId": "op-9",
        "futureScheduledAt": None,
        "payload": {"order": {"lines": 3}},
    }
    assert result["createdAt"].endswith("Z") and result["updatedAt"].endswith("Z")
    assert await status_of(client, actor, task["id"]) == "COMPLETED"


async def test_flat_camel_case_revision(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    body = flat_body(
        task,
        "TRANSFERRED",
        resultTypeCode="NOT_INTERESTED",
        comment="Call back never",
        contactDirection="INBOUND",
        operatorExternalId="op-1",
        rawPayload={"x": 1},
        hardOverride=False,
    )
    response = await submit(client, actor, body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert set(result) == RESULT_KEYS and set(result["taskResult"]) == TASK_RESULT_KEYS
    assert result["activityId"] == task["id"] and result["source"] == "RETEN_ACTIVITY"
    assert result["status"] == "TRANSFERRED" and result["occurredAt"] == OCCURRED
    assert result["taskResult"] == {
        "result": "NOT_INTERESTED",
        "comment": "Call back never",
        "contactType": "INBOUND",
        "operatorExternalId": "op-1",
        "futureScheduledAt": None,
        "payload": None,
    }
    assert await status_of(client, actor, task["id"]) == "COMPLETED"
    rows = await stored(app_pool, world.tenant_a)
    assert [(str(r["activity_id"]), r["result"]) for r in rows] == [(task["id"], "NOT_INTERESTED")]


async def test_flat_revision_by_provider_id_is_standalone(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    body = flat_body(None, providerActivityId="ext-flat")
    result = await ok(client, actor, "POST", URL, 201, json=body)
    assert result["source"] == "STANDALONE" and result["activityId"] is None
    assert result["commerceId"] == store["id"] and result["providerActivityId"] == "ext-flat"


# ---------------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------------
async def test_activity_id_or_provider_id_is_required(client: Client, world: World) -> None:
    actor = world.admin_a
    await commerce(client, actor)
    assert_error(await submit(client, actor, result_body(None)), 400)
    assert_error(await submit(client, actor, flat_body(None)), 400)


async def test_unknown_or_other_tenants_activity_id_is_404(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    unknown = result_body(task, activity_id=str(uuid.uuid4()))
    assert_error(await submit(client, actor, unknown), 404)
    assert_error(await submit(client, actor, flat_body(task, activityId=str(uuid.uuid4()))), 404)
    # Tenant B has a commerce with the same external id: the activity id alone must not be found.
    await commerce(client, world.admin_b)
    assert_error(await submit(client, world.admin_b, result_body(task)), 404)
    assert_error(await submit(client, world.admin_b, flat_body(task)), 404)
    assert await stored(app_pool, world.tenant_a) == [] and await stored(app_pool, world.tenant_b) == []
    assert await status_of(client, actor, task["id"]) == "READY"
    assert [e["eventType"] for e in await events(client, actor, task["id"])] == ["CREATED"]


async def test_provider_id_without_match_is_a_standalone_result(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    body = result_body(None, provider_activity_id="ext-404")
    result = await ok(client, actor, "POST", URL, 201, json=body)
    assert result["source"] == "STANDALONE" and result["activityId"] is None
    assert result["commerceId"] == store["id"] and result["providerActivityId"] == "ext-404"
    assert result["taskResult"]["result"] == "SALE_COMPLETED"
    # Standalone results are not "the" result of an activity: a second one is stored too.
    await ok(client, actor, "POST", URL, 201, json=body)
    rows = await stored(app_pool, world.tenant_a)
    assert [(r["source"], r["activity_id"], str(r["commerce_id"])) for r in rows] == [
        ("STANDALONE", None, store["id"])
    ] * 2


async def test_standalone_with_unknown_commerce_is_404(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    await commerce(client, actor)
    body = result_body(None, provider_activity_id="ext-1", commerce_external_id="store-999")
    assert_error(await submit(client, actor, body), 404)
    # Tenant B's commerce is not A's.
    await commerce(client, world.admin_b, "store-b")
    body = result_body(None, provider_activity_id="ext-1", commerce_external_id="store-b")
    assert_error(await submit(client, actor, body), 404)
    assert await stored(app_pool, world.tenant_a) == []


async def test_provider_id_matches_the_newest_activity_with_it(
    client: Client, world: World, owner_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor)
    older = await create_task(client, actor, store["id"], route_id, operator_id)
    newer = await create_task(client, actor, store["id"], route_id, operator_id)
    for task in (older, newer):
        await set_provider_id(owner_pool, world.tenant_a, task["id"], "ext-123")
    body = result_body(None, provider_activity_id="ext-123")
    result = await ok(client, actor, "POST", URL, 201, json=body)
    assert result["source"] == "RETEN_ACTIVITY" and result["activityId"] == newer["id"]
    assert result["providerActivityId"] == "ext-123"
    assert await status_of(client, actor, newer["id"]) == "COMPLETED"
    assert await status_of(client, actor, older["id"]) == "READY"
    # activity_id wins over provider_activity_id.
    body = result_body(older, provider_activity_id="ext-123", status="NOT_EXECUTED")
    result = await ok(client, actor, "POST", URL, 201, json=body)
    assert result["activityId"] == older["id"]
    assert await status_of(client, actor, older["id"]) == "FAILED"


async def test_provider_id_of_another_tenant_does_not_match(
    client: Client, world: World, owner_pool: asyncpg.Pool
) -> None:
    task_b = await new_task(client, world.admin_b)
    await set_provider_id(owner_pool, world.tenant_b, task_b["id"], "ext-shared")
    store_a = await commerce(client, world.admin_a)
    body = result_body(None, provider_activity_id="ext-shared")
    result = await ok(client, world.admin_a, "POST", URL, 201, json=body)
    assert result["source"] == "STANDALONE" and result["commerceId"] == store_a["id"]
    assert await status_of(client, world.admin_b, task_b["id"]) == "READY"


async def test_message_activity_is_refused(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    message = await create_activity(client, actor, store["id"])
    assert message["type"] == "MESSAGE" and message["status"] == "READY"
    await assert_rejected(client, actor, app_pool, message, result_body(message), 400)


async def test_provider_matched_message_activity_is_refused(
    client: Client, world: World, owner_pool: asyncpg.Pool, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    message = await create_activity(client, actor, store["id"])
    await set_provider_id(owner_pool, world.tenant_a, message["id"], "ext-msg")
    body = result_body(None, provider_activity_id="ext-msg")
    await assert_rejected(client, actor, app_pool, message, body, 400)


async def test_commerce_must_be_the_activitys(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    await commerce(client, actor, "store-002")
    body = result_body(task, commerce_external_id="store-002")
    await assert_rejected(client, actor, app_pool, task, body, 400)
    body = flat_body(task, commerceExternalId="store-002")
    await assert_rejected(client, actor, app_pool, task, body, 400)


# ---------------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------------
async def test_result_must_be_an_active_type_of_the_tenant(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    unknown = result_body(task)
    unknown["task_result"]["result"] = "SOLD"
    await assert_rejected(client, actor, app_pool, task, unknown, 400)
    await assert_rejected(client, actor, app_pool, task, flat_body(task, resultTypeCode="SOLD"), 400)
    # Codes are case-sensitive.
    lower = result_body(task)
    lower["task_result"]["result"] = "sale_completed"
    await assert_rejected(client, actor, app_pool, task, lower, 400)
    # Another tenant's type is not this tenant's.
    type_b = {"code": "B_ONLY", "label": "B only"}
    await ok(client, world.admin_b, "POST", "/api/activity-config/task-result-types", 201, json=type_b)
    other = result_body(task)
    other["task_result"]["result"] = "B_ONLY"
    await assert_rejected(client, actor, app_pool, task, other, 400)
    # A deactivated type.
    no_contact = await type_id(client, actor, "NO_CONTACT")
    await ok(client, actor, "DELETE", f"/api/activity-config/task-result-types/{no_contact}", 204)
    gone = result_body(task, status="NOT_EXECUTED")
    gone["task_result"]["result"] = "NO_CONTACT"
    await assert_rejected(client, actor, app_pool, task, gone, 400)
    # A new active type is accepted.
    mine = {"code": "A_ONLY", "label": "A only"}
    await ok(client, actor, "POST", "/api/activity-config/task-result-types", 201, json=mine)
    fine = result_body(task)
    fine["task_result"]["result"] = "A_ONLY"
    assert (await ok(client, actor, "POST", URL, 201, json=fine))["taskResult"]["result"] == "A_ONLY"


def reschedule(task: dict[str, Any], when: str | None) -> dict[str, Any]:
    body = result_body(task, status="PENDING")
    body["task_result"] = {"result": "RESCHEDULE", "comment": "Come back later"}
    if when is not None:
        body["task_result"]["future_scheduled_at"] = when
    return body


async def test_reschedule_requires_a_future_date(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    error = await assert_rejected(client, actor, app_pool, task, reschedule(task, None), 400)
    assert "future_scheduled_at" in error["message"]
    await assert_rejected(client, actor, app_pool, task, reschedule(task, in_days(-1)), 400)
    when = datetime(2040, 3, 1, 12, 0, tzinfo=UTC).isoformat()
    result = await ok(client, actor, "POST", URL, 201, json=reschedule(task, when))
    assert result["taskResult"]["futureScheduledAt"] == "2040-03-01T12:00:00.000Z"
    assert result["taskResult"]["result"] == "RESCHEDULE"
    assert await status_of(client, actor, task["id"]) == "READY"


async def test_type_made_to_require_a_future_date_is_enforced(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    no_contact = await type_id(client, actor, "NO_CONTACT")
    patch = {"requires_future_scheduled_at": True}
    await ok(client, actor, "PATCH", f"/api/activity-config/task-result-types/{no_contact}", json=patch)
    body = result_body(task, status="NOT_EXECUTED")
    body["task_result"]["result"] = "NO_CONTACT"
    await assert_rejected(client, actor, app_pool, task, body, 400)
    body["task_result"]["future_scheduled_at"] = in_days(2)
    await ok(client, actor, "POST", URL, 201, json=body)
    assert await status_of(client, actor, task["id"]) == "FAILED"


# ---------------------------------------------------------------------------------------------------
# Status mapping and the terminal-result rule
# ---------------------------------------------------------------------------------------------------
STATUS_MAP = {
    "PENDING": "READY",
    "COMPLETED": "COMPLETED",
    "TRANSFERRED": "COMPLETED",
    "EFFECTIVE": "COMPLETED",
    "NOT_EFFECTIVE": "COMPLETED",
    "NOT_EXECUTED": "FAILED",
    "CANCELED": "CANCELED",
}


@pytest.mark.parametrize(("sent", "expected"), list(STATUS_MAP.items()))
async def test_result_status_moves_the_activity(
    client: Client, world: World, sent: str, expected: str
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    if sent in ("EFFECTIVE", "NOT_EFFECTIVE"):  # the integration page's vocabulary, on its own route
        key = await create_key(client, actor, ["SUBMIT_ACTIVITY_RESULT"])
        response = await client.post(
            INTEGRATION_URL, headers={"x-api-key": key}, json=result_body(task, sent)
        )
        assert response.status_code == 201, response.text
        result = response.json()
    else:
        result = await ok(client, actor, "POST", URL, 201, json=result_body(task, sent))
    assert result["status"] == sent
    assert await status_of(client, actor, task["id"]) == expected
    history = await events(client, actor, task["id"])
    assert [(e["eventType"], e["fromStatus"], e["toStatus"]) for e in history] == [
        ("CREATED", None, "READY"),
        ("RESULT_RECEIVED", "READY", expected),
    ]


async def test_pending_then_completed_replaces_the_one_result(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    first = await ok(client, actor, "POST", URL, 201, json=result_body(task, "PENDING"))
    assert await status_of(client, actor, task["id"]) == "READY"
    body = result_body(task, "COMPLETED")
    body["task_result"]["result"] = "NOT_INTERESTED"
    second = await ok(client, actor, "POST", URL, 201, json=body)
    assert second["id"] == first["id"] and second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] >= first["updatedAt"]
    assert second["status"] == "COMPLETED" and second["taskResult"]["result"] == "NOT_INTERESTED"
    rows = await stored(app_pool, world.tenant_a)
    assert [(str(r["id"]), r["status"], r["result"]) for r in rows] == [
        (first["id"], "COMPLETED", "NOT_INTERESTED")
    ]
    assert await status_of(client, actor, task["id"]) == "COMPLETED"
    assert [
        (e["eventType"], e["fromStatus"], e["toStatus"]) for e in await events(client, actor, task["id"])
    ] == [
        ("CREATED", None, "READY"),
        ("RESULT_RECEIVED", "READY", "READY"),
        ("RESULT_RECEIVED", "READY", "COMPLETED"),
    ]


@pytest.mark.parametrize("second", ["CANCELED", "COMPLETED", "PENDING"])
async def test_second_result_after_a_terminal_one_is_409(
    client: Client, world: World, app_pool: asyncpg.Pool, second: str
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    await ok(client, actor, "POST", URL, 201, json=result_body(task, "COMPLETED"))
    error = await assert_rejected(client, actor, app_pool, task, result_body(task, second), 409)
    assert error["activityId"] == task["id"]
    error = await assert_rejected(client, actor, app_pool, task, flat_body(task, second), 409)
    assert error["activityId"] == task["id"]
    assert await status_of(client, actor, task["id"]) == "COMPLETED"
    assert [r["status"] for r in await stored(app_pool, world.tenant_a)] == ["COMPLETED"]


async def test_hard_override_replaces_a_terminal_result(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    first = await ok(client, actor, "POST", URL, 201, json=result_body(task, "COMPLETED"))
    body = result_body(task, "CANCELED", hard_override=True)
    body["task_result"]["result"] = "NOT_INTERESTED"
    second = await ok(client, actor, "POST", URL, 201, json=body)
    assert second["id"] == first["id"] and second["status"] == "CANCELED"
    assert second["taskResult"]["result"] == "NOT_INTERESTED"
    assert await status_of(client, actor, task["id"]) == "CANCELED"  # COMPLETED -> CANCELED: machine bypassed
    # The flat revision's hardOverride too.
    third = await ok(client, actor, "POST", URL, 201, json=flat_body(task, "NOT_EXECUTED", hardOverride=True))
    assert third["id"] == first["id"] and third["status"] == "NOT_EXECUTED"
    assert await status_of(client, actor, task["id"]) == "FAILED"
    rows = await stored(app_pool, world.tenant_a)
    assert [(str(r["id"]), r["status"], r["result"]) for r in rows] == [
        (first["id"], "NOT_EXECUTED", "SALE_COMPLETED")
    ]
    history = await events(client, actor, task["id"])
    assert [(e["eventType"], e["fromStatus"], e["toStatus"]) for e in history] == [
        ("CREATED", None, "READY"),
        ("RESULT_RECEIVED", "READY", "COMPLETED"),
        ("RESULT_RECEIVED", "COMPLETED", "CANCELED"),
        ("RESULT_RECEIVED", "CANCELED", "FAILED"),
    ]
    assert (await ok(client, actor, "GET", f"/api/activities/{task['id']}"))["status"] == history[-1][
        "toStatus"
    ]


@pytest.mark.parametrize("status", ["COMPLETED", "PENDING", "CANCELED"])
async def test_result_for_a_canceled_activity_without_a_result_is_400(
    client: Client, world: World, app_pool: asyncpg.Pool, status: str
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    await ok(client, actor, "PATCH", f"/api/activities/{task['id']}/cancel", 204, json={"reason": "dup"})
    await assert_rejected(client, actor, app_pool, task, result_body(task, status), 400)
    assert await status_of(client, actor, task["id"]) == "CANCELED"


async def test_results_on_unresolved_tasks(client: Client, world: World) -> None:
    actor = world.admin_a
    task = await new_task(client, actor, roles=(("FINANCE",),))
    assert task["status"] == "UNRESOLVED"
    await ok(client, actor, "POST", URL, 201, json=result_body(task, "PENDING"))
    assert await status_of(client, actor, task["id"]) == "UNRESOLVED"
    await ok(client, actor, "POST", URL, 201, json=result_body(task, "TRANSFERRED"))
    assert await status_of(client, actor, task["id"]) == "COMPLETED"
    history = await events(client, actor, task["id"])
    assert [(e["eventType"], e["fromStatus"], e["toStatus"]) for e in history][-2:] == [
        ("RESULT_RECEIVED", "UNRESOLVED", "UNRESOLVED"),
        ("RESULT_RECEIVED", "UNRESOLVED", "COMPLETED"),
    ]


# ---------------------------------------------------------------------------------------------------
# Who may submit
# ---------------------------------------------------------------------------------------------------
async def test_viewer_is_403_fde_may_submit(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    task = await new_task(client, world.admin_a)
    viewer = await add_user(client, world.admin_a, "viewer@a.test", ["VIEWER"])
    assert_error(await submit(client, viewer, result_body(task)), 403)
    assert await stored(app_pool, world.tenant_a) == []
    assert_error(await client.post(URL, json=result_body(task)), 401)
    fde = await add_user(client, world.admin_a, "fde@a.test", ["FDE"])
    await ok(client, fde, "POST", URL, 201, json=result_body(task))
    assert await status_of(client, world.admin_a, task["id"]) == "COMPLETED"


async def create_key(client: Client, actor: Actor, permissions: list[str]) -> str:
    body = {"name": "results", "permissions": permissions}
    return (await ok(client, actor, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]


async def test_api_key_with_create_activity(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    task = await new_task(client, world.admin_a)
    weak = await create_key(client, world.admin_a, ["VIEW_ACTIVITIES"])
    assert_error(await client.post(URL, headers={"x-api-key": weak}, json=result_body(task)), 403)
    assert await stored(app_pool, world.tenant_a) == []
    key = await create_key(client, world.admin_a, ["CREATE_ACTIVITY"])
    response = await client.post(URL, headers={"x-api-key": key}, json=result_body(task))
    assert response.status_code == 201, response.text
    assert response.json()["activityId"] == task["id"]
    assert await status_of(client, world.admin_a, task["id"]) == "COMPLETED"
    # A key of tenant A cannot reach tenant B's activity.
    task_b = await new_task(client, world.admin_b)
    response = await client.post(URL, headers={"x-api-key": key}, json=result_body(task_b))
    assert_error(response, 404)
    assert await status_of(client, world.admin_b, task_b["id"]) == "READY"


# ---------------------------------------------------------------------------------------------------
# Bad input (and nothing written)
# ---------------------------------------------------------------------------------------------------
def _nested(task: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return result_body(task, **fields)


def _with_task_result(task: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = result_body(task)
    body["task_result"].update(fields)
    return body


def _without(task: dict[str, Any], key: str) -> dict[str, Any]:
    body = result_body(task)
    del body[key]
    return body


BAD_BODIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "unknown top-level field": lambda t: _nested(t, tenant_id=str(uuid.uuid4())),
    "unknown task_result field": lambda t: _with_task_result(t, score=3),
    "unknown flat field": lambda t: flat_body(t, externalStatus="X"),
    "mixed revisions": lambda t: {**flat_body(t), "task_result": {"result": "SALE_COMPLETED"}},
    "bad status": lambda t: _nested(t, status="DONE"),
    "bad flat status": lambda t: flat_body(t, "done"),
    "comment over 4000": lambda t: _with_task_result(t, comment="x" * 4001),
    "flat comment over 4000": lambda t: flat_body(t, comment="x" * 4001),
    "bad contact type": lambda t: _with_task_result(t, contact_type="SIDEWAYS"),
    "naive occurred_at": lambda t: _nested(t, occurred_at="2031-01-16T14:30:00"),
    "malformed activity_id": lambda t: _nested(t, activity_id="not-a-uuid"),
    "missing task_result": lambda t: _without(t, "task_result"),
    "missing commerce_external_id": lambda t: _without(t, "commerce_external_id"),
    "missing occurred_at": lambda t: _without(t, "occurred_at"),
    "missing status": lambda t: _without(t, "status"),
    "empty result": lambda t: _with_task_result(t, result=""),
    "payload not an object": lambda t: _with_task_result(t, payload=[1, 2]),
    "hard_override not a bool": lambda t: _nested(t, hard_override="yes"),
    "flat missing resultTypeCode": lambda t: {k: v for k, v in flat_body(t).items() if k != "resultTypeCode"},
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bad_input_is_400_and_writes_nothing(
    client: Client, world: World, app_pool: asyncpg.Pool, case: str
) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    await assert_rejected(client, actor, app_pool, task, BAD_BODIES[case](task), 400)


async def test_comment_of_exactly_4000_is_accepted(client: Client, world: World) -> None:
    actor = world.admin_a
    task = await new_task(client, actor)
    result = await ok(client, actor, "POST", URL, 201, json=_with_task_result(task, comment="y" * 4000))
    assert len(result["taskResult"]["comment"]) == 4000


async def test_rejections_after_a_pending_result_keep_it(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    """A stored PENDING result is neither replaced nor removed by a refused one."""
    actor = world.admin_a
    task = await new_task(client, actor)
    await commerce(client, actor, "store-002")
    await ok(client, actor, "POST", URL, 201, json=result_body(task, "PENDING"))
    wrong_commerce = result_body(task, "COMPLETED", commerce_external_id="store-002")
    await assert_rejected(client, actor, app_pool, task, wrong_commerce, 400)
    bad_type = _with_task_result(task, result="NOPE")
    await assert_rejected(client, actor, app_pool, task, bad_type, 400)
    await ok(client, actor, "PATCH", f"/api/activities/{task['id']}/cancel", 204)
    await assert_rejected(client, actor, app_pool, task, result_body(task, "COMPLETED"), 400)
    assert [r["status"] for r in await stored(app_pool, world.tenant_a)] == ["PENDING"]


# ---------------------------------------------------------------------------------------------------
# Concurrency: the terminal-result rule under a race
# ---------------------------------------------------------------------------------------------------
async def waiting_on_locks(conn: asyncpg.Connection, count: int) -> None:
    """Until ``count`` sessions of this database wait on a lock (2 s at most, under lock_timeout)."""
    for _ in range(200):
        await conn.execute("select pg_catalog.pg_stat_clear_snapshot()")  # fresh view inside a transaction
        # On Citus the row lock is taken on the worker: its sessions are in citus_stat_activity.
        waiting = await conn.fetchval(
            f"select count(*) from {'citus_stat_activity' if CITUS else 'pg_catalog.pg_stat_activity'}"
            " where datname = current_database() and wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} requests waiting on the activity's row lock")


async def test_concurrent_terminal_results_one_wins_the_other_is_409(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    """Two terminal results for the same activity racing: one is stored, the other is the documented 409
    with ``activityId`` (CONTRACT.md §6), exactly as when they arrive one after the other. The race is
    made deterministic by holding the activity's row lock until both requests wait on it. (The test
    client runs the app synchronously, so each request is sent from its own thread.)"""
    actor = world.admin_a
    task = await new_task(client, actor)
    async with app_pool.acquire() as conn:
        holder = conn.transaction()
        await holder.start()
        await conn.execute(f"set local app.tenant_id = '{world.tenant_a}'")
        await conn.execute(
            "select 1 from app.activities where tenant_id = $1 and id = $2 for update",
            world.tenant_a,
            uuid.UUID(task["id"]),
        )
        racing = [
            asyncio.ensure_future(asyncio.to_thread(asyncio.run, submit(client, actor, result_body(task, s))))
            for s in ("COMPLETED", "NOT_EXECUTED")
        ]
        try:
            await waiting_on_locks(conn, 2)
        finally:
            await holder.rollback()
    responses = sorted(await asyncio.gather(*racing), key=lambda r: r.status_code)
    assert [r.status_code for r in responses] == [201, 409], [r.text for r in responses]
    error = assert_error(responses[1], 409)
    assert error["activityId"] == task["id"]
    winner = responses[0].json()["status"]
    assert [r["status"] for r in await stored(app_pool, world.tenant_a)] == [winner]
    assert await status_of(client, actor, task["id"]) == STATUS_MAP[winner]
    assert len(await events(client, actor, task["id"])) == 2


@pytest.mark.parametrize("status", ["EFFECTIVE", "NOT_EFFECTIVE", "DONE"])
async def test_the_results_route_takes_its_own_status_vocabulary(
    client: Client, world: World, status: str
) -> None:
    """CONTRACT.md §6 (revised): PENDING, COMPLETED, NOT_EXECUTED, CANCELED, TRANSFERRED only, in both
    body revisions; the answer names them."""
    actor = world.admin_a
    task = await new_task(client, actor)
    allowed = "status: must be one of CANCELED, COMPLETED, NOT_EXECUTED, PENDING, TRANSFERRED"
    for body in (result_body(task, status), flat_body(task, status)):
        response = await client.post(URL, headers=actor.headers(), json=body)
        assert assert_error(response, 400)["message"] == allowed
    assert await status_of(client, actor, task["id"]) == "READY"
