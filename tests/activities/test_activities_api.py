"""API tests of /api/activities: shapes, permissions, tenant isolation, validation, idempotency (with a real
concurrent burst), task assignment rules, target and attribute resolution, manual assignment, cancel,
list filters and pagination, and API-key access."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from conftest import Actor, World, add_user, assert_error

from activities.helpers import (
    SCHEDULED,
    Client,
    activity_body,
    burst,
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

URL = "/api/activities"
CONFIG_URL = "/api/activity-config/target-resolution"
ACTIVITY_KEYS = {
    "id", "type", "channel", "status", "reason", "userStatus", "score", "idempotencyKey", "scheduledAt",
    "suggestedExecutionTime", "assignmentReason", "providerActivityId", "dispatchAttemptCount", "lastError",
    "cancelReason", "taskDetails", "commerceAssignment", "createdAt", "updatedAt",
}  # fmt: skip
EVENT_KEYS = {"id", "eventType", "fromStatus", "toStatus", "errorCode", "errorMessage", "occurredAt"}
TARGET_KEYS = {
    "id", "activityId", "commerceUserId", "resolutionStatus", "resolutionStrategy", "lockReason",
    "errorMessage", "resolvedAt", "lockedAt", "commerceUser", "createdAt", "updatedAt",
}  # fmt: skip
ATTRIBUTE_KEYS = {
    "id", "activityId", "attributeKeyId", "key", "value", "resolutionStatus", "resolverType", "resolvedAt",
    "errorMessage", "createdAt", "updatedAt",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Local helpers
# ---------------------------------------------------------------------------------------------------
async def call(client: Client, actor: Actor, method: str, url: str, **kwargs: Any) -> httpx.Response:
    return await client.request(method, url, headers=actor.headers(), **kwargs)


async def target_of(client: Client, actor: Actor, activity_id: str) -> dict[str, Any]:
    """The activity's one target user."""
    targets = await ok(client, actor, "GET", f"{URL}/{activity_id}/target-users")
    assert len(targets) == 1, targets
    return targets[0]


async def attrs_of(client: Client, actor: Actor, activity_id: str) -> dict[str, dict[str, Any]]:
    return {a["key"]: a for a in await ok(client, actor, "GET", f"{URL}/{activity_id}/attributes")}


async def status_of(client: Client, actor: Actor, activity_id: str) -> str:
    return (await ok(client, actor, "GET", f"{URL}/{activity_id}"))["status"]


