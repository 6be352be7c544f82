"""A tenant's CLIENT_HOOK cannot take the service from other tenants (issue 16, item 2): hooks are called
with no database connection or transaction held (at creation, on retry, at dispatch), at most
HOOK_MAX_IN_FLIGHT_PER_TENANT of one tenant's calls are in flight in a process, and a repeated
idempotency key is refused before any hook is asked."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx
from conftest import World

from activities.helpers import (
    Client,
    activity_body,
    commerce,
    create_task,
    hook_policy,
    ok,
    on_app_loop,
    route_with_operator,
)
from app.activities.hooks import HookCaller, HookSlots
from app.activities.resolution import Policy
from app.embedded import ClusterDsns
from app.loadtest.receiver import Receiver

IDLE_IN_TRANSACTION = """
select count(*) from pg_stat_activity
where datname = current_database() and state like 'idle in transaction%'
"""


async def _until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def _timed_creates(http: httpx.AsyncClient, actor: Any, store_id: str, n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        response = await http.post("/api/activities", headers=actor.headers(), json=activity_body(store_id))
        took.append(time.perf_counter() - started)
        assert response.status_code == 201, response.text
    return took


async def _idle_in_transaction(dsn: str) -> int:
    """Backends of the test database idle inside a transaction (a superuser sees every role's state)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(IDLE_IN_TRANSACTION))
    finally:
        await conn.close()


async def test_a_hanging_hook_of_tenant_a_holds_no_connection_and_leaves_b_unchanged(
    client: Client, world: World, cluster: ClusterDsns
) -> None:
    """Tenant A's hook hangs 3 s under 8 concurrent creates (twice the pool of 4); tenant B's creates
    meanwhile: none fails, and their p95 stays within 10 % of B's own baseline (or 20 ms on a busy
    machine). Before the fix, A's creates held every connection, idle in their transactions, and B got
    503s."""
    a, b = world.admin_a, world.admin_b
    store_b = await commerce(client, b)
    async with Receiver(body=b'{"value": "late"}', delay_s=3.0) as hook:
        await hook_policy(client, a, "UPFRONT", hook.url)
        store_a = await commerce(client, a)

        async def scenario(http: httpx.AsyncClient) -> tuple[list[float], list[float], list[Any], int]:
            await _timed_creates(http, b, store_b["id"], 5)  # warm-up
            base = await _timed_creates(http, b, store_b["id"], 40)
            creates = [
                asyncio.create_task(
                    http.post("/api/activities", headers=a.headers(), json=activity_body(
                        store_a["id"], attribute_keys=["promotions"]))
                )
                for _ in range(8)
            ]  # fmt: skip
            await _until(lambda: len(hook.requests) >= 4)
            idle = await _idle_in_transaction(cluster.admin)
            await _until(lambda: len(hook.requests) == 8)
            loaded = await _timed_creates(http, b, store_b["id"], 40)
            assert not any(c.done() for c in creates), "B's load must run while A's hooks hang"
            return base, loaded, list(await asyncio.gather(*creates)), idle

        base, loaded, answers, idle = await on_app_loop(client, scenario)
    assert idle == 0, "a connection sat idle in its transaction while a hook was asked"
    assert [r.status_code for r in answers] == [201] * 8
    assert {r.json()["status"] for r in answers} == {"READY"}
    base_p95, loaded_p95 = _p95(base), _p95(loaded)
    print(f"tenant B create p95: {base_p95 * 1000:.1f} ms alone, {loaded_p95 * 1000:.1f} ms beside A's hooks")
    assert loaded_p95 <= max(1.10 * base_p95, base_p95 + 0.020)


async def test_an_on_dispatch_hook_is_asked_with_no_transaction_open(
    client: Client, world: World, cluster: ClusterDsns
) -> None:
    a = world.admin_a
    providers = await ok(client, a, "GET", "/api/dispatch-providers")
    mock = next(p["id"] for p in providers if p["code"] == "MOCK")
    body = {"dispatch_provider_id": mock, "channel": "SALESMAN"}
    await ok(client, a, "POST", "/api/dispatch-configs", 201, json=body)
    async with Receiver(body=b'{"value": "fresh"}', delay_s=1.5) as hook:
        await hook_policy(client, a, "ON_DISPATCH", hook.url)
        store = await commerce(client, a)
        route, operator = await route_with_operator(client, a)
        task = await create_task(client, a, store["id"], route, operator, attribute_keys=["promotions"])
        assert hook.requests == []

        async def scenario(http: httpx.AsyncClient) -> tuple[httpx.Response, int]:
            url = f"/api/activities/tasks/{task['id']}/dispatch"
            dispatch = asyncio.create_task(http.post(url, headers=a.headers()))
            await _until(lambda: len(hook.requests) == 1)
            idle = await _idle_in_transaction(cluster.admin)
            return await dispatch, idle

        response, idle = await on_app_loop(client, scenario)
    assert idle == 0, "the activity's transaction stayed open while its hook was asked"
    assert response.status_code == 204, response.text
    got = await ok(client, a, "GET", f"/api/activities/{task['id']}")
    assert got["status"] == "DISPATCHED"
    attrs = await ok(client, a, "GET", f"/api/activities/{task['id']}/attributes")
    assert next(r for r in attrs if r["key"] == "promotions")["value"] == "fresh"


async def test_a_repeated_idempotency_key_is_refused_before_the_hook_is_asked(
    client: Client, world: World
) -> None:
    a = world.admin_a
    async with Receiver(body=b'{"value": 1}') as hook:
        await hook_policy(client, a, "UPFRONT", hook.url)
        store = await commerce(client, a)
        body = activity_body(store["id"], attribute_keys=["promotions"], idempotency_key="once")
        first = await ok(client, a, "POST", "/api/activities", 201, json=body)
        again = await client.post("/api/activities", headers=a.headers(), json=body)
    assert again.status_code == 409 and again.json()["activityId"] == first["id"]
    assert len(hook.requests) == 1


async def test_hook_calls_in_flight_are_capped_per_tenant() -> None:
    """Limit 2: of tenant A's 4 simultaneous calls, 2 reach the hook and 2 fail at once (HOOK_BUSY),
    while tenant B's call goes through; the slots come back when the calls end."""
    slots = HookSlots(limit=2)
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    async with Receiver(body=b'{"value": "v"}', delay_s=0.5) as hook:
        caller = HookCaller(_loopback(), ports=frozenset({hook.port}), slots=slots)
        policy = [
            Policy(key="promotions", key_id=uuid.uuid4(), resolver_type="CLIENT_HOOK", hook_url=hook.url)
        ]
        activity = {"id": str(uuid.uuid4())}
        started = time.monotonic()
        answers = await asyncio.gather(
            *(caller.answers(tenant_a, policy, activity) for _ in range(4)),
            caller.answers(tenant_b, policy, activity),
        )
        took = time.monotonic() - started
    a_answers = [r["promotions"] for r in answers[:4]]
    assert sorted(ok for ok, _ in a_answers) == [False, False, True, True]
    assert all("HOOK_BUSY" in why for ok, why in a_answers if not ok)
    assert answers[4]["promotions"] == (True, "v")
    assert len(hook.requests) == 3 and took < 2.0
    assert slots.in_flight == {}


def _loopback() -> tuple[Any, ...]:
    from app.outbound.addresses import parse_networks

    return parse_networks(["127.0.0.0/8"])
