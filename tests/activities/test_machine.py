"""The status machine: the table checked pair by pair against an independent statement of the lifecycle,
every API action from every status (allowed, or 400/409 with nothing changed), and a property: whatever
the sequence of creates, cancels, results and retries, an activity's status is its last event's
toStatus."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import asyncpg
import pytest
from conftest import Actor, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.helpers import Client, commerce, create_activity, events, ok, result_body
from app.activities import lifecycle
from app.errors import BadRequest

STATUSES = ("READY", "UNRESOLVED", "DISPATCHED", "COMPLETED", "CANCELED", "FAILED")
FINAL = {"COMPLETED", "CANCELED", "FAILED"}

# The lifecycle as CONTRACT.md §5-§6 and the activities guide state it, written independently of the
# module: (from, to) -> the events that may carry it.
RESULT = "RESULT_RECEIVED"
EXPECTED: dict[tuple[str | None, str], set[str]] = {
    (None, "READY"): {"CREATED"},
    ("READY", "UNRESOLVED"): {"RESOLUTION_FAILED"},
    ("UNRESOLVED", "READY"): {"RESOLUTION_RETRY_SUCCESS"},
    ("UNRESOLVED", "UNRESOLVED"): {"RESOLUTION_RETRY_FAILED", RESULT},
    ("READY", "DISPATCHED"): {"DISPATCH_SUCCESS"},
    ("READY", "READY"): {"DISPATCH_FAILED", RESULT},
    ("READY", "FAILED"): {"DISPATCH_FAILED", RESULT},
    ("DISPATCHED", "DISPATCHED"): {RESULT},
}
for source in ("READY", "UNRESOLVED", "DISPATCHED"):
    EXPECTED.setdefault((source, "CANCELED"), set()).update({"CANCELED", RESULT})
    EXPECTED.setdefault((source, "COMPLETED"), set()).add(RESULT)
    EXPECTED.setdefault((source, "FAILED"), set()).add(RESULT)


@pytest.mark.parametrize(
    ("source", "target"), list(itertools.product((None, *STATUSES), STATUSES)), ids=lambda v: str(v)
)
def test_every_pair_is_allowed_exactly_as_the_lifecycle_says(source: str | None, target: str) -> None:
    for event in lifecycle.EVENTS:
        allowed = event in EXPECTED.get((source, target), set())
        if allowed:
            lifecycle.check(source, target, event)
        else:
            with pytest.raises(BadRequest):
                lifecycle.check(source, target, event)


def test_nothing_leaves_a_final_status() -> None:
    for source, target, event in itertools.product(FINAL, STATUSES, lifecycle.EVENTS):
        with pytest.raises(BadRequest, match="final status"):
            lifecycle.check(source, target, event)


# ---------------------------------------------------------------------------------------------------
# Every API action from every status
# ---------------------------------------------------------------------------------------------------
async def reach(client: Client, actor: Actor, owner_pool: asyncpg.Pool, status: str) -> dict[str, Any]:
    """A TASK in ``status``, reached through the API (DISPATCHED: set as the dispatcher would)."""
    roles = (("FINANCE",),) if status == "UNRESOLVED" else (("COMMERCE_REP",),)
    store = await commerce(client, actor, f"s-{uuid.uuid4().hex[:8]}", roles=roles)
    task = await create_activity(client, actor, store["id"], type="TASK", channel="SALESMAN")
    path = f"/api/activities/{task['id']}"
    if status == "DISPATCHED":
        async with owner_pool.acquire() as conn, conn.transaction():
            await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
            await conn.execute(
                "update app.activities set status = 'DISPATCHED' where id = $1", uuid.UUID(task["id"])
            )
    elif status == "CANCELED":
        await ok(client, actor, "PATCH", f"{path}/cancel", 204)
    elif status in ("COMPLETED", "FAILED"):
        outcome = "COMPLETED" if status == "COMPLETED" else "NOT_EXECUTED"
        await ok(client, actor, "POST", "/api/activity-results/tasks", 201, json=result_body(task, outcome))
    current = await ok(client, actor, "GET", path)
    assert current["status"] == status
    return current


ACTIONS = ("cancel", "result COMPLETED", "result NOT_EXECUTED", "result CANCELED", "retry")
# (status, action) -> the answer; results on an activity that already has a final result are 409.
ANSWERS: dict[tuple[str, str], int] = {}
for status, action in itertools.product(STATUSES, ACTIONS):
    if action == "retry":
        ANSWERS[status, action] = 200 if status == "UNRESOLVED" else 400
    elif status not in FINAL:
        ANSWERS[status, action] = 204 if action == "cancel" else 201
    elif action.startswith("result") and status in ("COMPLETED", "FAILED"):
        ANSWERS[status, action] = 409
    else:
        ANSWERS[status, action] = 400


@pytest.mark.parametrize(("status", "action"), list(ANSWERS), ids=lambda v: str(v))
async def test_every_action_from_every_status(
    client: Client, world: World, owner_pool: asyncpg.Pool, status: str, action: str
) -> None:
    actor = world.admin_a
    task = await reach(client, actor, owner_pool, status)
    path = f"/api/activities/{task['id']}"
    before = await events(client, actor, task["id"])
    if action == "cancel":
        response = await client.patch(f"{path}/cancel", headers=actor.headers())
    elif action == "retry":
        response = await client.patch(f"{path}/retry-resolution", headers=actor.headers())
    else:
        body = result_body(task, action.split()[1])
        response = await client.post("/api/activity-results/tasks", headers=actor.headers(), json=body)
    assert response.status_code == ANSWERS[status, action], response.text
    after = await ok(client, actor, "GET", path)
    if response.status_code >= 400:
        assert after["status"] == status
        assert await events(client, actor, task["id"]) == before
    else:
        last = (await events(client, actor, task["id"]))[-1]
        assert (last["fromStatus"], last["toStatus"]) == (status, after["status"])


# ---------------------------------------------------------------------------------------------------
# Property
# ---------------------------------------------------------------------------------------------------
operation = st.one_of(
    st.tuples(st.just("create"), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(
        st.just("result"),
        st.integers(0, 3),
        st.sampled_from(sorted(lifecycle.RESULT_STATUS)),
        st.booleans(),
    ),
    st.tuples(st.just("retry"), st.integers(0, 3)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=12))
async def test_status_is_always_the_last_events_to_status(
    client: Client, world: World, operations: list[tuple[Any, ...]]
) -> None:
    actor = world.admin_a
    prefix = uuid.uuid4().hex[:8]
    resolvable = await commerce(client, actor, f"{prefix}-ok", roles=(("COMMERCE_REP",),))
    unresolvable = await commerce(client, actor, f"{prefix}-no", roles=(("FINANCE",),))
    tasks: list[dict[str, Any]] = []
    for op in operations:
        if op[0] == "create":
            store = resolvable if op[1] else unresolvable
            tasks.append(await create_activity(client, actor, store["id"], type="TASK", channel="SALESMAN"))
            continue
        if not tasks:
            continue
        task = tasks[op[1] % len(tasks)]
        path = f"/api/activities/{task['id']}"
        if op[0] == "cancel":
            response = await client.patch(f"{path}/cancel", headers=actor.headers())
        elif op[0] == "retry":
            response = await client.patch(f"{path}/retry-resolution", headers=actor.headers())
        else:
            body = result_body(task, op[2], hard_override=op[3])
            response = await client.post("/api/activity-results/tasks", headers=actor.headers(), json=body)
        assert response.status_code in (200, 201, 204, 400, 409), response.text
    for task in tasks:
        current = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
        history = await events(client, actor, task["id"])
        assert history[0]["eventType"] == "CREATED"
        assert current["status"] == history[-1]["toStatus"]
        for earlier, later in itertools.pairwise(history):
            assert later["fromStatus"] == earlier["toStatus"]
