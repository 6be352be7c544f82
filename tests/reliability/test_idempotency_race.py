"""I1 (research/reliability-security.md §7): 50 concurrent identical creates with one idempotency key,
20 rounds: per round exactly one 201, 49 409s carrying its id, no 5xx, and one row in the database."""

from __future__ import annotations

import time
from collections import Counter

import asyncpg
from activities.helpers import Client, activity_body, burst, commerce
from conftest import World

ROUNDS, CONCURRENT = 20, 50


async def test_fifty_identical_creates_make_one_activity_round_after_round(
    client: Client, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    store = await commerce(client, actor)
    started, peaks = time.monotonic(), []
    for round_ in range(ROUNDS):
        key = f"i1-{round_}"
        body = activity_body(store["id"], idempotency_key=key)
        responses, peak = await burst(client, "/api/activities", actor.headers(), body, CONCURRENT)
        peaks.append(peak)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == Counter({201: 1, 409: CONCURRENT - 1}), (round_, statuses)
        [winner] = [r.json()["id"] for r in responses if r.status_code == 201]
        assert {r.json()["activityId"] for r in responses if r.status_code == 409} == {winner}
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local app.tenant_id = '{actor.tenant_id}'")
        rows = await conn.fetch("select idempotency_key, count(*) from app.activities group by 1")
    assert dict(rows) == {f"i1-{n}": 1 for n in range(ROUNDS)}
    assert min(peaks) > 1, "the requests of a round did not overlap"
    took = time.monotonic() - started
    print(f"I1: {ROUNDS} rounds x {CONCURRENT}: 1 x 201 + {CONCURRENT - 1} x 409 each, in {took:.1f} s")
