"""The integration routes (CONTRACT.md §6, §7): key-only auth on all three, tenant isolation, every pull
filter in both status vocabularies, the item per status, offset / cursor / incremental pagination (with
the settle window), result submission through the integration route, and the result-type configs."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import msgspec
import pytest
from activities.helpers import Client, activity_body, commerce, create_activity, ok, result_body
from conftest import Actor, World, assert_error
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.auth import api_keys
from app.config import Settings
from app.integration.schemas import IntegrationTask

TASKS = "/api/integration/activities/tasks"
INTEGRATION_STATUSES = ("EFFECTIVE", "NOT_EFFECTIVE", "PENDING")
RESULTS = "/api/integration/activity-results/tasks"
CONFIGS = "/api/integration/task-result-type-configs"
TYPES = "/api/activity-config/task-result-types"
INVALID_KEY = "API key missing or invalid"
ITEM_KEYS = {f.encode_name for f in msgspec.structs.fields(IntegrationTask)}
RESULT_KEYS = {
    "id", "activityId", "commerceId", "source", "status", "externalStatus", "providerActivityId",
    "occurredAt", "taskResult", "createdAt", "updatedAt",
}  # fmt: skip
TASK_RESULT_KEYS = {"result", "comment", "contactType", "operatorExternalId", "futureScheduledAt", "payload"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OCCURRED = "2031-01-16T14:30:00.000Z"  # result_body's occurred_at
SEEDED_CODES = {"SALE_COMPLETED", "NOT_INTERESTED", "RESCHEDULE", "NO_CONTACT"}
BOTH = ("VIEW_ACTIVITIES", "SUBMIT_ACTIVITY_RESULT")


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------
def at(day: int, hour: int = 9, month: int = 2) -> str:
    return f"2031-{month:02d}-{day:02d}T{hour:02d}:00:00.000Z"


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def make_key(client: Client, actor: Actor, permissions: tuple[str, ...] = BOTH) -> dict[str, Any]:
    body = {"name": "integration", "permissions": list(permissions)}
    return await ok(client, actor, "POST", "/api/api-keys", 201, json=body)


async def key_of(client: Client, actor: Actor, permissions: tuple[str, ...] = BOTH) -> str:
    return (await make_key(client, actor, permissions))["plaintextKey"]


async def pull(client: Client, key: str, **params: Any) -> dict[str, Any]:
    response = await client.get(TASKS, headers={"x-api-key": key}, params=params)
    assert response.status_code == 200, (params, response.text)
    body = response.json()
    for item in body["data"]:
        assert set(item) == ITEM_KEYS, item
        msgspec.convert(item, IntegrationTask, strict=True)
    return body


async def pull_error(client: Client, key: str, **params: Any) -> dict[str, Any]:
    """A pull that must be refused with 400."""
    return assert_error(await client.get(TASKS, headers={"x-api-key": key}, params=params), 400)


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


async def walk(client: Client, key: str, per_page: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of a cursor walk (starting with an empty cursor), checking the keyset meta."""
    pages: list[dict[str, Any]] = []
    cursor = ""
    while cursor is not None:
        body = await pull(client, key, per_page=per_page, cursor=cursor, **params)
        assert set(body["meta"]) == {"limit", "nextCursor"}, body["meta"]
        assert body["meta"]["limit"] == per_page
        pages.append(body)
        cursor = body["meta"]["nextCursor"]
        assert len(pages) < 100, "the walk does not end"
    return pages


def walked(pages: list[dict[str, Any]]) -> list[str]:
    return [item_id for page in pages for item_id in ids(page)]


