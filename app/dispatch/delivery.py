"""One delivery attempt of a READY activity to the provider of its channel (CONTRACT.md §8), in three
steps so that the provider is called outside any transaction:

1. ``prepare`` (transaction): lock the activity, find the active config of its channel, resolve its
   ON_DISPATCH targets and attributes, build the payload, decrypt the credentials, take a lease;
2. ``call``: MOCK answers at once with a random id; YOM is ``POST {baseUrl}/activities`` through the
   guarded client, with ``x-api-key`` and an ``x-reten-delivery-id`` that is the same for every attempt
   of an activity (so a provider can drop a duplicate sent after a crash);
3. ``record`` (transaction): success -> DISPATCHED (DISPATCH_SUCCESS, providerActivityId from the
   response's ``id``); failure -> the attempt is counted with a DISPATCH_FAILED event (errorCode and a
   message without the response body), the third -> FAILED; a retry waits with backoff and jitter.

Used by manual dispatch (``POST /api/activities/tasks/:id/dispatch``) and by the dispatcher."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from app.activities import machine
from app.activities import service as activities
from app.activities.hooks import HookCaller
from app.db import Connection, queries, tenant_transaction
from app.dispatch.crypto import CredentialsError, credentials_aad
from app.dispatch.http import DeliveryError, GuardedClient
from app.errors import BadGateway, BadRequest, Conflict, NotFound
from app.state import Services

__all__ = ("MAX_ATTEMPTS", "Job", "Outcome", "deliver", "delivery_id", "dispatch_now")

MAX_ATTEMPTS = 3
_DELIVERY_NS = uuid.UUID("0b4f3c52-5d4e-4a53-9a0e-3f6f6e7d2a11")


def delivery_id(tenant_id: uuid.UUID, activity_id: uuid.UUID) -> str:
    """The same for every attempt to deliver one activity."""
    return str(uuid.uuid5(_DELIVERY_NS, f"{tenant_id}:{activity_id}"))


@dataclass(frozen=True)
class Job:
    tenant_id: uuid.UUID
    activity_id: uuid.UUID
    protocol_type: str
    url: str | None
    api_key: str | None
    body: bytes
    error: DeliveryError | None = None  # found while preparing (unreadable credentials): no call


class Outcome(msgspec.Struct, frozen=True):
    """DISPATCHED, RETRY (a failed attempt, more to come), FAILED (the last failed), UNRESOLVED (the
    ON_DISPATCH resolution failed), or SKIPPED (nothing to do: not READY, no config, in flight)."""

    status: str
    error: DeliveryError | None = None


async def _payload(conn: Connection, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> bytes:
    row = await queries.dispatch.payload(conn, tenant_id=tenant_id, id=activity_id)
    body: dict[str, Any] = msgspec.json.decode(row["item"])
    body["targetUser"] = msgspec.json.decode(row["target_user"]) if row["target_user"] else None
    body["attributes"] = msgspec.json.decode(row["attributes"])
    return msgspec.json.encode(body)


async def prepare(
    conn: Connection,
    services: Services,
    tenant_id: uuid.UUID,
    activity_id: uuid.UUID,
    *,
    manual: bool,
    claimed: bool = False,
) -> Job | Outcome:
    """Step 1, in ``conn``'s transaction. ``manual``: refuse what cannot be dispatched by hand with the
    documented errors, instead of skipping it. ``claimed``: the caller's claim holds the lease."""
    row = await queries.dispatch.dispatch_target(conn, tenant_id=tenant_id, id=activity_id)
    if row is None:
        if manual:
            raise NotFound.of("Activity")
        return Outcome("SKIPPED")
    if manual:
        if row["type"] != "TASK":
            raise BadRequest("Only tasks are dispatched by hand (this activity is a MESSAGE)")
        if row["status"] != machine.READY:
            raise BadRequest(f"Only READY tasks can be dispatched (this one is {row['status']})")
        if row["config_id"] is None:
            raise NotFound(f"No active dispatch config found for the activity's channel ({row['channel']})")
        if row["leased"]:
            raise Conflict("A delivery of this activity is in flight; retry in a minute")
    elif row["status"] != machine.READY or row["config_id"] is None or (row["leased"] and not claimed):
        return Outcome("SKIPPED")
    hooks = HookCaller(services.dispatch_allowlist)
    if not await activities.resolve_for_dispatch(conn, tenant_id, activity_id, hooks):
        return Outcome("UNRESOLVED")
    api_key, error = None, None
    if row["credentials"] is not None:
        if services.key_ring is None:
            error = DeliveryError("CREDENTIALS", "CREDENTIALS_KEYS is not configured")
        else:
            try:
                aad = credentials_aad(tenant_id, row["config_id"])
                api_key = msgspec.json.decode(services.key_ring.decrypt(row["credentials"], aad)).get(
                    "apiKey"
                )
            except CredentialsError:
                error = DeliveryError(
                    "CREDENTIALS", "the config's credentials cannot be read; save them again"
                )
    await queries.dispatch.take_lease(
        conn, tenant_id=tenant_id, id=activity_id, lease_s=services.settings.dispatch_lease_s
    )
    return Job(
        tenant_id=tenant_id,
        activity_id=activity_id,
        protocol_type=row["protocol_type"],
        url=row["base_url"],
        api_key=api_key,
        body=await _payload(conn, tenant_id, activity_id),
        error=error,
    )


