"""``reten dispatcher``: push dispatch in its own process (CONTRACT.md §8).

It wakes every ``DISPATCH_INTERVAL_S`` and at once when an activity becomes READY (LISTEN
``reten_activity_ready``, sent by the service in the transaction that made it READY). A round asks
which tenants have due work (the one
cross-tenant read, ``app.dispatch_due_tenants``), claims up to ``DISPATCH_BATCH_PER_TENANT`` activities
in each tenant's own context (``FOR UPDATE SKIP LOCKED``, then a lease, so several dispatchers never take
the same activity), interleaves the tenants' claims so one tenant cannot starve the others, and delivers
them with ``DISPATCH_CONCURRENCY`` calls in flight (``app.dispatch.delivery``). A round that found work
is followed by another at once. SIGTERM/SIGINT: calls in flight finish and are recorded; claimed
activities not started yet are released; then it exits. A dispatcher killed outright leaves only leases,
which expire after ``DISPATCH_LEASE_S``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid

import asyncpg

from app.config import Settings
from app.db import create_pool, queries, tenant_transaction
from app.dispatch.delivery import deliver
from app.dispatch.http import TIMEOUT, GuardedClient
from app.state import Services

__all__ = ("CHANNEL", "Dispatcher")

CHANNEL = "reten_activity_ready"
LISTENER_NAME = "reten-dispatcher-listen"
RELISTEN_S = 1.0
log = logging.getLogger("reten.dispatcher")


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = Services(settings)
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.delivered = 0

    async def listen(self) -> asyncpg.Connection | None:
        """A connection that LISTENs for READY activities, or None when the database cannot be reached
        (the caller tries again). Losing it wakes the loop, which opens a new one: after a restart of
        PostgreSQL the old connection hears nothing, ever."""
        try:
            conn = await asyncpg.connect(
                self.settings.database_url,
                timeout=self.settings.db_connect_timeout_s,
                server_settings={"application_name": LISTENER_NAME},
            )
            await conn.add_listener(CHANNEL, lambda *_: self.wake.set())
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("dispatch_listen_failed", extra={"exc_type": type(exc).__name__})
            return None
        conn.add_termination_listener(lambda _: self.wake.set())
        return conn

    async def run(self) -> None:
        """Until ``stop`` is set."""
        pool = await create_pool(self.settings)
        listener = await self.listen()
        try:
            async with self.services.outbound_client() as client:
                while not self.stop.is_set():
                    self.wake.clear()
                    if listener is None or listener.is_closed():
                        # A new LISTEN, then a round: what became READY while nobody listened is found.
                        listener = await self.listen()
                    try:
                        found = await self.round(pool, client)
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                        log.warning("dispatch_round_failed", extra={"exc_type": type(exc).__name__})
                        found = 0
                    if found:
                        continue
                    waits = [asyncio.ensure_future(e.wait()) for e in (self.wake, self.stop)]
                    # Without a listener, try again soon rather than after a whole interval.
                    interval = self.settings.dispatch_interval_s if listener is not None else RELISTEN_S
                    await asyncio.wait(waits, timeout=interval, return_when="FIRST_COMPLETED")
                    for w in waits:
                        w.cancel()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()
            await pool.close()

    def round_budget(self) -> int:
        """How many activities one round may claim: what its calls in flight can send before the lease
        runs out, each call taking the provider timeout at worst."""
        waves = max(1, int(self.settings.dispatch_lease_s // TIMEOUT.total))
        return self.settings.dispatch_concurrency * waves

    async def round(self, pool: asyncpg.Pool, client: GuardedClient) -> int:
        """One round: claim, deliver; how many activities were claimed."""
        async with pool.acquire() as conn:
            tenants = [r["tenant_id"] async for r in queries.dispatch.due_tenants(conn, limit=1000)]
        token = uuid.uuid4()  # this round's hold on what it claims (checked as each call starts and ends)
        lease_s, timeout = self.settings.dispatch_lease_s, self.settings.pool_acquire_timeout_s
        budget = self.round_budget()
        tenants = tenants[:budget]
        # An even share of what can be sent within the lease, so that no claim outlives its lease waiting.
        share = min(self.settings.dispatch_batch_per_tenant, max(1, budget // max(1, len(tenants))))
        claims: list[list[tuple[uuid.UUID, uuid.UUID]]] = []
        for tenant_id in tenants:
            async with tenant_transaction(pool, tenant_id, timeout) as conn:
                rows = queries.dispatch.claim(
                    conn, tenant_id=tenant_id, limit=share, lease_s=lease_s, token=token
                )
                claims.append([(tenant_id, r["id"]) async for r in rows])
        # Round-robin across tenants: the first of each, then the second of each, ...
        order = [c for group in itertools.zip_longest(*claims) for c in group if c is not None]
        slots = asyncio.Semaphore(self.settings.dispatch_concurrency)

        async def one(tenant_id: uuid.UUID, activity_id: uuid.UUID) -> None:
            async with slots:
                if self.stop.is_set():  # stopping: give it back instead of starting a call
                    async with tenant_transaction(pool, tenant_id, timeout) as c:
                        await queries.dispatch.release_lease(
                            c, tenant_id=tenant_id, id=activity_id, token=token
                        )
                    return
                outcome = await deliver(pool, self.services, client, tenant_id, activity_id, claimed=token)
                if outcome.status == "DISPATCHED":
                    self.delivered += 1
                elif outcome.error is not None:
                    log.info(
                        "dispatch_attempt_failed",
                        extra={
                            "tenant_id": str(tenant_id),
                            "activity_id": str(activity_id),
                            "outcome": outcome.status,
                            "error_code": outcome.error.code,
                        },
                    )

        results = await asyncio.gather(*(one(t, a) for t, a in order), return_exceptions=True)
        for failure in (r for r in results if isinstance(r, BaseException)):
            log.warning("dispatch_delivery_failed", extra={"exc_type": type(failure).__name__})
        return len(order)