async def submit(client: Client, key: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await client.post(RESULTS, headers={"x-api-key": key}, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def crew(
    client: Client, actor: Actor, code: str, operator_external_id: str, name: str
) -> tuple[str, str]:
    """(route id, operator id): an operator with an external id, assigned to a new route."""
    route = await ok(client, actor, "POST", "/api/routes", 201, json={"name": f"Route {code}", "code": code})
    operator = await ok(
        client,
        actor,
        "POST",
        "/api/operators",
        201,
        json={"type": "SALESMAN", "name": name, "external_id": operator_external_id},
    )
    url = f"/api/routes/{route['id']}/operators"
    await ok(client, actor, "POST", url, 201, json={"operatorId": operator["id"]})
    return route["id"], operator["id"]


async def task(
    client: Client, actor: Actor, commerce_id: str, route_id: str, operator_id: str, **fields: Any
) -> dict[str, Any]:
    """A TASK through POST /api/activities/tasks; any field (channel included) may be overridden."""
    body = activity_body(
        commerce_id, channel="SALESMAN", assigned_route_id=route_id, assigned_operator_id=operator_id
    )
    body.pop("type")
    body.update(fields)
    return await ok(client, actor, "POST", "/api/activities/tasks", 201, json=body)


async def as_tenant(pool: asyncpg.Pool, tenant: uuid.UUID, sql: str, *args: Any) -> list[asyncpg.Record]:
    """A statement as the application role in the tenant's context (row-level security applies)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        return await conn.fetch(sql, *args)


async def set_status(
    pool: asyncpg.Pool, tenant: uuid.UUID, activity_id: str, status: str, **cols: Any
) -> None:
    """A status the API cannot reach yet (DISPATCHED, FAILED by dispatch), set as the application role."""
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(cols, start=3))
    rows = await as_tenant(
        pool,
        tenant,
        f"update app.activities set status = $2{', ' + sets if sets else ''} where id = $1 returning id",
        uuid.UUID(activity_id),
        status,
        *cols.values(),
    )
    assert len(rows) == 1


async def cancel(client: Client, actor: Actor, activity_id: str) -> None:
    await ok(client, actor, "PATCH", f"/api/activities/{activity_id}/cancel", 204, json={"reason": "closed"})


async def activity(client: Client, actor: Actor, activity_id: str) -> dict[str, Any]:
    return await ok(client, actor, "GET", f"/api/activities/{activity_id}")


# ---------------------------------------------------------------------------------------------------
# A dataset covering every status, result status, channel, commerce and operator
# ---------------------------------------------------------------------------------------------------
# name -> (core status, integration status, lifecycle, label, result status, result code)
EXPECTED: dict[str, tuple[str, str, str, str, str, str | None]] = {
    "ready": ("READY", "PENDING", "SCHEDULED", "Programada", "PENDING", None),
    "unresolved": ("UNRESOLVED", "PENDING", "UNRESOLVED", "Sin resolver", "PENDING", None),
    "dispatched": ("DISPATCHED", "IN_PROGRESS", "DISPATCHED", "Despachada", "PENDING", None),
    "effective": ("COMPLETED", "COMPLETED", "COMPLETED", "Completada", "EFFECTIVE", "SALE_COMPLETED"),
    "completed": ("COMPLETED", "COMPLETED", "COMPLETED", "Completada", "COMPLETED", "SALE_COMPLETED"),
    "canceled": ("CANCELED", "CANCELLED", "CANCELED", "Cancelada", "PENDING", None),
    "failed": ("FAILED", "FAILED", "FAILED", "Fallida", "PENDING", None),
    "pending_result": ("READY", "PENDING", "SCHEDULED", "Programada", "PENDING", "NOT_INTERESTED"),
    "not_effective": ("COMPLETED", "COMPLETED", "COMPLETED", "Completada", "NOT_EFFECTIVE", "NOT_INTERESTED"),
    "not_executed": ("FAILED", "FAILED", "FAILED", "Fallida", "NOT_EXECUTED", "NO_CONTACT"),
    "result_canceled": ("CANCELED", "CANCELLED", "CANCELED", "Cancelada", "CANCELED", "NO_CONTACT"),
    "generic": ("READY", "PENDING", "SCHEDULED", "Programada", "PENDING", None),
}
ORDER = list(EXPECTED)  # scheduled on consecutive days in this order


@dataclass
class Dataset:
    world: World
    key: str
    tasks: dict[str, dict[str, Any]]  # name -> the activity as created
    routes: dict[str, str]  # name -> route id
    stores: dict[str, dict[str, Any]]
    message_id: str
    b_task_id: str

    def ids(self, *names: str) -> list[str]:
        """The tasks' ids in pull order (names are given in that order)."""
        assert [n for n in ORDER if n in names] == list(names), names
        return [self.tasks[n]["id"] for n in names]


@pytest.fixture
async def dataset(client: Client, world: World, app_pool: asyncpg.Pool) -> Dataset:
    a = world.admin_a
    key = await key_of(client, a)
    s1 = await commerce(client, a)
    s2 = await commerce(client, a, "store-002")
    r1, o1 = await crew(client, a, "R1", "op-1", "Ana Perez")
    r2, o2 = await crew(client, a, "R2", "op-2", "Bruno Diaz")
    plan: dict[str, tuple[dict[str, Any], str, str, dict[str, Any]]] = {
        "ready": (s1, r1, o1, {}),
        "unresolved": (s1, r1, o1, {"attribute_keys": ["promotions"]}),  # no metadata.promotions
        "dispatched": (s2, r2, o2, {"channel": "CALLCENTER"}),
        "effective": (s1, r2, o2, {}),
        "completed": (s2, r1, o1, {}),
        "canceled": (s2, r1, o1, {}),
        "failed": (s1, r1, o1, {}),
        "pending_result": (s1, r2, o2, {}),
        "not_effective": (s2, r2, o2, {}),
        "not_executed": (s1, r1, o1, {}),
        "result_canceled": (s2, r2, o2, {}),
    }
    tasks: dict[str, dict[str, Any]] = {}
    for day, (name, (store, route, operator, fields)) in enumerate(plan.items(), start=1):
        tasks[name] = await task(client, a, store["id"], route, operator, scheduled_at=at(day), **fields)
    generic = activity_body(s2["id"], type="TASK", channel="CALLCENTER", scheduled_at=at(12))
    tasks["generic"] = await ok(client, a, "POST", "/api/activities", 201, json=generic)
    assert tasks["unresolved"]["status"] == "UNRESOLVED"

    await set_status(
        app_pool, world.tenant_a, tasks["dispatched"]["id"], "DISPATCHED", provider_activity_id="prov-1"
    )
    await set_status(app_pool, world.tenant_a, tasks["failed"]["id"], "FAILED", last_error="boom")
    await cancel(client, a, tasks["canceled"]["id"])
    results = {
        "effective": ("EFFECTIVE", "SALE_COMPLETED"),
        "completed": ("COMPLETED", "SALE_COMPLETED"),
        "pending_result": ("PENDING", "NOT_INTERESTED"),
        "not_effective": ("NOT_EFFECTIVE", "NOT_INTERESTED"),
        "not_executed": ("NOT_EXECUTED", "NO_CONTACT"),
        "result_canceled": ("CANCELED", "NO_CONTACT"),
    }
    for name, (status, code) in results.items():
        body = result_body(tasks[name], status, task_result={"result": code})
        if status in INTEGRATION_STATUSES:
            await submit(client, key, body)
        else:  # the activity-results page's vocabulary goes through its own route
            await ok(client, a, "POST", "/api/activity-results/tasks", 201, json=body)
    message = await create_activity(client, a, s1["id"], scheduled_at=at(1))

    # Tenant B: the same external ids and schedule; never part of A's answers.
    b = world.admin_b
    sb = await commerce(client, b)
    rb, ob = await crew(client, b, "R1", "op-1", "Ana Perez")
    b_task = await task(client, b, sb["id"], rb, ob, scheduled_at=at(1))

    for name, (core, *_) in EXPECTED.items():
        assert (await activity(client, a, tasks[name]["id"]))["status"] == core, name
    return Dataset(
        world=world,
        key=key,
        tasks=tasks,
        routes={"R1": r1, "R2": r2},
        stores={"store-001": s1, "store-002": s2},
        message_id=message["id"],
        b_task_id=b_task["id"],
    )


async def assert_filter(client: Client, data: Dataset, params: dict[str, Any], names: list[str]) -> None:
    body = await pull(client, data.key, **params)
    assert ids(body) == data.ids(*names), params
    assert body["meta"]["total"] == len(names), params


# ---------------------------------------------------------------------------------------------------
# Authentication and permissions
# ---------------------------------------------------------------------------------------------------
ROUTES = {
    "pull": ("GET", TASKS, "VIEW_ACTIVITIES", 200),
    "submit": ("POST", RESULTS, "SUBMIT_ACTIVITY_RESULT", 201),
    "configs": ("GET", CONFIGS, "VIEW_ACTIVITIES", 200),
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_key_only_auth(client: Client, world: World, route: str) -> None:
    method, url, permission, success = ROUTES[route]
    a = world.admin_a
    store = await commerce(client, a)
    route_id, operator_id = await crew(client, a, "R1", "op-1", "Ana Perez")
    created = await task(client, a, store["id"], route_id, operator_id)
    body = result_body(created, "EFFECTIVE") if method == "POST" else None

    async def call(headers: dict[str, str]) -> Any:
        return await client.request(method, url, headers=headers, json=body)

    good = await key_of(client, a, (permission,))
    refused: list[dict[str, str]] = [
        {},
        {"x-api-key": ""},
        {"x-api-key": "rtn_sk_not-a-key"},
        {"x-api-key": good + "0"},
        {"x-api-key": good[:-1] + ("0" if good[-1] != "0" else "1")},  # checksum broken
        {"x-api-key": api_keys.generate()},  # well formed, never issued
        a.headers(),  # an admin's Bearer token with its tenant
        {"authorization": f"Bearer {a.token}"},
        {"authorization": f"Bearer {world.root.token}", "x-tenant-id": str(world.tenant_a)},
    ]
    for headers in refused:
        response = await call(headers)
        assert assert_error(response, 401)["message"] == INVALID_KEY, headers
        assert response.json()["error"] == "Unauthorized"

    other = "SUBMIT_ACTIVITY_RESULT" if permission == "VIEW_ACTIVITIES" else "VIEW_ACTIVITIES"
    lacking = await key_of(client, a, (other, "CREATE_ACTIVITY"))
    forbidden = assert_error(await call({"x-api-key": lacking}), 403)
    assert (forbidden["message"], forbidden["error"]) == ("Insufficient permissions", "Forbidden")

    # A key of tenant A, presented with tenant B's id, acts nowhere.
    assert_error(await call({"x-api-key": good, "x-tenant-id": str(world.tenant_b)}), 403)

    created_key = await make_key(client, a, (permission,))
    key = created_key["plaintextKey"]
    first = await call({"x-api-key": key})  # the tenant comes from the key: no x-tenant-id
    assert first.status_code == success, first.text
    if route == "pull":
        assert ids(first.json()) == [created["id"]]
    elif route == "submit":
        assert first.json()["activityId"] == created["id"]
    else:
        assert {t["code"] for t in first.json()} == SEEDED_CODES
    revoke = f"/api/api-keys/{created_key['id']}/revoke"
    await ok(client, a, "POST", revoke, 200)
    after = await call({"x-api-key": key})
    assert assert_error(after, 401)["message"] == INVALID_KEY
    # The other key of the same tenant still works.
    assert (await call({"x-api-key": good})).status_code in (200, 201, 409)


# ---------------------------------------------------------------------------------------------------
# Tenant isolation
# ---------------------------------------------------------------------------------------------------
async def test_tenants_never_see_each_other(client: Client, world: World) -> None:
    a, b = world.admin_a, world.admin_b
    key_a, key_b = await key_of(client, a), await key_of(client, b)
    mine: dict[str, dict[str, Any]] = {}
    for actor, name in ((a, "a"), (b, "b")):
        store = await commerce(client, actor)
        route_id, operator_id = await crew(client, actor, "R1", "op-1", "Ana Perez")
        mine[name] = await task(client, actor, store["id"], route_id, operator_id, scheduled_at=at(1))
        mine[name + "_store"] = store
    for key, name in ((key_a, "a"), (key_b, "b")):
        for params in (
            {},
            {"external_commerce_id": "store-001"},
            {"external_operator_id": "op-1"},
            {"status": "PENDING", "scheduled_from": at(1), "scheduled_to": at(1)},
            {"result_status": "PENDING", "channel": "SALESMAN"},
        ):
            body = await pull(client, key, **params)
            assert ids(body) == [mine[name]["id"]], (name, params)
            assert body["meta"]["total"] == 1
        assert walked(await walk(client, key, 5)) == [mine[name]["id"]]
        changes = await pull(client, key, updated_since="2000-01-01T00:00:00Z")
        assert ids(changes) == [mine[name]["id"]]

    # A's key cannot record a result on B's activity (same commerce external id in both tenants).
    foreign = assert_error(
        await client.post(RESULTS, headers={"x-api-key": key_a}, json=result_body(mine["b"], "EFFECTIVE")),
        404,
    )
    assert mine["b"]["id"] not in str(foreign.get("activityId"))
    assert (await activity(client, b, mine["b"]["id"]))["status"] == "READY"
    (b_item,) = (await pull(client, key_b))["data"]
    assert (b_item["status"], b_item["resultStatus"], b_item["result"]) == ("PENDING", "PENDING", None)
    # A standalone result by A's key is linked to A's commerce, not B's namesake.
    standalone = await submit(client, key_a, result_body(None, "EFFECTIVE", provider_activity_id="ext-1"))
    assert standalone["commerceId"] == mine["a_store"]["id"]

    # Result types are per tenant: B's new type is not A's, A's deactivation is not B's.
    await ok(client, b, "POST", TYPES, 201, json={"code": "ONLY_B", "label": "Solo B"})
    no_contact = next(t for t in await ok(client, a, "GET", TYPES) if t["code"] == "NO_CONTACT")
    await ok(client, a, "DELETE", f"{TYPES}/{no_contact['id']}", 204)
    codes_a = {t["code"] for t in (await client.get(CONFIGS, headers={"x-api-key": key_a})).json()}
    codes_b = {t["code"] for t in (await client.get(CONFIGS, headers={"x-api-key": key_b})).json()}
    assert codes_a == SEEDED_CODES - {"NO_CONTACT"}
    assert codes_b == SEEDED_CODES | {"ONLY_B"}
    only_b = result_body(mine["a"], "EFFECTIVE", task_result={"result": "ONLY_B"})
    assert_error(await client.post(RESULTS, headers={"x-api-key": key_a}, json=only_b), 400)


# ---------------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------------
async def test_no_filter_lists_every_task_of_the_tenant_in_schedule_order(
    client: Client, dataset: Dataset
) -> None:
    body = await pull(client, dataset.key)
    assert ids(body) == dataset.ids(*ORDER)
    assert body["meta"] == {"page": 1, "limit": 20, "total": len(ORDER), "totalPages": 1}
    assert dataset.message_id not in ids(body) and dataset.b_task_id not in ids(body)
    assert all(item["type"] == "TASK" for item in body["data"])
    # The MESSAGE (WHATSAPP, READY, store-001, scheduled with the first task) matches no filter.
    for params in ({"channel": "WHATSAPP"}, {"status": "READY", "scheduled_to": at(1)}):
        assert dataset.message_id not in ids(await pull(client, dataset.key, **params))
    assert ids(await pull(client, dataset.key, channel="WHATSAPP")) == []


STATUS_FILTERS: list[tuple[str, list[str]]] = [
    ("PENDING", ["ready", "unresolved", "pending_result", "generic"]),
    ("IN_PROGRESS", ["dispatched"]),
    ("COMPLETED", ["effective", "completed", "not_effective"]),
    ("CANCELLED", ["canceled", "result_canceled"]),
    ("FAILED", ["failed", "not_executed"]),
    # core values select exactly that status
    ("READY", ["ready", "pending_result", "generic"]),
    ("UNRESOLVED", ["unresolved"]),
    ("DISPATCHED", ["dispatched"]),
    ("CANCELED", ["canceled", "result_canceled"]),
]


async def test_status_filter_both_vocabularies(client: Client, dataset: Dataset) -> None:
    for status, names in STATUS_FILTERS:
        await assert_filter(client, dataset, {"status": status}, names)
        body = await pull(client, dataset.key, status=status)
        assert {item["status"] for item in body["data"]} == {EXPECTED[n][1] for n in names}, status
    for bad in ("DONE", "pending", "CANCELLED,FAILED", ""):
        await pull_error(client, dataset.key, status=bad)


RESULT_FILTERS: list[tuple[str, list[str]]] = [
    # PENDING: a stored PENDING result, or none at all
    ("PENDING", ["ready", "unresolved", "dispatched", "canceled", "failed", "pending_result", "generic"]),
    ("EFFECTIVE", ["effective"]),
    ("NOT_EFFECTIVE", ["not_effective"]),
    ("COMPLETED", ["completed"]),
    ("NOT_EXECUTED", ["not_executed"]),
    ("CANCELED", ["result_canceled"]),
    ("TRANSFERRED", []),
]


async def test_result_status_filter(client: Client, dataset: Dataset) -> None:
    for result_status, names in RESULT_FILTERS:
        await assert_filter(client, dataset, {"result_status": result_status}, names)
    for bad in ("CANCELLED", "DONE"):
        await pull_error(client, dataset.key, result_status=bad)


OTHER_FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"channel": "CALLCENTER"}, ["dispatched", "generic"]),
    ({"channel": "SALESMAN"}, [n for n in ORDER if n not in ("dispatched", "generic")]),
    ({"channel": "SMS"}, []),
    (
        {"external_commerce_id": "store-001"},
        ["ready", "unresolved", "effective", "failed", "pending_result", "not_executed"],
    ),
    (
        {"external_commerce_id": "store-002"},
        ["dispatched", "completed", "canceled", "not_effective", "result_canceled", "generic"],
    ),
    ({"external_commerce_id": "store-999"}, []),
    (
        {"external_operator_id": "op-1"},
        ["ready", "unresolved", "completed", "canceled", "failed", "not_executed"],
    ),
    (
        {"external_operator_id": "op-2"},
        ["dispatched", "effective", "pending_result", "not_effective", "result_canceled"],
    ),
    ({"external_operator_id": "op-999"}, []),
    # scheduled range: inclusive at both ends, any offset
    ({"scheduled_from": at(3), "scheduled_to": at(5)}, ["dispatched", "effective", "completed"]),
    (
        {"scheduled_from": "2031-02-03T11:00:00+02:00", "scheduled_to": "2031-02-05T04:00:00-05:00"},
        ["dispatched", "effective", "completed"],
    ),
    (
        {"scheduled_from": "2031-02-03T09:00:00.001Z", "scheduled_to": "2031-02-05T08:59:59.999Z"},
        ["effective"],
    ),
    ({"scheduled_from": at(11)}, ["result_canceled", "generic"]),
    ({"scheduled_to": at(1)}, ["ready"]),
    ({"scheduled_from": at(5), "scheduled_to": at(4)}, []),
    # combined
    ({"status": "PENDING", "external_operator_id": "op-1"}, ["ready", "unresolved"]),
    ({"status": "COMPLETED", "result_status": "EFFECTIVE"}, ["effective"]),
    (
        {"status": "PENDING", "result_status": "PENDING", "channel": "SALESMAN"},
        ["ready", "unresolved", "pending_result"],
    ),
    (
        {"status": "CANCELLED", "channel": "SALESMAN", "external_commerce_id": "store-002"},
        ["canceled", "result_canceled"],
    ),
    (
        {"status": "FAILED", "external_commerce_id": "store-001", "external_operator_id": "op-1"},
        ["failed", "not_executed"],
    ),
    ({"result_status": "PENDING", "channel": "CALLCENTER", "scheduled_from": at(4)}, ["generic"]),
    ({"status": "IN_PROGRESS", "external_operator_id": "op-1"}, []),
]


