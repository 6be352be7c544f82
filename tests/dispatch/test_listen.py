"""The dispatcher hears READY activities (LISTEN/NOTIFY) and keeps hearing them when its listening
connection dies, as it does when PostgreSQL restarts (issue 16, item 5: READY -> delivered went from
0.06 s to 29 s until the service was restarted). The wake-up interval is set to a minute here, so only
a notification can explain a delivery within seconds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from conftest import World

from app.config import Settings
from app.dispatch.dispatcher import LISTENER_NAME
from app.embedded import ClusterDsns
from app.loadtest.receiver import Receiver
from dispatch.helpers import new_tasks, running_dispatcher, yom_config

HEARD_WITHIN_S = 5.0


async def delivered_within(receiver: Receiver, count: int, seconds: float) -> float:
    started = time.perf_counter()
    while len(receiver.requests) < count:
        if time.perf_counter() - started > seconds:
            missing = count - len(receiver.requests)
            raise AssertionError(f"{missing} READY activity not delivered within {seconds} s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def kill_listener(admin_dsn: str) -> int:
    """End the dispatcher's listening connection from the server side, as a restart does."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        # The sessions first (offset 0 keeps the filter from being reordered after the call).
        return await admin.fetchval(
            "select count(*) filter (where pg_terminate_backend(pid))"
            " from (select pid from pg_stat_activity where application_name = $1 offset 0) s",
            LISTENER_NAME,
        )
    finally:
        await admin.close()


async def test_a_lost_listening_connection_is_replaced(
    client: Any, world: World, settings: Settings, cluster: ClusterDsns
) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"id": "p-1"}') as receiver:
        await yom_config(client, actor, receiver.url)
        create = await new_tasks(client, actor)
        async with running_dispatcher(settings, dispatch_interval_s=60.0):
            await create()
            await delivered_within(receiver, 1, HEARD_WITHIN_S)
            for round_ in range(2):  # twice: the replacement is replaced in turn
                assert await kill_listener(cluster.admin) == 1
                await create()
                await delivered_within(receiver, 2 + round_, HEARD_WITHIN_S)
