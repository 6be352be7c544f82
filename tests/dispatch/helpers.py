"""Builders shared by the dispatch tests: a dispatcher running beside the test client, a YOM config at a
receiver, and tasks made READY through the API or in bulk."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
from activities.helpers import commerce, create_task, ok, route_with_operator
from conftest import Actor

from app.config import Settings
from app.dispatch.dispatcher import Dispatcher


@contextlib.asynccontextmanager
async def running_dispatcher(settings: Settings, **overrides: Any) -> AsyncIterator[Dispatcher]:
    """A dispatcher on its own thread and event loop, as it runs beside the API in production (a separate
    process): the test client blocks the test's loop while a request is served."""
    fast = msgspec.structs.replace(
        settings,
        **{"dispatch_backoff_s": [60.0, 60.0], "dispatch_interval_s": 0.5, "dispatch_lease_s": 60.0}
        | overrides,
    )
    dispatcher = Dispatcher(fast)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(dispatcher.run(),), daemon=True)
    thread.start()
    try:
        await asyncio.sleep(0.5)  # listening
        yield dispatcher
    finally:
        loop.call_soon_threadsafe(dispatcher.stop.set)
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive()
        loop.close()


async def yom_config(client: Any, actor: Actor, url: str) -> None:
    providers = await ok(client, actor, "GET", "/api/dispatch-providers")
    body = {
        "dispatchProviderId": next(p["id"] for p in providers if p["code"] == "YOM"),
        "channel": "SALESMAN",
        "baseUrl": url,
        "credentials": {"apiKey": "race-key"},
    }
    await ok(client, actor, "POST", "/api/dispatch-configs", 201, json=body)


async def new_tasks(client: Any, actor: Actor) -> Any:
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor)

    async def one() -> dict[str, Any]:
        return await create_task(client, actor, store["id"], route_id, operator_id)

    return one


async def tenant_with_tasks(
    client: Any, actor: Actor, app_pool: asyncpg.Pool, url: str, count: int
) -> list[uuid.UUID]:
    """A YOM config for SALESMAN at ``url`` (api key = the tenant id) and ``count`` READY tasks."""
    providers = await ok(client, actor, "GET", "/api/dispatch-providers")
    yom = next(p["id"] for p in providers if p["code"] == "YOM")
    body = {
        "dispatchProviderId": yom,
        "channel": "SALESMAN",
        "baseUrl": url,
        "credentials": {"apiKey": str(actor.tenant_id)},
    }
    await ok(client, actor, "POST", "/api/dispatch-configs", 201, json=body)
    store = await commerce(client, actor)
    route_id, operator_id = await route_with_operator(client, actor)
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
        rows = await conn.fetch(
            """
            with a as (
              insert into app.activities (type, channel, status, reason, idempotency_key, scheduled_at,
                                          commerce_id, route_id, operator_id)
              select 'TASK', 'SALESMAN', 'READY', 'Visit', 'bulk-' || n, now(), $1, $2, $3
                from generate_series(1, $4) n
              returning id
            ), e as (
              insert into app.activity_status_events (activity_id, event_type, to_status)
              select id, 'CREATED', 'READY' from a
              returning 1
            )
            select id from a
            """,
            uuid.UUID(store["id"]),
            uuid.UUID(route_id),
            uuid.UUID(operator_id),
            count,
        )
    return [r["id"] for r in rows]


async def statuses(app_pool: asyncpg.Pool, tenant: uuid.UUID) -> Counter[str]:
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        return Counter(dict(await conn.fetch("select status, count(*) from app.activities group by status")))
