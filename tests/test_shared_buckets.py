"""The bookkeeping of the shared rate-limit buckets (app/ratelimit.py), against the real borrow
statement: a bucket idle for an interval leaves a process's books (nothing is synced for it any more),
several processes together admit the burst, and a sync that fails changes nothing."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from app.ratelimit import SharedBuckets


async def test_an_idle_bucket_gives_its_stock_back_and_leaves_the_books(app_pool: asyncpg.Pool) -> None:
    bucket, key = SharedBuckets(f"t{uuid.uuid4().hex[:8]}", 10, 20), uuid.uuid4()
    async with app_pool.acquire() as conn:
        assert bucket.take(key) == 0  # on credit: nothing borrowed yet
        await bucket.sync(conn)
        assert bucket.pending() == [key]  # it borrowed for the next interval
        await bucket.sync(conn)  # an interval with no request
        assert bucket.pending() == []


async def test_two_processes_admit_the_burst_between_them(app_pool: asyncpg.Pool) -> None:
    prefix, key = f"t{uuid.uuid4().hex[:8]}", uuid.uuid4()
    one, two = SharedBuckets(prefix, 0.001, 20), SharedBuckets(prefix, 0.001, 20)
    admitted = 0
    async with app_pool.acquire() as conn:
        for _ in range(10):  # ten intervals of demand far above the limit, in both processes
            for process in (one, two):
                admitted += sum(process.take(key) == 0 for _ in range(10))
                await process.sync(conn)
    assert 20 <= admitted <= 20 + 2 * one.credit, admitted


async def test_a_failed_sync_changes_nothing(app_pool: asyncpg.Pool) -> None:
    bucket, key = SharedBuckets(f"t{uuid.uuid4().hex[:8]}", 10, 20), uuid.uuid4()
    for _ in range(int(bucket.credit)):
        assert bucket.take(key) == 0
    assert bucket.take(key) > 0  # credit spent, no stock: refused until a sync

    async with app_pool.acquire() as dead:
        dead.terminate()  # the statement cannot be sent
        with pytest.raises(asyncpg.InterfaceError):
            await bucket.sync(dead)
    assert bucket.take(key) > 0  # still refused: it failed closed
    async with app_pool.acquire() as conn:
        await bucket.sync(conn)
    assert bucket.take(key) == 0
