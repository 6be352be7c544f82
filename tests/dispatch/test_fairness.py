"""A noisy neighbour (issue 16, item 8; goal W6 of research/reliability-security.md §7): tenant A has
10,000 READY activities and a provider that never answers; tenant B's 10 activities, made READY while
A's calls hang, are delivered at once, not after A's calls time out or the interval passes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg
from conftest import World

from app.config import Settings
from app.dispatch.dispatcher import CHANNEL
from app.loadtest.receiver import Receiver
from dispatch.helpers import running_dispatcher, statuses, tenant_with_tasks


async def _until(condition: Any, timeout_s: float) -> float:
    """Seconds until ``await condition()`` holds (AssertionError after ``timeout_s``)."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_tenant_whose_provider_hangs_does_not_delay_another_tenants_deliveries(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    defaults = {"dispatch_concurrency": 16, "dispatch_concurrency_per_tenant": 8, "dispatch_lease_s": 60.0}
    async with Receiver() as fast, Receiver(delay_s=3600) as dead:
        await tenant_with_tasks(client, world.admin_a, app_pool, dead.url, 10_000)
        # One cycle is the wake interval plus a call's timeout; B is woken by NOTIFY and waits for neither.
        async with running_dispatcher(settings, dispatch_interval_s=30.0, **defaults):
            await _until(lambda: _true(len(dead.requests) >= 8), 10)
            await tenant_with_tasks(client, world.admin_b, app_pool, fast.url, 10)
            async with app_pool.acquire() as conn:
                await conn.execute("select pg_notify($1, $2)", CHANNEL, str(world.tenant_b))
            took = await _until(
                lambda: _equal(statuses(app_pool, world.tenant_b), Counter({"DISPATCHED": 10})), 5
            )
            a_calls = len(dead.requests)
            # A's provider now fails at once and drops what hangs: the dispatcher stops without waiting
            # for A's calls to time out.
            dead.status, dead.delay_s = 503, 0.0
            await dead.hang_up()
    print(f"tenant B's 10 deliveries took {took:.2f} s beside A's {a_calls} hanging calls")
    assert a_calls == 8, "tenant A held more than its share of the calls in flight"
    assert len(fast.requests) == 10


async def _true(value: bool) -> bool:
    return value


async def _equal(value: Any, expected: Any) -> bool:
    return await value == expected
