"""The dispatcher against a real loopback receiver: every READY activity delivered exactly once across
tenants, retries after an outage with the same delivery id, FAILED after the third failure, two
dispatchers on the same data, and a dispatcher killed mid-batch leaving nothing stuck."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import Counter
from typing import Any

import asyncpg
import msgspec
import pytest
from activities.helpers import ok
from conftest import TEST_KEY_RING, World, login, setup_tenant

from app.config import Settings
from app.db import create_pool
from app.dispatch.delivery import delivery_id
from app.dispatch.dispatcher import Dispatcher
from app.errors import ServiceUnavailable
from app.loadtest.receiver import Receiver
from app.outbound.http import GuardedClient
from dispatch.helpers import running_dispatcher, statuses, tenant_with_tasks


def _settings(settings: Settings, **changes: Any) -> Settings:
    # A lease far longer than any round here: a lease that ran out mid-call would let another
    # dispatcher send the same activity again (the killed dispatcher's subprocess has its own, short one).
    fast = {"dispatch_backoff_s": [0.0, 0.0], "dispatch_interval_s": 0.2, "dispatch_lease_s": 60.0}
    return msgspec.structs.replace(settings, **{**fast, **changes})


async def _events(app_pool: asyncpg.Pool, tenant: uuid.UUID, event: str) -> Counter[uuid.UUID]:
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{tenant}'")
        rows = await conn.fetch(
            "select activity_id from app.activity_status_events where event_type = $1", event
        )
    return Counter(r["activity_id"] for r in rows)


async def _drain(*dispatchers: Dispatcher, settings: Settings, rounds: int = 50) -> None:
    """Rounds (the dispatchers side by side) until none finds work."""
    pools = [await create_pool(settings) for _ in dispatchers]
    try:
        async with GuardedClient(dispatchers[0].services.dispatch_allowlist) as client:
            for _ in range(rounds):
                found = await asyncio.gather(
                    *(d.round(p, client) for d, p in zip(dispatchers, pools, strict=True))
                )
                if not any(found):
                    return
        raise AssertionError("the dispatchers never ran out of work")
    finally:
        for pool in pools:
            await pool.close()


async def test_every_ready_activity_is_delivered_once_across_tenants(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    tenant_c = await setup_tenant(client, world.root, "tenant-c", "admin@c.test")
    admin_c = await login(client, "admin@c.test")
    admin_c.tenant_id = tenant_c
    async with Receiver() as receiver:
        ids = {}
        for actor, count in ((world.admin_a, 334), (world.admin_b, 333), (admin_c, 333)):
            ids[actor.tenant_id] = await tenant_with_tasks(client, actor, app_pool, receiver.url, count)
        fast = _settings(settings)
        await _drain(Dispatcher(fast), settings=fast)
    expected = {delivery_id(t, a) for t, acts in ids.items() for a in acts}
    got = Counter(r.headers["x-reten-delivery-id"] for r in receiver.requests)
    assert len(expected) == 1000 and set(got) == expected and set(got.values()) == {1}
    # fair: the first requests already come from every tenant (their keys differ)
    assert {r.headers["x-api-key"] for r in receiver.requests[:30]} == {str(t) for t in ids}
    for tenant, acts in ids.items():
        assert await statuses(app_pool, tenant) == Counter({"DISPATCHED": len(acts)})
        assert set((await _events(app_pool, tenant, "DISPATCH_SUCCESS")).values()) == {1}


async def test_an_outage_is_retried_with_the_same_delivery_id(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    async with Receiver() as gone:
        port, url = gone.port, gone.url
    acts = await tenant_with_tasks(client, world.admin_a, app_pool, url, 20)
    fast = _settings(settings)
    dispatcher = Dispatcher(fast)
    pool = await create_pool(fast)
    try:
        async with GuardedClient(dispatcher.services.dispatch_allowlist) as http:
            assert await dispatcher.round(pool, http) == 20  # refused: attempt 1 of 3
            async with Receiver(port_wanted=port, status=503) as receiver:
                assert await dispatcher.round(pool, http) == 20  # answered 503: attempt 2
                receiver.status = 200
                assert await dispatcher.round(pool, http) == 20  # delivered on the third
                assert await dispatcher.round(pool, http) == 0
    finally:
        await pool.close()
    per_id = Counter(r.headers["x-reten-delivery-id"] for r in receiver.requests)
    assert set(per_id) == {delivery_id(world.tenant_a, a) for a in acts} and set(per_id.values()) == {2}
    assert await statuses(app_pool, world.tenant_a) == Counter({"DISPATCHED": 20})
    assert set((await _events(app_pool, world.tenant_a, "DISPATCH_FAILED")).values()) == {2}


async def test_a_provider_down_for_good_fails_after_three_attempts(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    async with Receiver() as gone:
        url = gone.url
    acts = await tenant_with_tasks(client, world.admin_a, app_pool, url, 10)
    fast = _settings(settings)
    await _drain(Dispatcher(fast), settings=fast)
    assert await statuses(app_pool, world.tenant_a) == Counter({"FAILED": 10})
    failed = await _events(app_pool, world.tenant_a, "DISPATCH_FAILED")
    assert failed == Counter(dict.fromkeys(acts, 3))
    events = await ok(client, world.admin_a, "GET", f"/api/activities/{acts[0]}/status-events")
    tries = [e for e in events if e["eventType"] == "DISPATCH_FAILED"]
    assert [e["toStatus"] for e in tries] == ["READY", "READY", "FAILED"]
    assert {e["errorCode"] for e in tries} == {"CONNECT_FAILED"}
    assert all(e["errorMessage"].startswith(f"attempt {n} of 3") for n, e in enumerate(tries, 1))


async def test_two_dispatchers_never_deliver_one_activity_twice(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    async with Receiver(delay_s=0.01) as receiver:
        acts = await tenant_with_tasks(client, world.admin_a, app_pool, receiver.url, 300)
        fast = _settings(settings, dispatch_batch_per_tenant=40)
        await _drain(Dispatcher(fast), Dispatcher(fast), settings=fast)
    got = Counter(r.headers["x-reten-delivery-id"] for r in receiver.requests)
    assert set(got) == {delivery_id(world.tenant_a, a) for a in acts} and set(got.values()) == {1}
    assert await statuses(app_pool, world.tenant_a) == Counter({"DISPATCHED": 300})


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL of a real subprocess")
async def test_a_dispatcher_killed_mid_batch_leaves_nothing_stuck(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    async with Receiver(delay_s=1.0) as receiver:
        acts = await tenant_with_tasks(client, world.admin_a, app_pool, receiver.url, 40)
        env = {
            **os.environ,
            "RETEN_ENV": "test",
            "DATABASE_URL": settings.database_url or "",
            "JWT_SECRET": settings.jwt_secret or "",
            "CREDENTIALS_KEYS": TEST_KEY_RING,
            "DISPATCH_ALLOW_HTTP": "true",
            "DISPATCH_TEST_ALLOWLIST": "127.0.0.0/8",
            "DISPATCH_LEASE_S": "2",
            "DISPATCH_CONCURRENCY": "4",
            "LOG_LEVEL": "WARNING",
        }
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "app", "dispatcher", env=env)
        for _ in range(600):  # until its first calls are in flight (a cold start can be slow)
            if receiver.requests:
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert receiver.requests and len(receiver.requests) < 40
        assert (await statuses(app_pool, world.tenant_a))["READY"] > 0  # claimed, then abandoned
        await asyncio.sleep(2.2)  # the leases of the killed dispatcher expire
        receiver.delay_s = 0.0
        fast = _settings(settings)
        await _drain(Dispatcher(fast), settings=fast)
    assert await statuses(app_pool, world.tenant_a) == Counter({"DISPATCHED": 40})
    per_id = Counter(r.headers["x-reten-delivery-id"] for r in receiver.requests)
    assert set(per_id) == {delivery_id(world.tenant_a, a) for a in acts}  # a resend reuses its id


async def test_a_claim_never_outlives_its_lease_waiting_in_the_queue(
    client: Any, world: World, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    """Regression (issue 16, item 4): a round claimed 100 per tenant and sent them 16 at a time, so the
    leases of the last ones ran out while they waited and a second dispatcher sent them too. A round now
    claims what its calls can send within the lease, each claim carries its token, and a call starts
    (renewing the lease) only under its own token. Two dispatchers with a short lease and a slow provider:
    every delivery id arrives once."""

    short = {
        "dispatch_lease_s": 2.5,
        "dispatch_concurrency": 4,
        "dispatch_batch_per_tenant": 100,
        "dispatch_interval_s": 0.2,
        "dispatch_backoff_s": [0.0, 0.0],
    }
    async with Receiver(delay_s=1.0) as receiver:
        acts = await tenant_with_tasks(client, world.admin_a, app_pool, receiver.url, 40)
        async with running_dispatcher(settings, **short), running_dispatcher(settings, **short):
            for _ in range(600):
                if await statuses(app_pool, world.tenant_a) == Counter({"DISPATCHED": 40}):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(3.0)  # a lease and more: a second send of anything would arrive now
    got = Counter(r.headers["x-reten-delivery-id"] for r in receiver.requests)
    assert set(got) == {delivery_id(world.tenant_a, a) for a in acts}
    assert set(got.values()) == {1}, [n for n in got.values() if n > 1]
    assert set((await _events(app_pool, world.tenant_a, "DISPATCH_SUCCESS")).values()) == {1}


async def test_a_round_that_finds_no_connection_does_not_stop_the_dispatcher(settings: Settings) -> None:
    """A claim's transaction that cannot get a connection raises ServiceUnavailable (tenant_transaction),
    as when the database goes away between a round's first read and its claims (R3 caught it on Citus):
    the round is logged as failed and the loop goes on."""
    dispatcher = Dispatcher(_settings(settings, dispatch_interval_s=0.05))
    rounds = 0

    async def round_without_connection(*_: Any, **__: Any) -> int:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            dispatcher.stop.set()
        raise ServiceUnavailable()

    dispatcher.round = round_without_connection  # type: ignore[method-assign]
    await asyncio.wait_for(dispatcher.run(), 10)
    assert rounds == 3
