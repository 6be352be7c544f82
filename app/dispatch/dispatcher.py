"""``reten dispatcher``: push dispatch in its own process (CONTRACT.md §8).

It wakes every ``DISPATCH_INTERVAL_S``, at once when an activity becomes READY (LISTEN
``reten_activity_ready``, sent by the service in the transaction that made it READY), and when its own
deliveries run low. A round asks which tenants have due work (the one cross-tenant read,
``app.dispatch_due_tenants``), claims in each tenant's own context (``FOR UPDATE SKIP LOCKED``, then a
lease under the round's token, so several dispatchers never take the same activity), interleaves the
tenants' claims, and starts their deliveries (``app.dispatch.delivery``) without waiting for them.

Fairness: at most ``DISPATCH_CONCURRENCY`` calls are in flight, of which at most
``DISPATCH_CONCURRENCY_PER_TENANT`` for one tenant; a tenant holds claims only for what its share can
send within the lease. So a tenant whose provider never answers holds its share and no more, and another
tenant's work that becomes READY meanwhile is claimed by the next round and sent at once (goal W6).

SIGTERM/SIGINT: calls in flight finish and are recorded; claimed activities not started yet are
released; then it exits. A dispatcher killed outright leaves only leases, which expire after
``DISPATCH_LEASE_S``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import uuid

import asyncpg

from app.activities.hooks import HOOK_TIMEOUT
from app.config import Settings
from app.db import create_pool, tenant_transaction
from app.dispatch import repo
from app.dispatch.delivery import deliver
from app.errors import ServiceUnavailable
from app.outbound.http import TIMEOUT, GuardedClient
from app.state import Services

__all__ = ("CHANNEL", "Dispatcher")

CHANNEL = "reten_activity_ready"
LISTENER_NAME = "reten-dispatcher-listen"
RELISTEN_S = 1.0
log = logging.getLogger("reten.dispatcher")


# What a round meets while the database is away; the next round tries again. ServiceUnavailable: a claim's
# transaction found no connection (tenant_transaction), as when the database goes away after the round's
# first read.
ROUND_FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ServiceUnavailable)


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = Services(settings)
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.delivered = 0
        # Calls in flight: all tenants, and each tenant's share (a tenant whose provider hangs holds at
        # most its share; the other slots stay free for the others).
        self.slots = asyncio.Semaphore(settings.dispatch_concurrency)
        self.per_tenant = min(settings.dispatch_concurrency_per_tenant, settings.dispatch_concurrency)
        self.tenant_slots: dict[uuid.UUID, asyncio.Semaphore] = {}
        # Claimed and not yet finished, per tenant; and the deliveries running.
        self.claimed: dict[uuid.UUID, int] = {}
        self.running: set[asyncio.Task[None]] = set()

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
        """Until ``stop`` is set. Rounds do not wait for their deliveries: a round claims what there is
        room for, and the next one starts as soon as there is news (NOTIFY, a tenant's deliveries running
        low, the interval), so a tenant whose provider hangs never holds back another tenant's work."""
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
                        found = await self.round(pool, client, wait=False)
                    except ROUND_FAILURES as exc:
                        log.warning("dispatch_round_failed", extra={"exc_type": type(exc).__name__})
                        found = 0
                    if found and sum(self.claimed.values()) < self.round_budget():
                        continue
                    waits = [asyncio.ensure_future(e.wait()) for e in (self.wake, self.stop)]
                    # Without a listener, try again soon rather than after a whole interval.
                    interval = self.settings.dispatch_interval_s if listener is not None else RELISTEN_S
                    await asyncio.wait(waits, timeout=interval, return_when="FIRST_COMPLETED")
                    for w in waits:
                        w.cancel()
                # Stopping: calls in flight finish and are recorded; claims not started are given back.
                await asyncio.gather(*self.running, return_exceptions=True)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()
            await pool.close()

    def waves(self) -> int:
        """How many calls, one after another, fit in a lease: each may take a hook's and the provider's
        whole timeout."""
        return max(
            1, int(self.settings.dispatch_lease_s // ((TIMEOUT.total or 0.0) + (HOOK_TIMEOUT.total or 0.0)))
        )

    def round_budget(self) -> int:
        """How many activities may be claimed and not yet finished: what the calls in flight can send
        before a lease runs out."""
        return self.settings.dispatch_concurrency * self.waves()

    def tenant_room(self, tenant_id: uuid.UUID) -> int:
        """How many more of this tenant's activities may be claimed now: what its share of the calls can
        send within a lease, less what it holds already (so none of its claims outlives its lease)."""
        limit = min(self.settings.dispatch_batch_per_tenant, self.per_tenant * self.waves())
        return max(0, limit - self.claimed.get(tenant_id, 0))

    async def round(self, pool: asyncpg.Pool, client: GuardedClient, *, wait: bool = True) -> int:
        """One round: claim, start the deliveries (and, with ``wait``, wait for them); how many
        activities were claimed."""
        async with pool.acquire() as conn:
            tenants = await repo.due_tenants(conn, limit=1000)
        tenants = [t for t in tenants if self.tenant_room(t) > 0]
        room = self.round_budget() - sum(self.claimed.values())
        if room <= 0 or not tenants:
            return 0
        tenants = tenants[:room]
        token = uuid.uuid4()  # this round's hold on what it claims (checked as each call starts and ends)
        lease_s, timeout = self.settings.dispatch_lease_s, self.settings.pool_acquire_timeout_s
        # An even share of the room, within each tenant's own room.
        share = max(1, room // len(tenants))
        claims: list[list[tuple[uuid.UUID, uuid.UUID]]] = []
        for tenant_id in tenants:
            limit = min(share, self.tenant_room(tenant_id))
            async with tenant_transaction(pool, tenant_id, timeout) as tx:
                claimed = [
                    (tenant_id, i) for i in await repo.claim(tx, limit=limit, lease_s=lease_s, token=token)
                ]
            self.claimed[tenant_id] = self.claimed.get(tenant_id, 0) + len(claimed)
            claims.append(claimed)
        # Round-robin across tenants: the first of each, then the second of each, ...
        order = [c for group in itertools.zip_longest(*claims) for c in group if c is not None]
        started = []
        for tenant_id, activity_id in order:
            task = asyncio.create_task(self._deliver(pool, client, tenant_id, activity_id, token))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
            started.append(task)
        if wait:
            await asyncio.gather(*started, return_exceptions=True)
        return len(order)

    async def _deliver(
        self,
        pool: asyncpg.Pool,
        client: GuardedClient,
        tenant_id: uuid.UUID,
        activity_id: uuid.UUID,
        token: uuid.UUID,
    ) -> None:
        """One claimed activity: wait for a slot of its tenant, then one of all, then deliver it (or,
        stopping, give it back)."""
        # The tenant's transactions, one at a time: the delivery holds no connection while it calls out.
        transactions = functools.partial(
            tenant_transaction, pool, tenant_id, self.settings.pool_acquire_timeout_s
        )
        tenant_slots = self.tenant_slots.setdefault(tenant_id, asyncio.Semaphore(self.per_tenant))
        try:
            async with tenant_slots, self.slots:
                if self.stop.is_set():  # stopping: give it back instead of starting a call
                    async with transactions() as tx:
                        await repo.release_lease(tx, activity_id, token=token)
                    return
                outcome = await deliver(transactions, self.services, client, activity_id, claimed=token)
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
        except Exception as exc:  # the lease expires and the activity is claimed again
            log.warning("dispatch_delivery_failed", extra={"exc_type": type(exc).__name__})
        finally:
            left = self.claimed[tenant_id] - 1
            if left:
                self.claimed[tenant_id] = left
            else:
                del self.claimed[tenant_id]
                self.tenant_slots.pop(tenant_id, None)
            # Refill early: this tenant can take more, or the whole dispatcher is half empty.
            if left <= self.per_tenant or sum(self.claimed.values()) <= self.round_budget() // 2:
                self.wake.set()