async def test_channel_commerce_operator_and_schedule_filters(client: Client, dataset: Dataset) -> None:
    for params, names in OTHER_FILTERS:
        await assert_filter(client, dataset, params, names)
    # Unknown query params are ignored.
    assert ids(await pull(client, dataset.key, colour="blue")) == dataset.ids(*ORDER)
    for params in (
        {"scheduled_from": "2031-02-03T09:00:00"},  # no offset
        {"scheduled_to": "2031-02-03T09:00:00"},
        {"scheduled_from": "tomorrow"},
        {"channel": "FAX"},
        {"external_commerce_id": ""},
        {"external_operator_id": "x" * 256},
    ):
        await pull_error(client, dataset.key, **params)


async def test_item_for_each_status(client: Client, dataset: Dataset) -> None:
    items = {item["id"]: item for item in (await pull(client, dataset.key))["data"]}
    for day, name in enumerate(ORDER, start=1):
        core, status, lifecycle, label, result_status, result = EXPECTED[name]
        created = dataset.tasks[name]
        item = items[created["id"]]
        decoded = msgspec.convert(item, IntegrationTask, strict=True)
        assert str(decoded.id) == created["id"]
        detail = await activity(client, dataset.world.admin_a, created["id"])
        assert detail["status"] == core
        assert (item["status"], item["lifecycleStatus"], item["lifecycleStatusLabel"]) == (
            status,
            lifecycle,
            label,
        ), name
        assert (item["resultStatus"], item["result"]) == (result_status, result), name
        assert item["canForceRetryDispatch"] is (core == "FAILED"), name
        assert item["lifecycleStatusDetail"] == detail["lastError"], name
        assert item["occurredAt"] == (OCCURRED if result else None), name
        assert (item["activityOrigin"], item["type"], item["reason"]) == (
            "ACTIVITY",
            "TASK",
            "Monthly promotion",
        )
        assert item["scheduledAt"] == at(day)
        assert (item["createdAt"], item["updatedAt"]) == (detail["createdAt"], detail["updatedAt"]), name
        for field in ("scheduledAt", "createdAt", "updatedAt"):
            assert TIMESTAMP.match(item[field]), item[field]
        store = detail["commerceAssignment"]["commerce"]
        assert (item["commerceExternalId"], item["commerceName"]) == (store["externalId"], store["name"])
        assert item["channel"] == ("CALLCENTER" if name in ("dispatched", "generic") else "SALESMAN")
        assert item["providerActivityId"] == ("prov-1" if name == "dispatched" else None), name
        if name == "generic":  # a TASK created without route and operator
            assert [item[k] for k in ("operatorExternalId", "operatorName", "routeId", "routeName")] == [
                None
            ] * 4
        else:
            route = detail["taskDetails"]["routeId"]
            code = next(c for c, r in dataset.routes.items() if r == route)
            operator = {"R1": ("op-1", "Ana Perez"), "R2": ("op-2", "Bruno Diaz")}
            assert (item["routeId"], item["routeName"]) == (route, f"Route {code}"), name
            assert (item["operatorExternalId"], item["operatorName"]) == operator[code], name
    assert items[dataset.tasks["failed"]["id"]]["lifecycleStatusDetail"] == "boom"
    assert items[dataset.tasks["ready"]["id"]]["lifecycleStatusDetail"] is None
    assert items[dataset.tasks["unresolved"]["id"]]["commerceName"] == "Store store-001"