def moves(evts: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [(e["eventType"], e["fromStatus"], e["toStatus"]) for e in evts]


async def patch_seeded_config(client: Client, actor: Actor, **fields: Any) -> dict[str, Any]:
    """The tenant's only active config: the built-in default, made explicit and then changed."""
    configs = await ok(client, actor, "GET", CONFIG_URL)
    assert configs == [], configs
    config = await first_config(client, actor)
    return await ok(client, actor, "PATCH", f"{CONFIG_URL}/{config['id']}", json=fields)


async def set_policy(
    client: Client, actor: Actor, key: str, strategy: str, resolver: str, **extra: Any
) -> None:
    keys = await ok(client, actor, "GET", "/api/activity-config/attribute-keys")
    key_id = next(k["id"] for k in keys if k["key"] == key)
    body = {"attribute_key_id": key_id, "resolution_strategy": strategy, "resolver_type": resolver, **extra}
    await ok(client, actor, "POST", "/api/activity-config/attribute-policies", json=body)


async def listed(client: Client, actor: Actor, **params: Any) -> dict[str, Any]:
    return await ok(client, actor, "GET", URL, params=params)


async def listed_ids(client: Client, actor: Actor, **params: Any) -> list[str]:
    page = await listed(client, actor, **params)
    assert page["meta"]["total"] == len(page["data"]), page["meta"]
    return [a["id"] for a in page["data"]]


async def deactivate_person(client: Client, actor: Actor, store: dict[str, Any], external_id: str) -> None:
    url = f"/api/commerces/{store['id']}/users/{person(store, external_id)}"
    await ok(client, actor, "DELETE", url, 204)


# ---------------------------------------------------------------------------------------------------
# Shapes, permissions, tenant isolation
# ---------------------------------------------------------------------------------------------------
async def test_create_answers_the_activity_as_get_does(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    body = activity_body(
        store["id"],
        scheduled_at="2031-01-16T11:00:00+02:00",
        suggested_execution_time="2031-01-16T10:30:00.123-03:00",
        user_status="AT_RISK",
        score=87,
        assignment_reason="High churn score",
    )
    response = await call(client, actor, "POST", URL, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == ACTIVITY_KEYS
    uuid.UUID(created["id"])
    assert created["type"] == "MESSAGE" and created["channel"] == "WHATSAPP" and created["status"] == "READY"
    assert created["scheduledAt"] == "2031-01-16T09:00:00.000Z"
    assert created["suggestedExecutionTime"] == "2031-01-16T13:30:00.123Z"
    assert created["userStatus"] == {"code": "AT_RISK", "label": "AT_RISK"}
    assert created["score"] == 87 and created["assignmentReason"] == "High churn score"
    assert created["idempotencyKey"] == body["idempotency_key"]
    assert created["taskDetails"] is None and created["cancelReason"] is None
    assert created["dispatchAttemptCount"] == 0 and created["providerActivityId"] is None
    assert created["commerceAssignment"] == {
        "commerceId": store["id"],
        "commerce": {"name": "Store store-001", "externalId": "store-001"},
    }
    assert created["createdAt"].endswith("Z") and len(created["createdAt"]) == 24
    assert await ok(client, actor, "GET", f"{URL}/{created['id']}") == created


async def test_sub_resources_have_their_documented_keys(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"], attribute_keys=["commerce_info"])
    evts = await events(client, actor, activity["id"])
    assert [set(e) for e in evts] == [EVENT_KEYS]
    assert moves(evts) == [("CREATED", None, "READY")]
    target = await target_of(client, actor, activity["id"])
    assert set(target) == TARGET_KEYS
    assert target["activityId"] == activity["id"]
    assert target["commerceUser"] == {"firstName": "P1", "lastName": "Person"}
    attrs = await ok(client, actor, "GET", f"{URL}/{activity['id']}/attributes")
    assert [set(a) for a in attrs] == [ATTRIBUTE_KEYS]
    assert attrs[0]["activityId"] == activity["id"] and attrs[0]["key"] == "commerce_info"


async def test_permissions_by_role(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor)
    activity = await create_activity(client, actor, store["id"])
    target = await target_of(client, actor, activity["id"])
    viewer = await add_user(client, actor, "viewer@a.test", ["VIEWER"])
    fde = await add_user(client, actor, "fde@a.test", ["FDE"])
    aid = activity["id"]
    for url in (URL, f"{URL}/{aid}", f"{URL}/{aid}/status-events", f"{URL}/{aid}/target-users"):
        assert (await call(client, viewer, "GET", url)).status_code == 200, url
    assert (await call(client, viewer, "GET", f"{URL}/{aid}/attributes")).status_code == 200
    resolve = {"commerce_user_id": person(store, "p0")}
    task = activity_body(store["id"], assigned_route_id=route_id, assigned_operator_id=operator_id)
    task.pop("type")
    for method, url, kwargs in (
        ("POST", URL, {"json": activity_body(store["id"])}),
        ("POST", f"{URL}/tasks", {"json": task}),
        ("PATCH", f"{URL}/{aid}/retry-resolution", {}),
        ("PATCH", f"{URL}/{aid}/target-users/{target['id']}/resolve", {"json": resolve}),
        ("PATCH", f"{URL}/{aid}/cancel", {}),
    ):
        assert_error(await call(client, viewer, method, url, **kwargs), 403)
    assert (await call(client, fde, "POST", URL, json=activity_body(store["id"]))).status_code == 201
    assert (await call(client, fde, "POST", f"{URL}/tasks", json=task)).status_code == 201
    # FDE holds CREATE_ACTIVITY: refused by the rules (400), not by permission.
    assert_error(await call(client, fde, "PATCH", f"{URL}/{aid}/retry-resolution"), 400)
    resolve_url = f"{URL}/{aid}/target-users/{target['id']}/resolve"
    assert_error(await call(client, fde, "PATCH", resolve_url, json=resolve), 400)
    assert_error(await call(client, fde, "PATCH", f"{URL}/{aid}/cancel"), 403)
    assert_error(await call(client, fde, "PATCH", f"{URL}/{aid}/cancel", json={"reason": "x"}), 403)
    assert await status_of(client, actor, aid) == "READY"
    assert moves(await events(client, actor, aid)) == [("CREATED", None, "READY")]


async def test_another_tenants_admin_gets_404_on_every_id_route(client: Client, world: World) -> None:
    actor, other = world.admin_a, world.admin_b
    store = await commerce(client, actor, roles=(("FINANCE",),))
    other_store = await commerce(client, other, roles=(("OWNER",),))
    activity = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert activity["status"] == "UNRESOLVED"
    target = await target_of(client, actor, activity["id"])
    aid = activity["id"]
    for method, url, kwargs in (
        ("GET", f"{URL}/{aid}", {}),
        ("GET", f"{URL}/{aid}/status-events", {}),
        ("GET", f"{URL}/{aid}/target-users", {}),
        ("GET", f"{URL}/{aid}/attributes", {}),
        ("PATCH", f"{URL}/{aid}/cancel", {}),
        ("PATCH", f"{URL}/{aid}/cancel", {"json": {"reason": "x"}}),
        ("PATCH", f"{URL}/{aid}/retry-resolution", {}),
        (
            "PATCH",
            f"{URL}/{aid}/target-users/{target['id']}/resolve",
            {"json": {"commerce_user_id": person(other_store, "p0")}},
        ),
    ):
        assert_error(await call(client, other, method, url, **kwargs), 404)
    assert (await listed(client, other))["data"] == []
    assert await status_of(client, actor, aid) == "UNRESOLVED"
    assert [e["eventType"] for e in await events(client, actor, aid)] == ["CREATED", "RESOLUTION_FAILED"]
    assert (await target_of(client, actor, aid))["resolutionStatus"] == "FAILED"


async def test_malformed_uuid_in_path_is_400(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"])
    aid = activity["id"]
    for method, url in (
        ("GET", f"{URL}/not-a-uuid"),
        ("GET", f"{URL}/1234/status-events"),
        ("GET", f"{URL}/xyz/target-users"),
        ("GET", f"{URL}/xyz/attributes"),
        ("PATCH", f"{URL}/xyz/cancel"),
        ("PATCH", f"{URL}/xyz/retry-resolution"),
        ("PATCH", f"{URL}/{aid}/target-users/nope/resolve"),
    ):
        assert_error(await call(client, actor, method, url), 400)
    unknown = str(uuid.uuid4())
    assert_error(await call(client, actor, "GET", f"{URL}/{unknown}"), 404)
    assert_error(await call(client, actor, "PATCH", f"{URL}/{unknown}/cancel"), 404)


REMOVE = object()
INVALID_BODIES: dict[str, dict[str, Any]] = {
    "unknown_field": {"priority_boost": 1},
    "server_owned_field": {"status": "COMPLETED"},
    "bad_type": {"type": "CALL"},
    "bad_channel": {"channel": "FAX"},
    "lowercase_channel": {"channel": "whatsapp"},
    "missing_type": {"type": REMOVE},
    "missing_reason": {"reason": REMOVE},
    "missing_channel": {"channel": REMOVE},
    "missing_commerce": {"commerce_id": REMOVE},
    "missing_idempotency_key": {"idempotency_key": REMOVE},
    "missing_scheduled_at": {"scheduled_at": REMOVE},
    "naive_scheduled_at": {"scheduled_at": "2031-01-16T09:00:00"},
    "naive_suggested_time": {"suggested_execution_time": "2031-01-16T09:00:00.000"},
    "date_only": {"scheduled_at": "2031-01-16"},
    "key_too_long": {"idempotency_key": "k" * 256},
    "key_control_char": {"idempotency_key": "bad\x01key"},
    "key_newline": {"idempotency_key": "bad\nkey"},
    "key_non_ascii": {"idempotency_key": "clé-1"},
    "key_empty": {"idempotency_key": ""},
    "blank_reason": {"reason": "   "},
    "malformed_commerce_id": {"commerce_id": "store-001"},
    "score_out_of_range": {"score": 2**31},
    "role_match_without_role": {"target_criteria": [{"type": "ROLE_MATCH", "priority": 0}]},
    "unknown_criterion": {"target_criteria": [{"type": "RANDOM", "priority": 0}]},
    "unknown_role": {"target_criteria": [{"type": "ROLE_MATCH", "config": {"role": "CEO"}}]},
    "attribute_key_too_long": {"attribute_keys": ["k" * 65]},
    "attribute_unknown_field": {"attributes": [{"key": "promotions", "default": 1}]},
}


@pytest.mark.parametrize("change", INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
async def test_invalid_create_body_is_400_and_writes_nothing(
    client: Client, world: World, change: dict[str, Any]
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    body = activity_body(store["id"])
    for name, value in change.items():
        if value is REMOVE:
            body.pop(name)
        else:
            body[name] = value
    assert_error(await call(client, actor, "POST", URL, json=body), 400)
    assert (await listed(client, actor))["meta"]["total"] == 0


async def test_longest_printable_key_is_accepted(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    key = "".join(chr(32 + n % 95) for n in range(255))
    created = await create_activity(client, actor, store["id"], idempotency_key=key)
    assert created["idempotencyKey"] == key


async def test_unknown_or_foreign_commerce_is_404_commerce_not_found(client: Client, world: World) -> None:
    """The create page's error table: 404 "Commerce not found" (also on the task route)."""
    actor = world.admin_a
    other_store = await commerce(client, world.admin_b)
    for commerce_id in (str(uuid.uuid4()), other_store["id"]):
        response = await call(client, actor, "POST", URL, json=activity_body(commerce_id))
        assert assert_error(response, 404)["message"] == "Commerce not found"
        body = {k: v for k, v in activity_body(commerce_id, channel="SALESMAN").items() if k != "type"}
        body["assigned_route_id"] = body["assigned_operator_id"] = str(uuid.uuid4())
        response = await call(client, actor, "POST", f"{URL}/tasks", json=body)
        assert assert_error(response, 404)["message"] == "Commerce not found"
    assert (await listed(client, actor))["meta"]["total"] == 0


# ---------------------------------------------------------------------------------------------------
# Idempotency
# ---------------------------------------------------------------------------------------------------
async def test_concurrent_creates_with_one_key_make_exactly_one_activity(
    client: Client, world: World
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    key = f"race-{uuid.uuid4()}"
    body = activity_body(store["id"], idempotency_key=key)
    responses, peak = await burst(client, URL, actor.headers(), body, 50)
    assert peak > 1, "the requests did not overlap"
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 49, statuses
    winner = next(r.json() for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            assert assert_error(response, 409)["activityId"] == winner["id"]
    page = await listed(client, actor, search=key)
    assert [a["id"] for a in page["data"]] == [winner["id"]] and page["meta"]["total"] == 1
    assert (await listed(client, actor))["meta"]["total"] == 1
    assert moves(await events(client, actor, winner["id"])) == [("CREATED", None, "READY")]
    assert len(await ok(client, actor, "GET", f"{URL}/{winner['id']}/target-users")) == 1
    # The key is unique per tenant, not globally.
    other_store = await commerce(client, world.admin_b)
    response = await call(
        client, world.admin_b, "POST", URL, json=activity_body(other_store["id"], idempotency_key=key)
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"] != winner["id"]


async def test_sequential_repeat_is_409_with_the_existing_id(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    first = await create_activity(client, actor, store["id"], idempotency_key="order-42")
    different = activity_body(store["id"], idempotency_key="order-42", channel="EMAIL", reason="Other")
    body = assert_error(await call(client, actor, "POST", URL, json=different), 409)
    assert body["activityId"] == first["id"]
    same = activity_body(store["id"], idempotency_key="order-42")
    assert assert_error(await call(client, actor, "POST", URL, json=same), 409)["activityId"] == first["id"]
    route_id, operator_id = await route_with_operator(client, actor)
    task = activity_body(
        store["id"], idempotency_key="order-42", assigned_route_id=route_id, assigned_operator_id=operator_id
    )
    task.pop("type")
    assert (
        assert_error(await call(client, actor, "POST", f"{URL}/tasks", json=task), 409)["activityId"]
        == (first["id"])
    )
    assert await listed_ids(client, actor) == [first["id"]]
    stored = await ok(client, actor, "GET", f"{URL}/{first['id']}")
    assert stored["channel"] == "WHATSAPP" and stored["reason"]["code"] == "Monthly promotion"


# ---------------------------------------------------------------------------------------------------
# Tasks: route and operator
# ---------------------------------------------------------------------------------------------------
def task_body(commerce_id: str, route_id: Any, operator_id: Any, **fields: Any) -> dict[str, Any]:
    body = activity_body(
        commerce_id,
        channel="SALESMAN",
        assigned_route_id=route_id,
        assigned_operator_id=operator_id,
        **fields,
    )
    body.pop("type")
    return {k: v for k, v in body.items() if v is not REMOVE}


async def test_task_endpoint_answers_the_task_with_its_route(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor, "R9")
    task = await create_task(client, actor, store["id"], route_id, operator_id)
    assert set(task) == ACTIVITY_KEYS and task["type"] == "TASK" and task["channel"] == "SALESMAN"
    assert task["taskDetails"] == {
        "routeId": route_id,
        "operatorId": operator_id,
        "route": {"name": "Route R9"},
        "operator": {"name": "Op R9"},
    }
    assert await ok(client, actor, "GET", f"{URL}/{task['id']}") == task


async def test_task_endpoint_requires_route_and_operator(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor)
    for body in (
        task_body(store["id"], REMOVE, operator_id),
        task_body(store["id"], route_id, REMOVE),
        task_body(store["id"], REMOVE, REMOVE),
        task_body(store["id"], None, operator_id),
        {**task_body(store["id"], route_id, operator_id), "type": "TASK"},  # /tasks takes no type
    ):
        assert_error(await call(client, actor, "POST", f"{URL}/tasks", json=body), 400)
    assert (await listed(client, actor))["meta"]["total"] == 0


async def test_task_assignment_rules(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor, "R1")
    other_route, other_operator = await route_with_operator(client, actor, "R2")
    dead_route, dead_route_op = await route_with_operator(client, actor, "R3")
    await ok(client, actor, "DELETE", f"/api/routes/{dead_route}", 204)
    live_route, dead_operator = await route_with_operator(client, actor, "R4")
    await ok(client, actor, "DELETE", f"/api/operators/{dead_operator}", 204)
    b_route, b_operator = await route_with_operator(client, world.admin_b, "RB")
    unknown = str(uuid.uuid4())
    for route, operator, field in (
        (unknown, operator_id, "assigned_route_id"),
        (route_id, unknown, "assigned_operator_id"),
        (dead_route, dead_route_op, "assigned_route_id"),
        (live_route, dead_operator, "assigned_operator_id"),
        (route_id, other_operator, "assigned_operator_id"),  # not assigned to the route
        (other_route, operator_id, "assigned_operator_id"),
        (b_route, operator_id, "assigned_route_id"),  # another tenant's route
        (route_id, b_operator, "assigned_operator_id"),
        (b_route, b_operator, "assigned_route_id"),
    ):
        for url, body in (
            (f"{URL}/tasks", task_body(store["id"], route, operator)),
            (
                URL,
                activity_body(
                    store["id"], type="TASK", assigned_route_id=route, assigned_operator_id=operator
                ),
            ),
        ):
            error = assert_error(await call(client, actor, "POST", url, json=body), 400)
            assert error["message"].startswith(field), (route, operator, error)
    assert (await listed(client, actor))["meta"]["total"] == 0


async def test_generic_endpoint_route_rules(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor)
    message = activity_body(store["id"], assigned_route_id=route_id, assigned_operator_id=operator_id)
    assert assert_error(await call(client, actor, "POST", URL, json=message), 400)["message"].startswith(
        "assigned_route_id"
    )
    only_route = activity_body(store["id"], type="TASK", channel="SALESMAN", assigned_route_id=route_id)
    assert_error(await call(client, actor, "POST", URL, json=only_route), 400)
    bare = await create_activity(client, actor, store["id"], type="TASK", channel="SALESMAN")
    assert bare["taskDetails"] == {"routeId": None, "operatorId": None, "route": None, "operator": None}
    full = await create_activity(
        client, actor, store["id"], type="TASK", assigned_route_id=route_id, assigned_operator_id=operator_id
    )
    assert full["taskDetails"]["route"] == {"name": "Route R1"} and full["taskDetails"]["routeId"] == route_id
    assert await listed_ids(client, actor, type="TASK") == sorted([bare["id"], full["id"]])


# ---------------------------------------------------------------------------------------------------
# Target resolution
# ---------------------------------------------------------------------------------------------------
async def test_default_config_targets_the_commerce_rep(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, roles=(("OWNER",), ("COMMERCE_REP",), ("FINANCE",)))
    activity = await create_activity(client, actor, store["id"])
    target = await target_of(client, actor, activity["id"])
    assert target["commerceUserId"] == person(store, "p1")
    assert (target["resolutionStatus"], target["resolutionStrategy"], target["lockReason"]) == (
        "LOCKED",
        "ON_CREATION",
        "CRITERIA_MATCH",
    )
    assert target["lockedAt"] and target["resolvedAt"] and target["errorMessage"] is None


async def test_target_criteria_override(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, roles=(("OWNER",), ("COMMERCE_REP",), ("FINANCE",)))
    finance = [{"type": "ROLE_MATCH", "config": {"role": "FINANCE"}, "priority": 0}]
    activity = await create_activity(client, actor, store["id"], target_criteria=finance)
    target = await target_of(client, actor, activity["id"])
    assert (target["commerceUserId"], target["lockReason"]) == (person(store, "p2"), "CRITERIA_MATCH")
    by_priority = [
        {"type": "ROLE_MATCH", "config": {"role": "FINANCE"}, "priority": 5},
        {"type": "ROLE_MATCH", "config": {"role": "OWNER"}, "priority": 1},
    ]
    activity = await create_activity(client, actor, store["id"], target_criteria=by_priority)
    assert (await target_of(client, actor, activity["id"]))["commerceUserId"] == person(store, "p0")
    await deactivate_person(client, actor, store, "p2")  # an inactive person never matches
    activity = await create_activity(client, actor, store["id"], target_criteria=finance)
    target = await target_of(client, actor, activity["id"])
    assert (target["commerceUserId"], target["lockReason"]) == (person(store, "p1"), "FALLBACK_COMMERCE_REP")


async def test_fallbacks_rep_then_owner(client: Client, world: World) -> None:
    actor = world.admin_a
    attention = [{"type": "ROLE_MATCH", "config": {"role": "ATTENTION"}, "priority": 0}]
    with_rep = await commerce(client, actor, "s1", roles=(("OWNER",), ("FINANCE",), ("COMMERCE_REP",)))
    activity = await create_activity(client, actor, with_rep["id"], target_criteria=attention)
    target = await target_of(client, actor, activity["id"])
    assert (target["commerceUserId"], target["lockReason"]) == (
        person(with_rep, "p2"),
        "FALLBACK_COMMERCE_REP",
    )
    no_rep = await commerce(client, actor, "s2", roles=(("FINANCE",), ("OWNER",)))
    activity = await create_activity(client, actor, no_rep["id"], target_criteria=attention)
    target = await target_of(client, actor, activity["id"])
    assert (target["commerceUserId"], target["lockReason"]) == (person(no_rep, "p1"), "FALLBACK_OWNER")
    # The built-in default (ROLE_MATCH COMMERCE_REP, no config) on a store without a rep falls to the owner.
    activity = await create_activity(client, actor, no_rep["id"])
    assert (await target_of(client, actor, activity["id"]))["lockReason"] == "FALLBACK_OWNER"
    assert activity["status"] == "READY"


async def test_no_match_without_fallbacks_leaves_the_activity_unresolved(
    client: Client, world: World
) -> None:
    actor = world.admin_a
    config = await patch_seeded_config(client, actor, fallback_to_commerce_rep=False, fallback_to_owner=False)
    assert (config["fallbackToCommerceRep"], config["fallbackToOwner"]) == (False, False)
    store = await commerce(client, actor, roles=(("OWNER",), ("FINANCE",)))
    activity = await create_activity(client, actor, store["id"])
    assert activity["status"] == "UNRESOLVED"
    target = await target_of(client, actor, activity["id"])
    assert target["resolutionStatus"] == "FAILED" and target["commerceUserId"] is None
    assert target["lockReason"] is None and target["errorMessage"] and target["commerceUser"] is None
    evts = await events(client, actor, activity["id"])
    assert moves(evts) == [("CREATED", None, "READY"), ("RESOLUTION_FAILED", "READY", "UNRESOLVED")]
    assert evts[0]["errorMessage"] is None and evts[1]["errorMessage"]
    # With a rep the fallback is still off, but a criterion match still works.
    rep = await commerce(client, actor, "s2", roles=(("COMMERCE_REP",),))
    assert (await create_activity(client, actor, rep["id"]))["status"] == "READY"


async def test_last_contacted_criteria_follow_the_latest_completed_activity(
    client: Client, world: World
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, roles=(("OWNER",), ("COMMERCE_REP",), ("FINANCE",), ("ATTENTION",)))

    def role(name: str) -> list[dict[str, Any]]:
        return [{"type": "ROLE_MATCH", "config": {"role": name}, "priority": 0}]

    async def target_by(criterion: str | None, channel: str, kind: str = "MESSAGE") -> tuple[str, str]:
        criteria = [{"type": criterion, "priority": 0}] if criterion else None
        activity = await create_activity(
            client, actor, store["id"], type=kind, channel=channel, target_criteria=criteria
        )
        target = await target_of(client, actor, activity["id"])
        return target["commerceUserId"], target["lockReason"]

    first = await create_activity(
        client, actor, store["id"], type="TASK", channel="SALESMAN", target_criteria=role("FINANCE")
    )
    await ok(client, actor, "POST", "/api/activity-results/tasks", 201, json=result_body(first))
    assert await status_of(client, actor, first["id"]) == "COMPLETED"
    # A later activity that is not completed does not count as a contact.
    await create_activity(client, actor, store["id"], channel="WHATSAPP", target_criteria=role("ATTENTION"))
    finance, rep, owner = person(store, "p2"), person(store, "p1"), person(store, "p0")
    assert await target_by("LAST_CONTACTED_ALL_CHANNELS", "WHATSAPP") == (finance, "CRITERIA_MATCH")
    assert await target_by("LAST_CONTACTED_SAME_CHANNEL", "WHATSAPP") == (rep, "FALLBACK_COMMERCE_REP")
    assert await target_by("LAST_CONTACTED_SAME_CHANNEL", "SALESMAN", "TASK") == (finance, "CRITERIA_MATCH")
    second = await create_activity(
        client, actor, store["id"], type="TASK", channel="CALLCENTER", target_criteria=role("OWNER")
    )
    await ok(client, actor, "POST", "/api/activity-results/tasks", 201, json=result_body(second))
    assert await target_by("LAST_CONTACTED_ALL_CHANNELS", "EMAIL") == (owner, "CRITERIA_MATCH")
    assert await target_by("LAST_CONTACTED_SAME_CHANNEL", "SALESMAN", "TASK") == (finance, "CRITERIA_MATCH")
    assert await target_by("LAST_CONTACTED_SAME_CHANNEL", "CALLCENTER") == (owner, "CRITERIA_MATCH")
    # The same criterion from the tenant's config rather than the request.
    await patch_seeded_config(
        client, actor, criteria=[{"type": "LAST_CONTACTED_ALL_CHANNELS", "priority": 0}]
    )
    assert await target_by(None, "SMS") == (owner, "CRITERIA_MATCH")
    # Another commerce has no contact history: the fallback applies.
    other = await commerce(client, actor, "s2")
    activity = await create_activity(client, actor, other["id"])
    target = await target_of(client, actor, activity["id"])
    assert (target["commerceUserId"], target["lockReason"]) == (person(other, "p1"), "FALLBACK_COMMERCE_REP")


@pytest.mark.parametrize("strategy", ["ON_DISPATCH", "MANUAL"])
async def test_deferred_strategies_leave_the_target_pending(
    client: Client, world: World, strategy: str
) -> None:
    actor = world.admin_a
    await patch_seeded_config(client, actor, resolution_strategy=strategy)
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"])
    assert activity["status"] == "READY"
    target = await target_of(client, actor, activity["id"])
    assert (target["resolutionStatus"], target["resolutionStrategy"]) == ("PENDING", strategy)
    assert target["commerceUserId"] is None and target["lockReason"] is None and target["lockedAt"] is None
    assert moves(await events(client, actor, activity["id"])) == [("CREATED", None, "READY")]


async def test_manual_resolve_locks_a_pending_target(client: Client, world: World) -> None:
    actor = world.admin_a
    await patch_seeded_config(client, actor, resolution_strategy="MANUAL")
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"])
    target = await target_of(client, actor, activity["id"])
    url = f"{URL}/{activity['id']}/target-users/{target['id']}/resolve"
    fde = await add_user(client, actor, "fde@a.test", ["FDE"])
    resolved = await ok(client, fde, "PATCH", url, json={"commerce_user_id": person(store, "p0")})
    assert set(resolved) == TARGET_KEYS
    assert resolved["id"] == target["id"] and resolved["commerceUserId"] == person(store, "p0")
    assert (resolved["resolutionStatus"], resolved["lockReason"]) == ("LOCKED", "MANUAL_ASSIGNMENT")
    assert resolved["resolutionStrategy"] == "MANUAL" and resolved["lockedAt"]
    assert resolved["commerceUser"] == {"firstName": "P0", "lastName": "Person"}
    assert await target_of(client, actor, activity["id"]) == resolved
    assert await status_of(client, actor, activity["id"]) == "READY"
    again = await call(client, actor, "PATCH", url, json={"commerce_user_id": person(store, "p1")})
    assert_error(again, 400)
    assert (await target_of(client, actor, activity["id"]))["commerceUserId"] == person(store, "p0")


async def test_manual_resolve_rejections(client: Client, world: World) -> None:
    actor = world.admin_a
    await patch_seeded_config(client, actor, resolution_strategy="MANUAL")
    store = await commerce(client, actor, roles=(("OWNER",), ("COMMERCE_REP",)))
    other = await commerce(client, actor, "s2")
    foreign = await commerce(client, world.admin_b)
    activity = await create_activity(client, actor, store["id"])
    target = await target_of(client, actor, activity["id"])
    url = f"{URL}/{activity['id']}/target-users/{target['id']}/resolve"
    for body, status in (
        ({"commerce_user_id": person(other, "p0")}, 404),
        ({"commerce_user_id": person(foreign, "p0")}, 404),
        ({"commerce_user_id": str(uuid.uuid4())}, 404),
        ({}, 400),
        ({"commerce_user_id": "p0"}, 400),
        ({"commerce_user_id": person(store, "p0"), "lock_reason": "CRITERIA_MATCH"}, 400),
    ):
        assert_error(await call(client, actor, "PATCH", url, json=body), status)
    await deactivate_person(client, actor, store, "p1")
    inactive = {"commerce_user_id": person(store, "p1")}
    assert_error(await call(client, actor, "PATCH", url, json=inactive), 400)
    unknown_target = f"{URL}/{activity['id']}/target-users/{uuid.uuid4()}/resolve"
    assert_error(
        await call(client, actor, "PATCH", unknown_target, json={"commerce_user_id": person(store, "p0")}),
        404,
    )
    # A target of another activity is not this activity's target.
    sibling = await create_activity(client, actor, store["id"])
    sibling_target = await target_of(client, actor, sibling["id"])
    crossed = f"{URL}/{activity['id']}/target-users/{sibling_target['id']}/resolve"
    assert_error(
        await call(client, actor, "PATCH", crossed, json={"commerce_user_id": person(store, "p0")}), 404
    )
    assert (await target_of(client, actor, activity["id"]))["resolutionStatus"] == "PENDING"
    assert (await target_of(client, actor, sibling["id"]))["resolutionStatus"] == "PENDING"
    await ok(client, actor, "PATCH", f"{URL}/{activity['id']}/cancel", 204)
    assert_error(await call(client, actor, "PATCH", url, json={"commerce_user_id": person(store, "p0")}), 400)


async def test_manual_resolve_then_retry_makes_the_activity_ready(client: Client, world: World) -> None:
    actor = world.admin_a
    await patch_seeded_config(client, actor, fallback_to_commerce_rep=False, fallback_to_owner=False)
    store = await commerce(client, actor, roles=(("FINANCE",),))
    activity = await create_activity(client, actor, store["id"])
    assert activity["status"] == "UNRESOLVED"
    target = await target_of(client, actor, activity["id"])
    assert target["resolutionStatus"] == "FAILED"
    url = f"{URL}/{activity['id']}/target-users/{target['id']}/resolve"
    resolved = await ok(client, actor, "PATCH", url, json={"commerce_user_id": person(store, "p0")})
    assert (resolved["resolutionStatus"], resolved["lockReason"]) == ("LOCKED", "MANUAL_ASSIGNMENT")
    assert resolved["errorMessage"] is None
    assert await status_of(client, actor, activity["id"]) == "UNRESOLVED"
    retried = await ok(client, actor, "PATCH", f"{URL}/{activity['id']}/retry-resolution")
    assert set(retried) == ACTIVITY_KEYS and retried["status"] == "READY"
    assert moves(await events(client, actor, activity["id"])) == [
        ("CREATED", None, "READY"),
        ("RESOLUTION_FAILED", "READY", "UNRESOLVED"),
        ("RESOLUTION_RETRY_SUCCESS", "UNRESOLVED", "READY"),
    ]
    final = await target_of(client, actor, activity["id"])
    assert (final["commerceUserId"], final["lockReason"]) == (person(store, "p0"), "MANUAL_ASSIGNMENT")


async def test_retry_resolution_only_from_unresolved(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    ready = await create_activity(client, actor, store["id"])
    assert_error(await call(client, actor, "PATCH", f"{URL}/{ready['id']}/retry-resolution"), 400)
    unresolved = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert unresolved["status"] == "UNRESOLVED"
    failed = await ok(client, actor, "PATCH", f"{URL}/{unresolved['id']}/retry-resolution")
    assert set(failed) == ACTIVITY_KEYS and failed["status"] == "UNRESOLVED"
    last = (await events(client, actor, unresolved["id"]))[-1]
    assert (last["eventType"], last["fromStatus"], last["toStatus"]) == (
        "RESOLUTION_RETRY_FAILED",
        "UNRESOLVED",
        "UNRESOLVED",
    )
    assert "promotions" in last["errorMessage"]
    await ok(client, actor, "PATCH", f"{URL}/{unresolved['id']}/cancel", 204)
    assert_error(await call(client, actor, "PATCH", f"{URL}/{unresolved['id']}/retry-resolution"), 400)
    assert moves(await events(client, actor, ready["id"])) == [("CREATED", None, "READY")]


# ---------------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------------
async def test_internal_attributes_resolve_at_create(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, metadata={"promotions": [{"sku": "A1", "pct": 10}]})
    activity = await create_activity(
        client, actor, store["id"], attribute_keys=["commerce_info", "promotions"], attributes=[]
    )
    attrs = await attrs_of(client, actor, activity["id"])
    assert attrs["commerce_info"]["value"] == {
        "name": "Store store-001",
        "externalId": "store-001",
        "taxId": "tax-store-001",
        "address": "Main 123",
    }
    assert attrs["promotions"]["value"] == [{"sku": "A1", "pct": 10}]
    for attr in attrs.values():
        assert (attr["resolutionStatus"], attr["resolverType"]) == ("RESOLVED", "INTERNAL_SERVICE")
        assert attr["resolvedAt"] and attr["errorMessage"] is None
    bare = await commerce(client, actor, "s2", tax_id=None, addresses=[])
    activity = await create_activity(client, actor, bare["id"], attribute_keys=["commerce_info"])
    value = (await attrs_of(client, actor, activity["id"]))["commerce_info"]["value"]
    assert value == {"name": "Store s2", "externalId": "s2", "taxId": None, "address": None}
    plain = await create_activity(client, actor, bare["id"])
    assert await ok(client, actor, "GET", f"{URL}/{plain['id']}/attributes") == []


async def test_promotions_without_metadata_fail_unless_a_fallback_is_given(
    client: Client, world: World
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    failed = await create_activity(client, actor, store["id"], attribute_keys=["commerce_info", "promotions"])
    assert failed["status"] == "UNRESOLVED"
    attrs = await attrs_of(client, actor, failed["id"])
    assert attrs["commerce_info"]["resolutionStatus"] == "RESOLVED"
    promo = attrs["promotions"]
    assert (promo["resolutionStatus"], promo["value"]) == ("FAILED", None)
    assert "promotions" in promo["errorMessage"]
    evts = await events(client, actor, failed["id"])
    assert evts[-1]["eventType"] == "RESOLUTION_FAILED" and "promotions" in evts[-1]["errorMessage"]
    # The target resolved: only the attribute failed.
    assert (await target_of(client, actor, failed["id"]))["resolutionStatus"] == "LOCKED"
    fallback = await create_activity(
        client, actor, store["id"], attributes=[{"key": "promotions", "fallback": [1]}]
    )
    assert fallback["status"] == "READY"
    promo = (await attrs_of(client, actor, fallback["id"]))["promotions"]
    assert (promo["resolutionStatus"], promo["value"], promo["errorMessage"]) == ("FALLBACK", [1], None)
    assert promo["resolvedAt"]
    # A fallback is not used when the value resolves.
    stocked = await commerce(client, actor, "s2", metadata={"promotions": ["P"]})
    used = await create_activity(
        client, actor, stocked["id"], attributes=[{"key": "promotions", "fallback": [1]}]
    )
    promo = (await attrs_of(client, actor, used["id"]))["promotions"]
    assert (promo["resolutionStatus"], promo["value"]) == ("RESOLVED", ["P"])


async def test_caller_provided_policy(client: Client, world: World) -> None:
    actor = world.admin_a
    await set_policy(client, actor, "promotions", "CALLER_PROVIDED", "CALLER_PROVIDED")
    store = await commerce(client, actor, metadata={"promotions": ["from-metadata"]})
    given = {"items": [{"sku": "Z9"}], "note": "caller"}
    activity = await create_activity(
        client, actor, store["id"], attributes=[{"key": "promotions", "value": given}]
    )
    assert activity["status"] == "READY"
    promo = (await attrs_of(client, actor, activity["id"]))["promotions"]
    assert (promo["resolutionStatus"], promo["resolverType"], promo["value"]) == (
        "RESOLVED",
        "CALLER_PROVIDED",
        given,
    )
    missing = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert missing["status"] == "UNRESOLVED"
    promo = (await attrs_of(client, actor, missing["id"]))["promotions"]
    assert promo["resolutionStatus"] == "FAILED" and promo["value"] is None and promo["errorMessage"]
    rescued = await create_activity(
        client, actor, store["id"], attributes=[{"key": "promotions", "fallback": "none"}]
    )
    assert rescued["status"] == "READY"
    promo = (await attrs_of(client, actor, rescued["id"]))["promotions"]
    assert (promo["resolutionStatus"], promo["value"]) == ("FALLBACK", "none")


async def test_attribute_input_rules(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor, metadata={"promotions": []})
    for fields in (
        {"attributes": [{"key": "commerce_info", "value": {"name": "forged"}}]},  # not CALLER_PROVIDED
        {"attributes": [{"key": "promotions", "value": []}]},
        {"attribute_keys": ["loyalty_points"]},  # not in the catalogue
        {"attributes": [{"key": "loyalty_points", "fallback": 0}]},
        {"attributes": [{"key": "promotions", "fallback": 1}, {"key": "promotions", "fallback": 2}]},
        {
            "attribute_keys": ["commerce_info"],
            "attributes": [{"key": "commerce_info"}, {"key": "commerce_info"}],
        },
    ):
        response = await call(client, actor, "POST", URL, json=activity_body(store["id"], **fields))
        assert_error(response, 400)
    assert (await listed(client, actor))["meta"]["total"] == 0
    # A key named in both attribute_keys and attributes is one attribute.
    both = await create_activity(
        client,
        actor,
        store["id"],
        attribute_keys=["promotions", "commerce_info", "promotions"],
        attributes=[{"key": "promotions", "fallback": 0}],
    )
    assert sorted(await attrs_of(client, actor, both["id"])) == ["commerce_info", "promotions"]


async def test_on_dispatch_policy_leaves_the_attribute_pending(client: Client, world: World) -> None:
    actor = world.admin_a
    await set_policy(client, actor, "promotions", "ON_DISPATCH", "INTERNAL_SERVICE")
    store = await commerce(client, actor)  # no metadata: resolving now would fail
    activity = await create_activity(
        client, actor, store["id"], attribute_keys=["promotions", "commerce_info"]
    )
    assert activity["status"] == "READY"
    attrs = await attrs_of(client, actor, activity["id"])
    promo = attrs["promotions"]
    assert (promo["resolutionStatus"], promo["resolverType"], promo["value"]) == ("PENDING", None, None)
    assert promo["resolvedAt"] is None and promo["errorMessage"] is None
    assert attrs["commerce_info"]["resolutionStatus"] == "RESOLVED"
    assert moves(await events(client, actor, activity["id"])) == [("CREATED", None, "READY")]


async def test_client_hook_policy_fails_unless_a_fallback_is_given(client: Client, world: World) -> None:
    actor = world.admin_a
    await set_policy(
        client, actor, "promotions", "UPFRONT", "CLIENT_HOOK", hook_url="https://hooks.example.com/p"
    )
    store = await commerce(client, actor, metadata={"promotions": ["internal"]})
    failed = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    assert failed["status"] == "UNRESOLVED"
    promo = (await attrs_of(client, actor, failed["id"]))["promotions"]
    assert promo["resolutionStatus"] == "FAILED" and "CLIENT_HOOK" in promo["errorMessage"]
    assert promo["value"] is None
    rescued = await create_activity(
        client, actor, store["id"], attributes=[{"key": "promotions", "fallback": [1]}]
    )
    assert rescued["status"] == "READY"
    promo = (await attrs_of(client, actor, rescued["id"]))["promotions"]
    assert (promo["resolutionStatus"], promo["value"]) == ("FALLBACK", [1])


# ---------------------------------------------------------------------------------------------------
# Cancel
# ---------------------------------------------------------------------------------------------------
async def test_cancel_with_and_without_a_reason(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    with_reason = await create_activity(client, actor, store["id"])
    response = await call(client, actor, "PATCH", f"{URL}/{with_reason['id']}/cancel", json={"reason": "dup"})
    assert response.status_code == 204 and response.content == b""
    canceled = await ok(client, actor, "GET", f"{URL}/{with_reason['id']}")
    assert (canceled["status"], canceled["cancelReason"]) == ("CANCELED", "dup")
    assert canceled["updatedAt"] >= with_reason["updatedAt"]
    for kwargs in ({}, {"json": {}}, {"json": {"reason": None}}):
        plain = await create_activity(client, actor, store["id"])
        response = await call(client, actor, "PATCH", f"{URL}/{plain['id']}/cancel", **kwargs)
        assert response.status_code == 204, (kwargs, response.text)
        canceled = await ok(client, actor, "GET", f"{URL}/{plain['id']}")
        assert (canceled["status"], canceled["cancelReason"]) == ("CANCELED", None)
        assert moves(await events(client, actor, plain["id"])) == [
            ("CREATED", None, "READY"),
            ("CANCELED", "READY", "CANCELED"),
        ]
    unresolved = await create_activity(client, actor, store["id"], attribute_keys=["promotions"])
    await ok(client, actor, "PATCH", f"{URL}/{unresolved['id']}/cancel", 204)
    assert moves(await events(client, actor, unresolved["id"])) == [
        ("CREATED", None, "READY"),
        ("RESOLUTION_FAILED", "READY", "UNRESOLVED"),
        ("CANCELED", "UNRESOLVED", "CANCELED"),
    ]


async def test_cancel_from_a_final_status_is_400(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"])
    url = f"{URL}/{activity['id']}/cancel"
    for body in ({"reason": "x" * 1001}, {"reason": "ok", "status": "READY"}, {"why": "x"}):
        assert_error(await call(client, actor, "PATCH", url, json=body), 400)
    assert await status_of(client, actor, activity["id"]) == "READY"
    await ok(client, actor, "PATCH", url, 204, json={"reason": "first"})
    assert_error(await call(client, actor, "PATCH", url, json={"reason": "second"}), 400)
    assert_error(await call(client, actor, "PATCH", url), 400)
    evts = await events(client, actor, activity["id"])
    assert [e["eventType"] for e in evts].count("CANCELED") == 1
    assert [e["occurredAt"] for e in evts] == sorted(e["occurredAt"] for e in evts)
    assert (await ok(client, actor, "GET", f"{URL}/{activity['id']}"))["cancelReason"] == "first"
    route_id, operator_id = await route_with_operator(client, actor)
    task = await create_task(client, actor, store["id"], route_id, operator_id)
    await ok(client, actor, "POST", "/api/activity-results/tasks", 201, json=result_body(task))
    assert_error(await call(client, actor, "PATCH", f"{URL}/{task['id']}/cancel"), 400)
    assert await status_of(client, actor, task["id"]) == "COMPLETED"
    assert [e["eventType"] for e in await events(client, actor, task["id"])] == ["CREATED", "RESULT_RECEIVED"]


# ---------------------------------------------------------------------------------------------------
# List
# ---------------------------------------------------------------------------------------------------
async def test_list_filters(client: Client, world: World) -> None:
    actor = world.admin_a
    north = await commerce(client, actor, "store-001", name="Almacen Norte", metadata={"promotions": []})
    south = await commerce(client, actor, "store-002", name="Bodega Sur")
    a1 = await create_activity(
        client, actor, north["id"], idempotency_key="alpha-1", scheduled_at="2031-01-10T00:00:00Z"
    )
    a2 = await create_activity(
        client, actor, north["id"], type="TASK", channel="SALESMAN", reason="Visit", idempotency_key="beta-2"
    )
    a3 = await create_activity(
        client,
        actor,
        south["id"],
        channel="EMAIL",
        reason="Churn risk",
        idempotency_key="gamma-3",
        scheduled_at="2031-01-20T00:00:00.000Z",
    )
    a4 = await create_activity(
        client,
        actor,
        south["id"],
        channel="SMS",
        idempotency_key="delta-4",
        scheduled_at="2031-01-25T00:00:00Z",
        attribute_keys=["promotions"],
    )
    assert a4["status"] == "UNRESOLVED"
    await ok(client, actor, "PATCH", f"{URL}/{a1['id']}/cancel", 204)
    ids = {"a1": a1["id"], "a2": a2["id"], "a3": a3["id"], "a4": a4["id"]}

    async def names(**params: Any) -> list[str]:
        by_id = {v: k for k, v in ids.items()}
        return [by_id[i] for i in await listed_ids(client, actor, **params)]

    assert await names() == ["a1", "a2", "a3", "a4"]
    assert await names(status="UNRESOLVED") == ["a4"]
    assert await names(status="CANCELED") == ["a1"]
    assert await names(status="READY") == ["a2", "a3"]
    assert await names(status="COMPLETED") == []
    assert await names(type="TASK") == ["a2"]
    assert await names(type="MESSAGE") == ["a1", "a3", "a4"]
    assert await names(channel="EMAIL") == ["a3"]
    assert await names(commerce_id=south["id"]) == ["a3", "a4"]
    assert await names(commerce_id=str(uuid.uuid4())) == []
    assert await names(scheduled_from=SCHEDULED) == ["a2", "a3", "a4"]
    assert await names(scheduled_to=SCHEDULED) == ["a1", "a2"]
    assert await names(scheduled_from="2031-01-16T10:00:00+01:00", scheduled_to="2031-01-20T00:00:00Z") == [
        "a2",
        "a3",
    ]
    assert await names(scheduled_from="2031-01-16T09:00:00.001Z") == ["a3", "a4"]
    assert await names(search="CHURN") == ["a3"]  # reason, any case
    assert await names(search="beta-2") == ["a2"]  # idempotency key
    assert await names(search="bodega") == ["a3", "a4"]  # commerce name
    assert await names(search="store-001") == ["a1", "a2"]  # commerce external id
    assert await names(search="%") == []  # wildcards are literal
    assert await names(search="_") == []
    assert await names(type="MESSAGE", commerce_id=south["id"], status="READY") == ["a3"]
    assert await names(channel="WHATSAPP", search="alpha") == ["a1"]
    assert (await listed(client, world.admin_b))["data"] == []
    for params in ({"status": "DONE"}, {"type": "CALL"}, {"channel": "FAX"}, {"commerce_id": "x"}):
        assert_error(await call(client, actor, "GET", URL, params=params), 400)
    assert_error(await call(client, actor, "GET", URL, params={"scheduled_from": "yesterday"}), 400)


async def test_list_rejects_a_time_filter_without_offset(client: Client, world: World) -> None:
    """CONTRACT.md §1: input times carry an offset (the body already refuses naive times)."""
    actor = world.admin_a
    for name in ("scheduled_from", "scheduled_to"):
        response = await call(client, actor, "GET", URL, params={name: "2031-01-16T09:00:00"})
        assert_error(response, 400)


async def test_list_offset_pagination(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    made = [
        await create_activity(client, actor, store["id"], scheduled_at=f"2031-02-0{n}T00:00:00Z")
        for n in (3, 1, 2)
    ]
    ordered = [made[1]["id"], made[2]["id"], made[0]["id"]]
    first = await listed(client, actor, per_page=2)
    assert first["meta"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    assert [a["id"] for a in first["data"]] == ordered[:2]
    assert set(first["data"][0]) == ACTIVITY_KEYS
    second = await listed(client, actor, page=2, limit=2)
    assert second["meta"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2}
    assert [a["id"] for a in second["data"]] == ordered[2:]
    beyond = await listed(client, actor, page=3, per_page=2)
    assert beyond["data"] == [] and beyond["meta"]["total"] == 3
    default = await listed(client, actor)
    assert default["meta"] == {"page": 1, "limit": 25, "total": 3, "totalPages": 1}
    assert (await listed(client, actor, per_page=100))["meta"]["limit"] == 100
    for params in ({"per_page": 101}, {"limit": 101}, {"per_page": 0}, {"page": 0}, {"per_page": "ten"}):
        assert_error(await call(client, actor, "GET", URL, params=params), 400)
    empty = await listed(client, actor, status="FAILED")
    assert empty["meta"] == {"page": 1, "limit": 25, "total": 0, "totalPages": 0}


async def test_cursor_walk_returns_every_activity_once_in_order(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    times = ["2031-03-02", "2031-03-01", "2031-03-02", "2031-03-03", "2031-03-01", "2031-03-02", "2031-03-01"]
    made = [await create_activity(client, actor, store["id"], scheduled_at=f"{t}T08:00:00Z") for t in times]
    expected = [a["id"] for a in sorted(made, key=lambda a: (a["scheduledAt"], a["id"]))]
    seen: list[str] = []
    cursor, pages = "", 0
    while cursor is not None:
        page = await listed(client, actor, per_page=2, cursor=cursor)
        pages += 1
        assert set(page["meta"]) == {"limit", "nextCursor"} and page["meta"]["limit"] == 2
        assert len(page["data"]) == (2 if page["meta"]["nextCursor"] else 1)
        seen += [a["id"] for a in page["data"]]
        cursor = page["meta"]["nextCursor"]
        assert pages <= 4, seen
    assert seen == expected and pages == 4
    # A cursor composes with filters, and a forged cursor is refused.
    filtered = await listed(client, actor, per_page=5, cursor="", scheduled_from="2031-03-02T08:00:00Z")
    assert [a["id"] for a in filtered["data"]] == expected[3:] and filtered["meta"]["nextCursor"] is None
    assert_error(await call(client, actor, "GET", URL, params={"cursor": "not-a-cursor"}), 400)


# ---------------------------------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------------------------------
async def make_key(client: Client, actor: Actor, permissions: list[str]) -> str:
    body = {"name": f"integration-{uuid.uuid4().hex[:6]}", "permissions": permissions}
    return (await ok(client, actor, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]


async def test_api_key_creates_into_its_own_tenant(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    key = await make_key(client, actor, ["CREATE_ACTIVITY", "VIEW_ACTIVITIES"])
    response = await client.post(URL, headers={"x-api-key": key}, json=activity_body(store["id"]))
    assert response.status_code == 201, response.text
    created = response.json()
    assert await ok(client, actor, "GET", f"{URL}/{created['id']}") == created
    assert_error(await call(client, world.admin_b, "GET", f"{URL}/{created['id']}"), 404)
    listed_by_key = await client.get(URL, headers={"x-api-key": key})
    assert [a["id"] for a in listed_by_key.json()["data"]] == [created["id"]]
    other_store = await commerce(client, world.admin_b)
    foreign = await client.post(URL, headers={"x-api-key": key}, json=activity_body(other_store["id"]))
    assert_error(foreign, 404)
    cross = {"x-api-key": key, "x-tenant-id": str(world.tenant_b)}
    assert_error(await client.post(URL, headers=cross, json=activity_body(store["id"])), 403)


async def test_api_key_without_create_activity_is_403(client: Client, world: World) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    key = await make_key(client, actor, ["VIEW_ACTIVITIES"])
    headers = {"x-api-key": key}
    assert_error(await client.post(URL, headers=headers, json=activity_body(store["id"])), 403)
    task = task_body(store["id"], str(uuid.uuid4()), str(uuid.uuid4()))
    assert_error(await client.post(f"{URL}/tasks", headers=headers, json=task), 403)
    assert (await client.get(URL, headers=headers)).status_code == 200
    assert (await listed(client, actor))["meta"]["total"] == 0