async def call(client: GuardedClient, job: Job) -> str | None:
    """Step 2, outside any transaction: the provider's id for the activity, or DeliveryError."""
    if job.error is not None:
        raise job.error
    if job.protocol_type == "MOCK":
        return str(uuid.uuid4())
    headers = {"x-reten-delivery-id": delivery_id(job.tenant_id, job.activity_id)}
    if job.api_key is not None:
        headers["x-api-key"] = job.api_key
    response = await client.post_json(f"{job.url}/activities", job.body, headers)
    found = response.json()
    provider_id = found.get("id") if isinstance(found, dict) else None
    return str(provider_id)[:255] if provider_id not in (None, "") else None


def _retry_at(backoff_s: list[float], attempts: int) -> datetime:
    """When attempt ``attempts + 1`` may go: the configured wait, +-20 % jitter (so a provider that was
    down is not hit by every activity at the same instant when it comes back)."""
    base = backoff_s[min(attempts, len(backoff_s)) - 1] if backoff_s else 0.0
    return datetime.now(UTC) + timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter


async def record(
    conn: Connection,
    services: Services,
    tenant_id: uuid.UUID,
    job: Job,
    provider_id: str | None,
    error: DeliveryError | None,
) -> Outcome:
    """Step 3, in ``conn``'s transaction."""
    row = await queries.dispatch.dispatch_target(conn, tenant_id=tenant_id, id=job.activity_id)
    if row is None or row["status"] != machine.READY:  # canceled (or answered) while the call was out
        if row is not None:
            await queries.dispatch.release_lease(conn, tenant_id=tenant_id, id=job.activity_id)
        return Outcome("SKIPPED", error)
    if error is None:
        attempt = activities.DispatchAttempt(provider_activity_id=provider_id)
        await activities.move(conn, tenant_id, row, machine.DISPATCHED, "DISPATCH_SUCCESS", attempt=attempt)
        return Outcome("DISPATCHED")
    attempts = row["dispatch_attempt_count"] + 1
    last = attempts >= MAX_ATTEMPTS
    await activities.move(
        conn,
        tenant_id,
        row,
        machine.FAILED if last else machine.READY,
        "DISPATCH_FAILED",
        error_code=error.code,
        error_message=f"attempt {attempts} of {MAX_ATTEMPTS}: {error}",
        attempt=activities.DispatchAttempt(
            retry_at=None if last else _retry_at(services.settings.dispatch_backoff_s, attempts)
        ),
    )
    return Outcome("FAILED" if last else "RETRY", error)


async def deliver(
    pool: asyncpg.Pool,
    services: Services,
    client: GuardedClient,
    tenant_id: uuid.UUID,
    activity_id: uuid.UUID,
    *,
    manual: bool = False,
    claimed: bool = False,
) -> Outcome:
    """One attempt, start to end."""
    timeout = services.settings.pool_acquire_timeout_s
    async with tenant_transaction(pool, tenant_id, timeout) as conn:
        job = await prepare(conn, services, tenant_id, activity_id, manual=manual, claimed=claimed)
    if isinstance(job, Outcome):
        return job
    provider_id, error = None, None
    try:
        provider_id = await call(client, job)
    except DeliveryError as exc:
        error = exc
    async with tenant_transaction(pool, tenant_id, timeout) as conn:
        return await record(conn, services, tenant_id, job, provider_id, error)


async def dispatch_now(
    pool: asyncpg.Pool, services: Services, tenant_id: uuid.UUID, activity_id: uuid.UUID
) -> None:
    """Manual dispatch: one attempt now; the outcome as the documented answer (success: nothing)."""
    async with GuardedClient(services.dispatch_allowlist) as client:
        outcome = await deliver(pool, services, client, tenant_id, activity_id, manual=True)
    if outcome.status == "DISPATCHED":
        return
    if outcome.status in ("RETRY", "FAILED"):
        assert outcome.error is not None
        counted = "the task is now FAILED" if outcome.status == "FAILED" else "the attempt was counted"
        raise BadGateway(
            f"The provider failed ({outcome.error}); {counted}", extra={"errorCode": outcome.error.code}
        )
    if outcome.status == "UNRESOLVED":
        raise BadRequest(
            "The task's targets or attributes could not be resolved for dispatch; it is now UNRESOLVED"
        )
    raise Conflict("The task changed while it was being dispatched")