# ---------------------------------------------------------------------------------------------------
# Pagination: offset and cursor
# ---------------------------------------------------------------------------------------------------
async def many_tasks(client: Client, world: World, count: int) -> tuple[list[str], dict[str, Any]]:
    """``count`` tasks, three per scheduled time (the id breaks ties), alternating between two commerces;
    (ids in pull order, context)."""
    a = world.admin_a
    stores = [await commerce(client, a), await commerce(client, a, "store-002")]
    route_id, operator_id = await crew(client, a, "R1", "op-1", "Ana Perez")
    base = datetime(2031, 3, 1, 8, tzinfo=UTC)
    made: list[tuple[str, str]] = []
    for n in range(count):
        when = (base + timedelta(hours=n // 3)).isoformat()
        created = await task(client, a, stores[n % 2]["id"], route_id, operator_id, scheduled_at=when)
        made.append((created["scheduledAt"], created["id"]))
    made.sort()
    context = {"stores": stores, "route_id": route_id, "operator_id": operator_id}
    return [i for _, i in made], context


async def test_offset_pagination(client: Client, world: World) -> None:
    expected, _ = await many_tasks(client, world, 45)
    key = await key_of(client, world.admin_a)
    seen: list[str] = []
    for page in range(1, 6):
        body = await pull(client, key, page=page, per_page=10)
        assert body["meta"] == {"page": page, "limit": 10, "total": 45, "totalPages": 5}
        assert len(body["data"]) == (10 if page < 5 else 5)
        seen += ids(body)
    assert seen == expected
    beyond = await pull(client, key, page=6, per_page=10)
    assert beyond["data"] == [] and beyond["meta"] == {"page": 6, "limit": 10, "total": 45, "totalPages": 5}
    default = await pull(client, key)
    assert ids(default) == expected[:20] and default["meta"]["limit"] == 20
    alias = await pull(client, key, limit=7, page=2)
    assert ids(alias) == expected[7:14]
    assert alias["meta"] == {"page": 2, "limit": 7, "total": 45, "totalPages": 7}
    assert ids(await pull(client, key, per_page=100)) == expected
    none = await pull(client, key, status="CANCELLED")
    assert none["meta"] == {"page": 1, "limit": 20, "total": 0, "totalPages": 0}
    for params in ({"per_page": 101}, {"limit": 101}, {"per_page": 0}, {"page": 0}, {"per_page": "ten"}):
        await pull_error(client, key, **params)


async def test_cursor_walk(client: Client, world: World) -> None:
    expected, context = await many_tasks(client, world, 45)
    key = await key_of(client, world.admin_a)
    pages = await walk(client, key, 10)
    assert [len(p["data"]) for p in pages] == [10, 10, 10, 10, 5]
    assert walked(pages) == expected  # each exactly once, in (scheduledAt, id) order
    assert pages[-1]["meta"]["nextCursor"] is None
    # A walk ending exactly on a page boundary has no trailing empty page.
    exact = await walk(client, key, 15)
    assert [len(p["data"]) for p in exact] == [15, 15, 15] and walked(exact) == expected
    # The cursor keeps the filters of the walk; `page` is ignored in cursor mode.
    store_two = set(ids(await pull(client, key, per_page=100, external_commerce_id="store-002")))
    filtered = await walk(client, key, 4, external_commerce_id="store-002", page=3)
    assert walked(filtered) == [i for i in expected if i in store_two] and len(store_two) == 22
    assert context["stores"][1]["externalId"] == "store-002"
    first = await pull(client, key, per_page=10, cursor="", page=4)
    assert ids(first) == expected[:10]


async def test_garbage_cursor_is_400(client: Client, world: World) -> None:
    key = await key_of(client, world.admin_a)

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    for cursor in (
        "%%%",
        "not-a-cursor",
        b64("2031-01-01T00:00:00+00:00"),
        b64(f"yesterday|{uuid.uuid4()}"),
        b64("2031-01-01T00:00:00+00:00|not-a-uuid"),
        b64(f"2031-01-01T00:00:00|{uuid.uuid4()}"),  # no offset
        b64(f"2031-01-01T00:00:00+00:00|{uuid.uuid4()}|x"),
        "A" * 201,
    ):
        body = await pull_error(client, key, cursor=cursor, per_page=10)
        assert "cursor" in body["message"] or "cursor" in str(body.get("details")), body
        await pull_error(client, key, cursor=cursor, updated_since="2000-01-01T00:00:00Z")


async def test_cursor_walk_while_tasks_are_inserted(client: Client, world: World) -> None:
    a = world.admin_a
    store = await commerce(client, a)
    route_id, operator_id = await crew(client, a, "R1", "op-1", "Ana Perez")
    base = datetime(2031, 3, 1, 0, tzinfo=UTC)

    async def add(hours: float) -> str:
        when = (base + timedelta(hours=hours)).isoformat()
        return (await task(client, a, store["id"], route_id, operator_id, scheduled_at=when))["id"]

    initial = [await add(h) for h in range(30)]
    key = await key_of(client, a)
    behind: list[str] = []
    ahead: list[str] = []
    seen: list[str] = []
    cursor: str | None = ""
    keys_seen: list[tuple[str, str]] = []
    page_number = 0
    while cursor is not None:
        body = await pull(client, key, per_page=10, cursor=cursor)
        seen += ids(body)
        keys_seen += [(item["scheduledAt"], item["id"]) for item in body["data"]]
        cursor = body["meta"]["nextCursor"]
        page_number += 1
        if page_number in (1, 2):
            # The walk's position, in hours after `base` (earlier insertions have shifted it).
            last = (parse(body["data"][-1]["scheduledAt"]) - base) / timedelta(hours=1)
            behind += [await add(-5), await add(last - 3), await add(last - 0.25)]
            ahead += [await add(last + 0.25), await add(last + 7.5), await add(100 + page_number)]
            await cancel(client, a, initial[int(last) + 2])  # changes ahead of the cursor do not matter
            await cancel(client, a, initial[int(last) - 1])  # nor behind it
    assert len(seen) == len(set(seen)), "a task was returned twice"
    assert set(initial) <= set(seen)
    assert set(ahead) <= set(seen)
    assert not set(behind) & set(seen)
    assert keys_seen == sorted(keys_seen)


# ---------------------------------------------------------------------------------------------------
# Incremental mode
# ---------------------------------------------------------------------------------------------------
async def test_updated_since(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    a = world.admin_a
    store = await commerce(client, a)
    route_id, operator_id = await crew(client, a, "R1", "op-1", "Ana Perez")
    tasks = [
        await task(client, a, store["id"], route_id, operator_id, scheduled_at=at(day)) for day in range(1, 6)
    ]
    key = await key_of(client, a)
    before = {item["id"]: item for item in (await pull(client, key))["data"]}
    assert set(before) == {t["id"] for t in tasks}
    # T: just after the newest change the server reported (updatedAt is truncated to the millisecond).
    since = max(parse(item["updatedAt"]) for item in before.values()) + timedelta(milliseconds=1)
    await asyncio.sleep(0.05)
    everything = await pull(client, key, updated_since="2000-01-01T00:00:00Z")
    assert sorted(ids(everything)) == sorted(before)
    assert set(everything["meta"]) == {"limit", "nextCursor"} and everything["meta"]["nextCursor"] is None
    assert ids(await pull(client, key, updated_since=since.isoformat())) == []

    canceled, resulted = tasks[3], tasks[1]
    await cancel(client, a, canceled["id"])
    await submit(client, key, result_body(resulted, "EFFECTIVE"))
    new = await task(client, a, store["id"], route_id, operator_id, scheduled_at=at(1, hour=8))
    await create_activity(client, a, store["id"])  # a MESSAGE: never in the pull
    b_store = await commerce(client, world.admin_b)
    b_route, b_operator = await crew(client, world.admin_b, "R1", "op-1", "Ana Perez")
    await task(client, world.admin_b, b_store["id"], b_route, b_operator)  # another tenant's change

    changed = await pull(client, key, updated_since=since.isoformat())
    assert ids(changed) == [canceled["id"], resulted["id"], new["id"]]  # (updatedAt, id) order
    assert set(changed["meta"]) == {"limit", "nextCursor"}
    assert changed["meta"] == {"limit": 20, "nextCursor": None}
    assert all(parse(item["updatedAt"]) >= since for item in changed["data"])
    stamps = [parse(item["updatedAt"]) for item in changed["data"]]
    assert stamps == sorted(stamps)
    by_id = {item["id"]: item for item in changed["data"]}
    assert parse(by_id[resulted["id"]]["updatedAt"]) > parse(before[resulted["id"]]["updatedAt"])
    assert (by_id[resulted["id"]]["status"], by_id[resulted["id"]]["resultStatus"]) == (
        "COMPLETED",
        "EFFECTIVE",
    )
    assert by_id[canceled["id"]]["status"] == "CANCELLED"
    # The same instant written with another offset; `page` is ignored; filters still apply.
    plus_five = since.astimezone(timezone(timedelta(hours=5))).isoformat()
    minus_three = since.astimezone(timezone(timedelta(hours=-3))).isoformat()
    for same in (plus_five, minus_three, since.isoformat().replace("+00:00", "Z")):
        assert ids(await pull(client, key, updated_since=same, page=3)) == ids(changed)
    assert ids(await pull(client, key, updated_since=since.isoformat(), status="CANCELLED")) == [
        canceled["id"]
    ]
    assert ids(await pull(client, key, updated_since=since.isoformat(), result_status="PENDING")) == [
        canceled["id"],
        new["id"],
    ]
    assert ids(await pull(client, key, updated_since="2100-01-01T00:00:00Z")) == []

    # Walking the changes two at a time returns each exactly once.
    pages = await walk(client, key, 2, updated_since=since.isoformat())
    assert [len(p["data"]) for p in pages] == [2, 1]
    assert walked(pages) == ids(changed)
    full = await walk(client, key, 2, updated_since="2000-01-01T00:00:00Z")
    assert len(walked(full)) == 6 and set(walked(full)) == {t["id"] for t in [*tasks, new]}

    # updated_since is inclusive, to the microsecond.
    (row,) = await as_tenant(
        app_pool, world.tenant_a, "select updated_at from app.activities where id = $1", uuid.UUID(new["id"])
    )
    exact = row["updated_at"]
    assert ids(await pull(client, key, updated_since=exact.isoformat())) == [new["id"]]
    assert ids(await pull(client, key, updated_since=(exact + timedelta(microseconds=1)).isoformat())) == []

    for bad in ("2031-01-01T00:00:00", "yesterday", ""):
        body = await pull_error(client, key, updated_since=bad)
        assert "updated_since" in body["message"] or "updated_since" in str(body.get("details")), body


async def test_settle_window_holds_back_fresh_changes(
    client: Client, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    a = world.admin_a
    store = await commerce(client, a)
    route_id, operator_id = await crew(client, a, "R1", "op-1", "Ana Perez")
    old = await task(client, a, store["id"], route_id, operator_id, scheduled_at=at(1))
    fresh = await task(client, a, store["id"], route_id, operator_id, scheduled_at=at(2))
    await as_tenant(
        app_pool,
        world.tenant_a,
        "update app.activities set updated_at = now() - interval '1 minute' where tenant_id = $1 and id = $2",
        world.tenant_a,
        uuid.UUID(old["id"]),
    )
    key = await key_of(client, a)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    slow = create_app(msgspec.structs.replace(settings, pull_changes_settle_s=30.0))
    async with AsyncTestClient(app=slow) as slow_client:
        held = await pull(slow_client, key, updated_since=since)
        assert ids(held) == [old["id"]]  # the change of a moment ago waits for a later pull
        # The offset mode is not held back.
        assert ids(await pull(slow_client, key)) == [old["id"], fresh["id"]]
    assert ids(await pull(client, key, updated_since=since)) == [old["id"], fresh["id"]]


# ---------------------------------------------------------------------------------------------------
# Results through the integration route
# ---------------------------------------------------------------------------------------------------
async def one_task(client: Client, world: World) -> tuple[dict[str, Any], str, dict[str, Any]]:
    a = world.admin_a
    store = await commerce(client, a)
    route_id, operator_id = await crew(client, a, "R1", "op-1", "Ana Perez")
    created = await task(client, a, store["id"], route_id, operator_id)
    return created, await key_of(client, a), store


async def test_submit_result_and_see_it_in_the_pull(client: Client, world: World) -> None:
    created, key, store = await one_task(client, world)
    body = result_body(
        created,
        "EFFECTIVE",
        external_status="closed-won",
        raw_payload={"source": "crm"},
        task_result={
            "result": "SALE_COMPLETED",
            "comment": "Order placed",
            "contact_type": "OUTBOUND",
            "operator_external_id": "op-1",
            "payload": {"amount": 10},
        },
    )
    stored = await submit(client, key, body)
    assert set(stored) == RESULT_KEYS and set(stored["taskResult"]) == TASK_RESULT_KEYS
    assert (stored["activityId"], stored["commerceId"]) == (created["id"], store["id"])
    assert (stored["source"], stored["status"], stored["externalStatus"]) == (
        "RETEN_ACTIVITY",
        "EFFECTIVE",
        "closed-won",
    )
    assert stored["occurredAt"] == OCCURRED and TIMESTAMP.match(stored["createdAt"])
    assert stored["taskResult"] == {
        "result": "SALE_COMPLETED",
        "comment": "Order placed",
        "contactType": "OUTBOUND",
        "operatorExternalId": "op-1",
        "futureScheduledAt": None,
        "payload": {"amount": 10},
    }
    uuid.UUID(stored["id"])
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["lifecycleStatus"], item["lifecycleStatusLabel"]) == (
        "COMPLETED",
        "COMPLETED",
        "Completada",
    )
    assert (item["resultStatus"], item["result"], item["occurredAt"]) == (
        "EFFECTIVE",
        "SALE_COMPLETED",
        OCCURRED,
    )
    assert item["canForceRetryDispatch"] is False
    detail = await activity(client, world.admin_a, created["id"])
    assert detail["status"] == "COMPLETED"
    events = await ok(client, world.admin_a, "GET", f"/api/activities/{created['id']}/status-events")
    assert [(e["eventType"], e["toStatus"]) for e in events][-1] == ("RESULT_RECEIVED", "COMPLETED")


async def test_second_result_conflicts_and_hard_override_replaces(client: Client, world: World) -> None:
    created, key, _ = await one_task(client, world)
    first = await submit(client, key, result_body(created, "EFFECTIVE"))
    again = result_body(created, "NOT_EFFECTIVE", task_result={"result": "NO_CONTACT"})
    conflict = assert_error(await client.post(RESULTS, headers={"x-api-key": key}, json=again), 409)
    assert conflict["activityId"] == created["id"] and conflict["error"] == "Conflict"
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"], item["result"]) == (
        "COMPLETED",
        "EFFECTIVE",
        "SALE_COMPLETED",
    )
    # A PENDING result is no way around it either.
    assert_error(
        await client.post(RESULTS, headers={"x-api-key": key}, json=result_body(created, "PENDING")), 409
    )

    replaced = await submit(
        client, key, {**again, "hard_override": True, "occurred_at": "2031-01-17T10:00:00.000Z"}
    )
    assert replaced["id"] == first["id"]  # one result per activity, replaced
    assert (replaced["status"], replaced["taskResult"]["result"]) == ("NOT_EFFECTIVE", "NO_CONTACT")
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["lifecycleStatus"], item["lifecycleStatusLabel"]) == (
        "COMPLETED",
        "COMPLETED",
        "Completada",
    )
    assert (item["resultStatus"], item["result"]) == ("NOT_EFFECTIVE", "NO_CONTACT")
    assert item["occurredAt"] == "2031-01-17T10:00:00.000Z" and item["canForceRetryDispatch"] is False
    assert (await activity(client, world.admin_a, created["id"]))["status"] == "COMPLETED"


async def test_concurrent_results_record_exactly_one(client: Client, world: World) -> None:
    created, key, _ = await one_task(client, world)
    bodies = [result_body(created, s) for s in ("EFFECTIVE", "NOT_EFFECTIVE", "EFFECTIVE", "NOT_EFFECTIVE")]
    responses = await asyncio.gather(
        *(client.post(RESULTS, headers={"x-api-key": key}, json=body) for body in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 201)
    (item,) = (await pull(client, key))["data"]
    assert item["resultStatus"] == winner["status"]
    events = await ok(client, world.admin_a, "GET", f"/api/activities/{created['id']}/status-events")
    assert [e["eventType"] for e in events].count("RESULT_RECEIVED") == 1


async def test_result_for_a_canceled_task(client: Client, world: World) -> None:
    created, key, _ = await one_task(client, world)
    await cancel(client, world.admin_a, created["id"])
    late = result_body(created, "EFFECTIVE")
    assert_error(await client.post(RESULTS, headers={"x-api-key": key}, json=late), 400)  # final status
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"], item["result"]) == ("CANCELLED", "PENDING", None)
    await submit(client, key, {**late, "hard_override": True})
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"], item["result"]) == (
        "COMPLETED",
        "EFFECTIVE",
        "SALE_COMPLETED",
    )


async def test_pending_result_leaves_the_task_open(client: Client, world: World) -> None:
    created, key, _ = await one_task(client, world)
    await submit(client, key, result_body(created, "PENDING", task_result={"result": "NOT_INTERESTED"}))
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"], item["result"]) == ("PENDING", "PENDING", "NOT_INTERESTED")
    assert item["occurredAt"] == OCCURRED
    await submit(client, key, result_body(created, "EFFECTIVE"))  # a PENDING result is not final
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"], item["result"]) == (
        "COMPLETED",
        "EFFECTIVE",
        "SALE_COMPLETED",
    )


