"""``reten bench dispatch`` (part of ``make bench``): push delivery to a loopback receiver standing in for
the provider (YOM protocol, plain http allowed for the bench only).

- Throughput: N READY tasks over 3 tenants written at once, then 1 and then 2 dispatcher processes
  (``reten dispatcher``) until every task is DISPATCHED: activities/s.
- Latency: with one dispatcher idle, tasks become READY one by one at a steady rate; from each commit to
  its arrival at the receiver, p50/p99 (the dispatcher is woken by NOTIFY, not by its 30 s interval).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ("run",)

TENANTS = 3
THROUGHPUT_TASKS = 3000
LATENCY_TASKS = 100
LATENCY_RATE_PER_S = 20


async def _configure(settings: Any, world: dict[str, Any], url: str) -> None:
    """A YOM config for SALESMAN at ``url`` in every seeded tenant, through the service's functions."""
    import asyncpg
    import msgspec

    from app.db import begin_tenant, init_connection
    from app.dispatch import service as dispatch
    from app.dispatch.schemas import DispatchConfigWrite
    from app.state import Services

    services = Services(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await init_connection(conn)
        yom = await conn.fetchval("select id from app.dispatch_providers where code = 'YOM'")
        for t in world["tenants"]:
            tenant_id = uuid.UUID(t["id"])
            tx = await begin_tenant(conn, tenant_id)
            body = {
                "dispatchProviderId": str(yom),
                "channel": "SALESMAN",
                "baseUrl": url,
                "credentials": {"apiKey": "k"},
            }
            await dispatch.create_config(tx, services, msgspec.convert(body, DispatchConfigWrite))
            await conn.execute("commit")
    finally:
        await conn.close()


async def _ready_tasks(settings: Any, tenant: dict[str, Any], count: int) -> list[tuple[uuid.UUID, float]]:
    """``count`` READY tasks of ``tenant`` in one transaction; each id with the time it committed."""
    import asyncpg

    from app.activities.repo import notify_ready
    from app.db import begin_tenant

    conn = await asyncpg.connect(settings.database_url)
    sql = """
      with a as (
        insert into app.activities (type, channel, status, reason, idempotency_key, scheduled_at, commerce_id,
                                    route_id, operator_id)
        select 'TASK', 'SALESMAN', 'READY', 'Visit', 'bench-' || gen_random_uuid(), now(), $1, $2, $3
          from generate_series(1, $4)
        returning id
      ), e as (
        insert into app.activity_status_events (activity_id, event_type, to_status)
        select id, 'CREATED', 'READY' from a
        returning 1
      )
      select id from a
    """
    args = (
        uuid.UUID(tenant["commerce_ids"][0]),
        uuid.UUID(tenant["route_id"]),
        uuid.UUID(tenant["operator_ids"][0]),
    )
    try:
        tx = await begin_tenant(conn, uuid.UUID(tenant["id"]))
        ids = [r["id"] for r in await conn.fetch(sql, *args, count)]
        await notify_ready(tx)
        await conn.execute("commit")
        committed = time.time()
        return [(i, committed) for i in ids]
    finally:
        await conn.close()


def _dispatchers(settings: Any, n: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.jwt_secret,
        "CREDENTIALS_KEYS": settings.credentials_keys,
        "DISPATCH_ALLOW_HTTP": "true",
        "DISPATCH_TEST_ALLOWLIST": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
    }
    return [subprocess.Popen([sys.executable, "-m", "app", "dispatcher"], env=env) for _ in range(n)]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=60)


async def _throughput(settings: Any, world: dict[str, Any], receiver: Any, n: int) -> float:
    receiver.requests.clear()
    per = THROUGHPUT_TASKS // TENANTS
    for t in world["tenants"]:
        await _ready_tasks(settings, t, per)
    started = time.perf_counter()
    procs = _dispatchers(settings, n)
    try:
        while len({r.headers.get("x-reten-delivery-id") for r in receiver.requests}) < per * TENANTS:
            if time.perf_counter() - started > 300:
                raise RuntimeError("dispatch throughput run did not finish in 300 s")
            await asyncio.sleep(0.05)
        return per * TENANTS / (time.perf_counter() - started)
    finally:
        _stop(procs)


async def _latency(settings: Any, world: dict[str, Any], receiver: Any) -> list[float]:
    """Seconds from each task's commit to its arrival at the receiver (matched by delivery id)."""
    from app.dispatch.delivery import delivery_id

    procs = _dispatchers(settings, 1)
    try:
        await asyncio.sleep(3)  # started and listening
        receiver.requests.clear()
        tenant = world["tenants"][0]
        committed: dict[str, float] = {}
        for _ in range(LATENCY_TASKS):
            [(activity_id, at)] = await _ready_tasks(settings, tenant, 1)
            committed[delivery_id(uuid.UUID(tenant["id"]), activity_id)] = at
            await asyncio.sleep(1 / LATENCY_RATE_PER_S)
        for _ in range(1200):  # up to 60 s for the last ones
            if len(receiver.requests) >= LATENCY_TASKS:
                break
            await asyncio.sleep(0.05)
        arrived = {r.headers["x-reten-delivery-id"]: r.at for r in receiver.requests}
        return sorted(arrived[k] - v for k, v in committed.items() if k in arrived)
    finally:
        _stop(procs)


async def measure(settings: Any, owner_dsn: str) -> dict[str, Any]:
    from app.loadtest.receiver import Receiver
    from app.loadtest.seed import seed

    keys = Path(settings.data_dir) / "bench-dispatch-keys.json"
    world = await seed(settings, tenants_count=TENANTS, activities=0, out=keys, owner_dsn=owner_dsn)
    async with Receiver(body=b'{"id": "prov"}') as receiver:
        await _configure(settings, world, receiver.url)
        one = await _throughput(settings, world, receiver, 1)
        two = await _throughput(settings, world, receiver, 2)
        latencies = await _latency(settings, world, receiver)
    return {"one": one, "two": two, "latencies": latencies}


def run(settings: Any, owner_dsn: str) -> int:
    import msgspec

    settings = msgspec.structs.replace(
        settings, dispatch_allow_http=True, dispatch_test_allowlist=["127.0.0.0/8"]
    )
    figures = asyncio.run(measure(settings, owner_dsn))
    lat: list[float] = figures["latencies"]

    def pick(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

    print(
        f"push dispatch to a loopback receiver (YOM protocol), {TENANTS} tenants, dispatcher processes "
        f"with {settings.dispatch_concurrency} calls in flight each"
    )
    print(
        f"  throughput, {THROUGHPUT_TASKS} READY tasks: 1 dispatcher {figures['one']:.0f}/s, "
        f"2 dispatchers {figures['two']:.0f}/s"
    )
    print(
        f"  READY -> delivered, {len(lat)} tasks at {LATENCY_RATE_PER_S}/s: p50 {pick(0.5):.0f} ms, "
        f"p99 {pick(0.99):.0f} ms, max {lat[-1] * 1000 if lat else float('nan'):.0f} ms "
        f"(mean {statistics.mean(lat) * 1000 if lat else float('nan'):.0f} ms)"
    )
    return 0
