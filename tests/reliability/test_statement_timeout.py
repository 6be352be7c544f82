"""R5 (research/reliability-security.md §7; issue 17, item 5): a request whose statement outlives
DB_STATEMENT_TIMEOUT_S answers 503 with Retry-After within the timeout + 1 s, and its connection goes
back to the pool."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import msgspec
from activities.helpers import Client, commerce, create_activity
from conftest import World
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.config import Settings


async def test_a_statement_past_the_timeout_is_a_503_and_its_connection_comes_back(
    client: Client, world: World, settings: Settings, owner_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    activity = await create_activity(client, actor, store["id"])
    # 1 s, below the role's lock_timeout (3 s): the statement that waits for the row is cancelled by the
    # statement timeout, as a slow query would be.
    quick = msgspec.structs.replace(settings, db_statement_timeout_s=1.0, db_command_timeout_s=3.0)
    app = create_app(quick)
    async with AsyncTestClient(app=app) as other, owner_pool.acquire() as holder:
        url = f"/api/activities/{activity['id']}/cancel"
        pool: Any = app.state.pool
        async with holder.transaction():
            await holder.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
            await holder.execute(
                "select 1 from app.activities where tenant_id = $1 and id = $2 for update",  # one shard
                actor.tenant_id,
                uuid.UUID(activity["id"]),
            )
            started = time.monotonic()
            response = await other.patch(url, headers=actor.headers())
            took = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        body = response.json()
        assert body["statusCode"] == 503 and "statement" not in body["message"].lower()
        assert took < 1.0 + 1.0, took
        assert pool.get_idle_size() == pool.get_size(), "the connection did not come back"
        again = await other.patch(url, headers=actor.headers())
    assert again.status_code == 204, again.text
    print(f"statement timeout 1 s: 503 after {took:.2f} s")