async def test_flat_camel_case_body_is_refused_here(client: Client, world: World) -> None:
    created, key, _ = await one_task(client, world)
    flat = {
        "activityId": created["id"],
        "commerceExternalId": "store-001",
        "status": "COMPLETED",
        "resultTypeCode": "SALE_COMPLETED",
        "contactDirection": "OUTBOUND",
        "occurredAt": OCCURRED,
    }
    assert_error(await client.post(RESULTS, headers={"x-api-key": key}, json=flat), 400)
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"]) == ("PENDING", "PENDING")
    # The same body is a valid flat revision on /api/activity-results/tasks.
    stored = await ok(client, world.admin_a, "POST", "/api/activity-results/tasks", 201, json=flat)
    assert stored["activityId"] == created["id"]
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"]) == ("COMPLETED", "COMPLETED")


async def test_standalone_and_provider_matched_results(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    created, key, store = await one_task(client, world)
    standalone = await submit(client, key, result_body(None, "EFFECTIVE", provider_activity_id="ext-999"))
    assert (standalone["source"], standalone["activityId"]) == ("STANDALONE", None)
    assert (standalone["providerActivityId"], standalone["commerceId"]) == ("ext-999", store["id"])
    (item,) = (await pull(client, key))["data"]  # no new task, the task untouched
    assert (item["id"], item["resultStatus"]) == (created["id"], "PENDING")
    # Unknown commerce for a standalone result -> 404.
    unknown = result_body(None, "EFFECTIVE", provider_activity_id="ext-998", commerce_external_id="nope")
    assert_error(await client.post(RESULTS, headers={"x-api-key": key}, json=unknown), 404)
    # A provider id that matches a task records the result on it.
    await set_status(app_pool, world.tenant_a, created["id"], "DISPATCHED", provider_activity_id="prov-7")
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["providerActivityId"]) == ("IN_PROGRESS", "prov-7")
    matched = await submit(client, key, result_body(None, "NOT_EFFECTIVE", provider_activity_id="prov-7"))
    assert (matched["source"], matched["activityId"]) == ("RETEN_ACTIVITY", created["id"])
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"]) == ("COMPLETED", "NOT_EFFECTIVE")


async def test_submit_validation(client: Client, world: World) -> None:
    created, key, _ = await one_task(client, world)
    a = world.admin_a
    message = await create_activity(client, a, created["commerceAssignment"]["commerceId"])
    other_store = await commerce(client, a, "store-002")
    assert other_store["externalId"] == "store-002"

    async def refused(body: dict[str, Any], status: int) -> dict[str, Any]:
        return assert_error(await client.post(RESULTS, headers={"x-api-key": key}, json=body), status)

    await refused({**result_body(created, "EFFECTIVE"), "activity_id": str(uuid.uuid4())}, 404)
    await refused(result_body(created, "EFFECTIVE", task_result={"result": "NO_SUCH_CODE"}), 400)
    await refused(result_body(created, "EFFECTIVE", commerce_external_id="store-002"), 400)
    await refused(result_body(created, "EFFECTIVE", commerce_external_id="store-404"), 400)
    await refused({**result_body(created, "EFFECTIVE"), "activity_id": message["id"]}, 400)
    no_id = result_body(created, "EFFECTIVE")
    del no_id["activity_id"]
    await refused(no_id, 400)
    await refused(result_body(created, "DONE"), 400)
    await refused(result_body(created, "EFFECTIVE", tenant_id=str(world.tenant_a)), 400)
    await refused(result_body(created, "EFFECTIVE", occurred_at="2031-01-16T14:30:00"), 400)
    await refused({k: v for k, v in result_body(created, "EFFECTIVE").items() if k != "task_result"}, 400)
    await refused({**result_body(created, "EFFECTIVE"), "activity_id": "not-a-uuid"}, 400)
    # RESCHEDULE requires a future date.
    reschedule = {"result": "RESCHEDULE"}
    await refused(result_body(created, "EFFECTIVE", task_result=reschedule), 400)
    past = {**reschedule, "future_scheduled_at": "2020-01-01T00:00:00Z"}
    await refused(result_body(created, "EFFECTIVE", task_result=past), 400)
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"]) == ("PENDING", "PENDING")  # nothing was recorded
    future = {**reschedule, "future_scheduled_at": "2032-01-01T09:00:00Z"}
    stored = await submit(client, key, result_body(created, "EFFECTIVE", task_result=future))
    assert stored["taskResult"]["futureScheduledAt"] == "2032-01-01T09:00:00.000Z"
    # A deactivated result type is no longer accepted.
    second = await task(
        client,
        a,
        created["commerceAssignment"]["commerceId"],
        created["taskDetails"]["routeId"],
        created["taskDetails"]["operatorId"],
    )
    types = {t["code"]: t for t in await ok(client, a, "GET", TYPES)}
    await ok(client, a, "DELETE", f"{TYPES}/{types['NOT_INTERESTED']['id']}", 204)
    await refused(result_body(second, "NOT_EFFECTIVE", task_result={"result": "NOT_INTERESTED"}), 400)


# ---------------------------------------------------------------------------------------------------
# Result-type configs
# ---------------------------------------------------------------------------------------------------
async def test_result_type_configs(client: Client, world: World, app_pool: asyncpg.Pool) -> None:
    a = world.admin_a
    key = await key_of(client, a, ("VIEW_ACTIVITIES",))
    response = await client.get(CONFIGS, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    configs = response.json()
    assert isinstance(configs, list)  # a bare array, no pagination wrapper
    assert all(set(c) == {"code", "label", "requiresFutureScheduledAt"} for c in configs)
    assert {c["code"]: c["requiresFutureScheduledAt"] for c in configs} == {
        "SALE_COMPLETED": False,
        "NOT_INTERESTED": False,
        "RESCHEDULE": True,
        "NO_CONTACT": False,
    }
    admin = {t["code"]: t for t in await ok(client, a, "GET", TYPES)}
    assert all(c["label"] == admin[c["code"]]["label"] and c["label"] for c in configs)

    async def db_order() -> list[str]:
        sql = "select code from app.task_result_types where is_active order by code"
        return [r["code"] for r in await as_tenant(app_pool, world.tenant_a, sql)]

    assert [c["code"] for c in configs] == await db_order()  # by code (the database's collation)
    # Deactivated types disappear; new ones appear.
    await ok(client, a, "DELETE", f"{TYPES}/{admin['NO_CONTACT']['id']}", 204)
    await ok(
        client,
        a,
        "POST",
        TYPES,
        201,
        json={"code": "CALL_BACK", "label": "Volver a llamar", "requires_future_scheduled_at": True},
    )
    configs = (await client.get(CONFIGS, headers={"x-api-key": key})).json()
    assert [c["code"] for c in configs] == await db_order()
    assert {c["code"] for c in configs} == SEEDED_CODES - {"NO_CONTACT"} | {"CALL_BACK"}
    assert {"code": "CALL_BACK", "label": "Volver a llamar", "requiresFutureScheduledAt": True} in configs
    # Query parameters change nothing (no pagination).
    paged = (await client.get(CONFIGS, headers={"x-api-key": key}, params={"page": 2, "per_page": 1})).json()
    assert paged == configs


@pytest.mark.parametrize("status", ["COMPLETED", "NOT_EXECUTED", "CANCELED", "TRANSFERRED", "DONE"])
async def test_the_integration_route_takes_its_own_status_vocabulary(
    client: Client, world: World, status: str
) -> None:
    """CONTRACT.md §6 (revised): EFFECTIVE, NOT_EFFECTIVE, PENDING only; the answer names them."""
    created, key, _ = await one_task(client, world)
    response = await client.post(RESULTS, headers={"x-api-key": key}, json=result_body(created, status))
    body = assert_error(response, 400)
    assert body["message"] == "status: must be one of EFFECTIVE, NOT_EFFECTIVE, PENDING", body
    (item,) = (await pull(client, key))["data"]
    assert (item["status"], item["resultStatus"]) == ("PENDING", "PENDING")
